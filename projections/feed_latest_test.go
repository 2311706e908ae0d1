package projections

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// kvLatest waits until the feed's KV bucket holds the view's latest counters and the latest
// version of period, as README ("The change feed") promises: "The KV bucket always ends at the
// latest value."
func kvLatest(t *testing.T, h *harness, v *Views, period string) {
	t.Helper()
	kv, err := h.js.KeyValue(h.ctx, DefaultFeedBucket)
	if err != nil {
		t.Fatal(err)
	}
	want, err := v.Counters(h.ctx, "9999-12-31")
	if err != nil {
		t.Fatal(err)
	}
	wantVersion := review(t, v, period).Version
	var got Counters
	var gotVersion uint64
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, gotVersion = Counters{}, 0
		e, err := kv.Get(h.ctx, KVKeyCounters)
		if err == nil {
			_ = json.Unmarshal(e.Value(), &got)
		} else {
			t.Log(err)
		}
		if e, err := kv.Get(h.ctx, KVKeyReviewPrefix+period); err == nil {
			var rc ReviewChange
			_ = json.Unmarshal(e.Value(), &rc)
			gotVersion = rc.Version
		}
		got.Seq, got.AsOf = 0, want.AsOf
		w := *want
		w.Seq = 0
		if got == w && gotVersion == wantVersion {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("KV bucket is not at the latest values: counters %+v, want %+v; review.%s version %d, want %d",
				got, w, period, gotVersion, wantVersion)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A projector that stops between a commit and its change message (a crash, a kill) leaves the
// KV bucket behind the view; the README promises the bucket ends at the latest value, so the
// next start must bring it there even if no event ever comes again.
func TestChangeFeedKVCatchesUpAfterACrashBeforeTheMessage(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	var crashAfter atomic.Uint64
	cfg := h.config(dir)
	cfg.testHook = func(view, point string, seq uint64) error {
		if after := crashAfter.Load(); point == "committed" && after > 0 && seq > after {
			return errors.New("killed after the commit, before the change message")
		}
		return nil
	}
	v, err := Open(h.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	first := h.publish(newHistGen(5).take(60)...)
	h.wait(v, first)
	crashAfter.Store(first)
	last := h.publish(act("CTED", "late-visit", "compact.visit.conducted", "2030-07-02",
		obj{"purpose": "assessment", "countries": []string{"KEN"}}))
	h.wait(v, last)
	if err := v.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	again := h.open(h.config(dir)) // restarted; nothing new is published
	h.wait(again, last)
	kvLatest(t, h, again, "2030-07")
}

// A KV update that fails (JetStream briefly unable to store it) is sent again once it can be:
// with no further event, the bucket would otherwise stay behind for good.
func TestChangeFeedKVRetriesAFailedUpdate(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	first := h.publish(newHistGen(6).take(60)...)
	h.wait(v, first)

	st, err := h.js.Stream(h.ctx, "KV_"+DefaultFeedBucket)
	if err != nil {
		t.Fatal(err)
	}
	sc := st.CachedInfo().Config
	refusing := sc
	refusing.MaxMsgSize = 8 // every update is refused as too large
	if _, err := h.js.UpdateStream(h.ctx, refusing); err != nil {
		t.Fatal(err)
	}
	last := h.publish(act("CTED", "refused-visit", "compact.visit.conducted", "2030-03-02",
		obj{"purpose": "assessment", "countries": []string{"KEN"}}))
	h.wait(v, last)
	kv, _ := h.js.KeyValue(h.ctx, DefaultFeedBucket)
	if _, err := kv.Get(h.ctx, KVKeyReviewPrefix+"2030-03"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("review.2030-03 while the bucket refuses updates: %v", err)
	}
	if _, err := h.js.UpdateStream(h.ctx, sc); err != nil { // JetStream stores again
		t.Fatal(err)
	}
	kvLatest(t, h, v, "2030-03")
}
