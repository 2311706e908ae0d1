package projections

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
)

// TestChangeFeed: after committed batches, compact.views.counters carries the new totals,
// compact.views.review.<period> the period's new version, and the KV bucket keeps the latest
// counters so that a KV watcher follows them.
func TestChangeFeed(t *testing.T) {
	h := newHarness(t)
	sub, err := h.nc.SubscribeSync("compact.views.>")
	if err != nil {
		t.Fatal(err)
	}
	v := h.open(h.config(t.TempDir()))
	kv, err := h.js.KeyValue(h.ctx, DefaultFeedBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(h.ctx, KVKeyCounters, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	g := newHistGen(3)
	history := g.take(200)
	// The feed sends the counters after a batch that changed them, at the batch's last
	// sequence: the history ends on an event that changes them, so that the last such batch
	// ends at histLast however the catch-up splits the history.
	for naiveCounters(history[:len(history)-1], "9999-12-31") == naiveCounters(history, "9999-12-31") {
		history = append(history, g.take(1)...)
	}
	histLast := h.publish(history...)
	h.wait(v, histLast)
	// a batch that changes the review only: a review message, no counters message
	last := h.publish(act("UNODC", "feed-item", "compact.training.delivered", "2025-05-10", nil))
	h.wait(v, last)

	var lastCounters Counters
	reviews := map[string]ReviewChange{}
	deadline := time.After(10 * time.Second)
	for lastCounters.Seq < histLast || reviews["2025-05"].Seq < last {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("change feed: %v (counters at %d, want %d; review 2025-05 at %d, want %d)", err, lastCounters.Seq, histLast, reviews["2025-05"].Seq, last)
		}
		switch {
		case msg.Subject == SubjectCounters:
			var c Counters
			if err := json.Unmarshal(msg.Data, &c); err != nil {
				t.Fatal(err)
			}
			if c.Seq < lastCounters.Seq {
				t.Errorf("counters went back from seq %d to %d", lastCounters.Seq, c.Seq)
			}
			lastCounters = c
		case len(msg.Subject) > len(SubjectReviewPrefix):
			var rc ReviewChange
			if err := json.Unmarshal(msg.Data, &rc); err != nil {
				t.Fatal(err)
			}
			if msg.Subject != SubjectReviewPrefix+rc.Period {
				t.Errorf("review change for %s on %s", rc.Period, msg.Subject)
			}
			if prev, ok := reviews[rc.Period]; ok && rc.Version <= prev.Version {
				t.Errorf("review %s version went from %d to %d", rc.Period, prev.Version, rc.Version)
			}
			reviews[rc.Period] = rc
		}
		if lastCounters.Seq > histLast {
			t.Errorf("a counters message at seq %d, after a batch that did not change the counters", lastCounters.Seq)
		}
		select {
		case <-deadline:
			t.Fatal("change feed did not reach the last sequence")
		default:
		}
	}
	total := naiveCounters(append(history, act("UNODC", "feed-item", "compact.training.delivered", "2025-05-10", nil)), "9999-12-31")
	total.AsOf, total.Seq = lastCounters.AsOf, lastCounters.Seq
	if lastCounters != total {
		t.Errorf("feed totals %+v, want %+v", lastCounters, total)
	}
	if r := review(t, v, "2025-05"); r.Version != reviews["2025-05"].Version {
		t.Errorf("review 2025-05 is at version %d, the feed said %d", r.Version, reviews["2025-05"].Version)
	}
	e, err := kv.Get(h.ctx, KVKeyCounters)
	if err != nil {
		t.Fatal(err)
	}
	var kc Counters
	if err := json.Unmarshal(e.Value(), &kc); err != nil || kc != lastCounters {
		t.Errorf("KV counters %+v, want %+v (%v)", kc, lastCounters, err)
	}
	select {
	case u := <-w.Updates():
		if u == nil || u.Key() != KVKeyCounters {
			t.Errorf("KV watch: %v", u)
		}
	case <-time.After(5 * time.Second):
		t.Error("a KV watcher of counters saw no update")
	}
	if e, err := kv.Get(h.ctx, KVKeyReviewPrefix+"2025-05"); err != nil || len(e.Value()) == 0 {
		t.Errorf("KV review.2025-05: %v", err)
	}
}

// TestChangeFeedAcrossRebuild: events that only the rebuilt generation applied (the old live
// generation was stopped before it got to them) are announced on the feed at the swap, subjects
// and KV, with versions that only grow.
//
// The timing is forced with the existing test hook, without changing the runtime: the live
// review follower is held at "applied" on the batch of event e1 (a slow commit), so the live
// group stays busy while e2 is appended. The rebuild then applies everything up to e2 in its
// batch (the stream holds it all when the rebuild starts: one chunk, one batch), catches up
// with the stored live checkpoint and stops the old generation, which first finishes e1 and
// leaves: its final checkpoint, the swap's target, is e1. e2 (a period nobody touched before)
// was applied only by the building generation, which publishes nothing.
func TestChangeFeedAcrossRebuild(t *testing.T) {
	h := newHarness(t)
	sub, err := h.nc.SubscribeSync(SubjectReviewPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	var history []ledger.Event
	for i := range 20 {
		history = append(history, act("UNODC", fmt.Sprintf("hist-%d", i), "compact.meeting.held", "2025-05-03", nil))
	}
	histLast := h.publish(history...)

	gate, entered := make(chan struct{}), make(chan struct{})
	var held, gateOpen atomic.Bool
	// the greatest review commit before the live follower is let go: past histLast, only the
	// building generation's
	var builderMax atomic.Uint64
	release := sync.OnceFunc(func() { gateOpen.Store(true); close(gate) })
	t.Cleanup(release)
	cfg := h.config(t.TempDir())
	cfg.testHook = func(view, point string, seq uint64) error {
		if view != ViewReview {
			return nil
		}
		// the first review batch past the history is the live follower's: the rebuild has not
		// started yet
		if point == "applied" && seq > histLast && held.CompareAndSwap(false, true) {
			close(entered)
			<-gate
		}
		// while the live follower is held, only the building generation commits review batches
		if point == "committed" && !gateOpen.Load() {
			builderMax.Store(max(builderMax.Load(), seq))
		}
		return nil
	}
	v := h.open(cfg)
	h.wait(v, histLast)

	e1 := h.publish(act("UNODC", "e1", "compact.meeting.held", "2025-05-20", nil))
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the live review follower never applied e1")
	}
	e2 := h.publish(act("UNODC", "e2", "compact.training.delivered", "2025-07-15", nil))

	v.mu.Lock()
	old := v.live[ViewReview]
	v.mu.Unlock()
	jobs, err := v.StartRebuild(ViewReview)
	if err != nil {
		t.Fatal(err)
	}
	// wait until the rebuild has caught up and asked the old generation to stop
	deadline := time.Now().Add(30 * time.Second)
	for {
		old.g.mu.Lock()
		asked := slices.Contains(old.g.leaving, old)
		old.g.mu.Unlock()
		if asked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rebuild never stopped the old live generation")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if got := builderMax.Load(); got != e2 {
		t.Fatalf("the building generation committed up to %d before the old one was stopped, want e2 = %d: the test did not set up the race", got, e2)
	}
	release() // the old generation commits e1, announces it and leaves
	select {
	case <-jobs[0].done:
		if jobs[0].err != nil {
			t.Fatal(jobs[0].err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the rebuild did not swap in")
	}
	h.wait(v, e2)

	want := map[string]uint64{"2025-05": review(t, v, "2025-05").Version, "2025-07": review(t, v, "2025-07").Version}
	if want["2025-07"] == 0 {
		t.Fatalf("review 2025-07 has version 0 after e2 (seq %d)", e2)
	}
	// the subjects: every period's versions grow, and each ends at the view's version
	got := map[string]ReviewChange{}
	for got["2025-05"].Version < want["2025-05"] || got["2025-07"].Version < want["2025-07"] {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Errorf("change feed after the rebuild: %v; got %+v, want versions %v (e1 = %d, e2 = %d)", err, got, want, e1, e2)
			break
		}
		var rc ReviewChange
		if err := json.Unmarshal(msg.Data, &rc); err != nil {
			t.Fatal(err)
		}
		if prev, ok := got[rc.Period]; ok && (rc.Version <= prev.Version || rc.Seq < prev.Seq) {
			t.Errorf("review %s went from %+v to %+v", rc.Period, prev, rc)
		}
		got[rc.Period] = rc
	}
	// the KV bucket ends at the latest value
	kv, err := h.js.KeyValue(h.ctx, DefaultFeedBucket)
	if err != nil {
		t.Fatal(err)
	}
	for period, ver := range want {
		e, err := kv.Get(h.ctx, KVKeyReviewPrefix+period)
		if err != nil {
			t.Errorf("KV %s%s after the rebuild: %v (view at version %d)", KVKeyReviewPrefix, period, err, ver)
			continue
		}
		var rc ReviewChange
		if err := json.Unmarshal(e.Value(), &rc); err != nil || rc.Version != ver || (period == "2025-07" && rc.Seq < e2) {
			t.Errorf("KV %s%s = %s, want version %d (%v)", KVKeyReviewPrefix, period, e.Value(), ver, err)
		}
	}
}
