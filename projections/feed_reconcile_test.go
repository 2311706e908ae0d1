package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestFeedBucketBroughtUpAfterRestart: a crash between a commit and its change feed leaves
// the bucket behind the view (here: the review's entry gone, the counters' an older state).
// The next start sends what the bucket misses, and leaves alone an entry another replica put
// further on.
func TestFeedBucketBroughtUpAfterRestart(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	v := h.open(h.config(dir))
	g := newHistGen(5)
	last := h.publish(g.take(150)...)
	last = max(last, h.publish(act("UNODC", "reconcile-item", "compact.training.delivered", "2025-05-10", nil)))
	h.wait(v, last)
	kv, get := feedBucket(t, h)
	deadline := time.Now().Add(10 * time.Second)
	// Until the bucket has the last commit's entries: the first 150 events and the last one
	// are two commits, and an entry of the first, taken for the last, is not what a restart
	// brings the bucket up to (it failed so under load).
	atLast := func(key string) bool {
		var e struct{ Seq uint64 }
		return json.Unmarshal(get(key), &e) == nil && e.Seq == last
	}
	for !atLast("review.2025-05") || !atLast(KVKeyCounters) {
		if time.Now().After(deadline) {
			t.Fatal("the feed never filled the bucket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantCounters, wantReview := get(KVKeyCounters), get("review.2025-05")
	if err := v.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// What the bucket holds when the feed of the last commits was lost.
	var stale Counters
	json.Unmarshal(wantCounters, &stale)
	stale.Seq, stale.DocumentsShared = 1, stale.DocumentsShared+1000
	staleBody, _ := json.Marshal(stale)
	if _, err := kv.Put(h.ctx, KVKeyCounters, staleBody); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(h.ctx, "review.2025-05"); err != nil {
		t.Fatal(err)
	}
	v = h.open(h.config(dir))
	for !bytes.Equal(get(KVKeyCounters), wantCounters) || !bytes.Equal(get("review.2025-05"), wantReview) {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("after the restart the bucket holds counters %s, review %s; want %s, %s",
				get(KVKeyCounters), get("review.2025-05"), wantCounters, wantReview)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// An entry put by a replica further on is newer than this view's: left as it is.
	ahead := stale
	ahead.Seq = last + 100
	aheadBody, _ := json.Marshal(ahead)
	if _, err := kv.Put(h.ctx, KVKeyCounters, aheadBody); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	v = h.open(h.config(dir))
	h.wait(v, last)
	time.Sleep(300 * time.Millisecond) // the restart's reconcile runs before the first batch
	if got := get(KVKeyCounters); !bytes.Equal(got, aheadBody) {
		t.Fatalf("a restart replaced a newer replica's counters %s with %s", aheadBody, got)
	}
}

// After an upgrade whose rebuild counts a period's changes otherwise — fewer even — no
// subscriber keeps a version the view no longer has: the swap of a rebuild for new code
// announces every period, and a start brings a bucket entry whose version is not the view's
// (here, higher) to the view's, unless a replica further on put it. Both compared versions for
// order: a lower version was never sent.
func TestFeedAfterARebuildForNewCode(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	v := h.open(h.config(dir))
	last := h.publish(act("UNODC", "up-1", "compact.training.delivered", "2025-05-10", nil),
		act("UNODC", "up-2", "compact.meeting.held", "2025-07-10", nil))
	h.wait(v, last)
	kv, get := feedBucket(t, h)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	waitFor("the feed never filled the bucket", func() bool { return get("review.2025-05") != nil && get("review.2025-07") != nil })
	want := get("review.2025-05")
	if err := v.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// the bucket kept a higher version from the code before, sent at an earlier checkpoint
	higher, _ := json.Marshal(ReviewChange{Period: "2025-05", Version: 99, Seq: 1})
	if _, err := kv.Put(h.ctx, "review.2025-05", higher); err != nil {
		t.Fatal(err)
	}
	v = h.open(h.config(dir))
	waitFor("a start left a version the view does not have in the bucket", func() bool { return bytes.Equal(get("review.2025-05"), want) })
	// ... but not one a replica further on put
	ahead, _ := json.Marshal(ReviewChange{Period: "2025-05", Version: 99, Seq: last + 100})
	if _, err := kv.Put(h.ctx, "review.2025-05", ahead); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	v = h.open(h.config(dir))
	h.wait(v, last)
	time.Sleep(300 * time.Millisecond) // the restart's reconcile runs before the first batch
	if got := get("review.2025-05"); !bytes.Equal(got, ahead) {
		t.Fatalf("a restart replaced a newer replica's entry %s with %s", ahead, got)
	}
	if err := v.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// new code: the start-up rebuild's swap announces every period, changed or not
	sub, err := h.nc.SubscribeSync(SubjectReviewPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	h.nc.Flush()
	cfg := h.config(dir)
	cfg.testVersions = map[string]int{ViewReview: reviewVersion + 1}
	h.open(cfg)
	announced := map[string]bool{}
	for deadline := time.Now().Add(30 * time.Second); !announced["2025-05"] || !announced["2025-07"]; {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("after the rebuild for new code, announced only %v: %v", announced, err)
		}
		var rc ReviewChange
		json.Unmarshal(m.Data, &rc)
		announced[rc.Period] = true
	}
}

// feedBucket opens the change feed's KV bucket, and a getter of a key's value (nil when the
// key is missing or cannot be read).
func feedBucket(t *testing.T, h *harness) (jetstream.KeyValue, func(key string) []byte) {
	t.Helper()
	kv, err := h.js.KeyValue(h.ctx, DefaultFeedBucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv, func(key string) []byte {
		e, err := kv.Get(h.ctx, key)
		if err != nil {
			return nil
		}
		return e.Value()
	}
}
