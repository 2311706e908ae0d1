package projections

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRebuildCheckpointMetricWhileLiveCommits: compact_view_rebuild_checkpoint shows how far a
// rebuild in progress has come while the live generation of the same view goes on committing
// new events beside it, and falls to 0 only when the rebuild is swapped in. The live commits
// used to set it to 0, so a scrape taken while events flowed showed no rebuild at all.
func TestRebuildCheckpointMetricWhileLiveCommits(t *testing.T) {
	h := newHarness(t)
	g := newHistGen(21)
	last := h.publish(g.take(200)...)
	cfg := h.config(t.TempDir())
	cfg.Registry = prometheus.NewRegistry()
	cfg.BatchMaxCount = 20
	var rebuilding atomic.Bool
	held := make(chan uint64, 1)
	release := make(chan struct{})
	cfg.testHook = func(view, point string, seq uint64) error {
		// the live counters are at last already: a commit at or below it is the rebuild's
		if rebuilding.Load() && view == ViewCounters && point == "committed" && seq < last {
			if rebuilding.CompareAndSwap(true, false) {
				held <- seq
				<-release
			}
		}
		return nil
	}
	v := h.open(cfg)
	h.wait(v, last)
	if m := metricValue(t, cfg.Registry, "compact_view_rebuild_checkpoint", ViewCounters); m != 0 {
		t.Errorf("compact_view_rebuild_checkpoint{view=counters} = %v with no rebuild, want 0", m)
	}

	rebuilding.Store(true)
	jobs, err := v.StartRebuild(ViewCounters)
	if err != nil {
		t.Fatal(err)
	}
	var ck uint64
	select {
	case ck = <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("the rebuild committed no batch within a minute")
	}
	if m := waitMetric(t, cfg.Registry, "compact_view_rebuild_checkpoint", ViewCounters, float64(ck)); m != float64(ck) {
		t.Errorf("compact_view_rebuild_checkpoint{view=counters} = %v after the rebuild's first batch, want %d", m, ck)
	}
	// the live generation commits beside the held rebuild
	more := h.publish(g.take(5)...)
	h.wait(v, more)
	waitMetric(t, cfg.Registry, "compact_view_checkpoint", ViewCounters, float64(more))
	if m := metricValue(t, cfg.Registry, "compact_view_rebuild_checkpoint", ViewCounters); m != float64(ck) {
		t.Errorf("compact_view_rebuild_checkpoint{view=counters} = %v while the rebuild is at %d and the live view commits: "+
			"the live commits reset it", m, ck)
	}
	close(release)
	<-jobs[0].done
	if jobs[0].err != nil {
		t.Fatal(jobs[0].err)
	}
	if m := waitMetric(t, cfg.Registry, "compact_view_rebuild_checkpoint", ViewCounters, 0); m != 0 {
		t.Errorf("compact_view_rebuild_checkpoint{view=counters} = %v after the swap, want 0", m)
	}
	if m := metricValue(t, cfg.Registry, "compact_view_checkpoint", ViewCounters); m < float64(more) {
		t.Errorf("compact_view_checkpoint{view=counters} = %v after the swap, want at least %d", m, more)
	}
}
