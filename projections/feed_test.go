package projections

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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
