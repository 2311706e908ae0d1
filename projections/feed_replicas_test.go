package projections

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Two read replicas feed one bucket. A replica that starts late catches up from sequence 1,
// and every batch of its catch-up used to put its totals of that moment over the newer ones
// the replica ahead of it had put: the bucket went back in time, and stayed there when the
// late replica stopped before it caught up (a crash, a kill), since the one ahead had nothing
// new to send. The README promises that the bucket always ends at the latest value.
func TestFeedSlowerReplicaDoesNotTakeTheBucketBack(t *testing.T) {
	h := newHarness(t)
	ahead := h.open(h.config(t.TempDir()))
	last := h.publish(newHistGen(11).take(120)...)
	h.wait(ahead, last)
	kvLatestAll(t, h, ahead)

	// The late replica commits every 10 events and dies once it has sent what it committed
	// up to sequence 30 (the hook runs before its next commit, after the feed of the last).
	const stopAfter = 30
	died := make(chan struct{})
	var once sync.Once
	cfg := h.config(t.TempDir())
	cfg.BatchMaxCount = 10
	cfg.testHook = func(view, point string, seq uint64) error {
		if point == "applied" && seq > stopAfter {
			if view == ViewReview {
				once.Do(func() { close(died) })
			}
			return errors.New("killed")
		}
		return nil
	}
	late := h.open(cfg)
	select {
	case <-died:
	case <-time.After(60 * time.Second):
		t.Fatal("the late replica never got past sequence 30")
	}
	if err := late.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	kvLatestAll(t, h, ahead)
}

// kvLatestAll waits until every entry of the feed's bucket is what v holds: the counters'
// totals at v's checkpoint, and each period's version.
func kvLatestAll(t *testing.T, h *harness, v *Views) {
	t.Helper()
	kv, get := feedBucket(t, h)
	want, err := v.Counters(h.ctx, "9999-12-31")
	if err != nil {
		t.Fatal(err)
	}
	var problem string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		problem = ""
		var got Counters
		err := json.Unmarshal(get(KVKeyCounters), &got)
		got.AsOf = want.AsOf // the bucket's is the latest activity date, the view's the date asked
		if err != nil || got != *want {
			problem = "counters: bucket " + string(get(KVKeyCounters)) + ", view at seq " + jsonString(want)
		}
		keys, err := kv.Keys(h.ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			t.Fatal(err)
		}
		for _, k := range keys {
			period, ok := strings.CutPrefix(k, KVKeyReviewPrefix)
			if !ok || problem != "" {
				continue
			}
			var rc ReviewChange
			_ = json.Unmarshal(get(k), &rc)
			if wantVersion := review(t, v, period).Version; rc.Version != wantVersion {
				problem = k + ": bucket " + string(get(k)) + ", view at version " + jsonString(wantVersion)
			}
		}
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bucket is not at the latest values: %s", problem)
		}
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
