package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestRebuildEndpointRefusesABadWait: POST /v1/admin/rebuild/{view}?wait= takes a boolean; any
// other value is a 400 that names it, and no rebuild starts. It used to be read as "do not
// wait": a typo (?wait=ture) started a rebuild and answered 202 at once.
func TestRebuildEndpointRefusesABadWait(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	last := h.publish(newHistGen(22).take(20)...)
	h.wait(v, last)
	mux := http.NewServeMux()
	v.AdminRoutes(mux, func(next http.Handler) http.Handler { return next })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	before, err := v.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"wait=ture", "wait=no", "wait=0x1"} {
		resp, err := http.Post(srv.URL+"/v1/admin/rebuild/counters?"+q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct{ Field, Message string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error.Message, "wait") {
			t.Errorf("POST /v1/admin/rebuild/counters?%s: %d %+v, want 400 naming wait", q, resp.StatusCode, e)
		}
	}
	st, err := v.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Views[0].Rebuild != nil || st.Views[0].Generation != before.Views[0].Generation {
		t.Errorf("a refused request started a rebuild: %+v (before %+v)", st.Views[0], before.Views[0])
	}
	// the valid forms still work
	for q, code := range map[string]int{"wait=false": http.StatusAccepted, "wait=true": http.StatusOK, "": http.StatusOK} {
		if q == "wait=true" || q == "" {
			if err := v.Rebuild(t.Context(), ViewCounters); err != nil { // let the 202's rebuild finish first
				t.Fatal(err)
			}
		}
		resp, err := http.Post(srv.URL+"/v1/admin/rebuild/counters?"+q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("POST /v1/admin/rebuild/counters?%s: %d, want %d", q, resp.StatusCode, code)
		}
	}
}

// TestRebuildBeforeStartIsRefused: a rebuild asked for before Start is refused and records
// nothing. It used to start, and Start then gave a generation the rebuild already followed a
// second follower: the building one (resumed from its record), or the new live one when the
// swap came first. Two followers applying the same events to one generation write it twice.
func TestRebuildBeforeStartIsRefused(t *testing.T) {
	h := newHarness(t)
	last := h.publish(newHistGen(23).take(50)...)
	v, err := Open(h.ctx, h.config(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close(context.Background()) })
	if _, err := v.StartRebuild(ViewCounters); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Start") {
		t.Fatalf("StartRebuild before Start: %v, want an ErrConfig naming Start", err)
	}
	if err := v.Rebuild(h.ctx, ""); !errors.Is(err, ErrConfig) {
		t.Fatalf("Rebuild before Start: %v, want ErrConfig", err)
	}
	if err := v.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.wait(v, last)
	st, err := v.Status(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, vs := range st.Views {
		if vs.Rebuild != nil || vs.Generation != 1 {
			t.Errorf("%s after a refused rebuild: %+v", vs.View, vs)
		}
	}
	// once started, the same call rebuilds
	if err := v.Rebuild(h.ctx, ViewCounters); err != nil {
		t.Fatal(err)
	}
}

// A rebuild that keeps failing says why in the status, where a waiting `compact rebuild`
// showed nothing and the reason was only in the log; once the failure passes, the rebuild
// swaps in.
func TestStatusSaysWhyARebuildFails(t *testing.T) {
	h := newHarness(t)
	last := h.publish(newHistGen(22).take(50)...)
	cfg := h.config(t.TempDir())
	var failing atomic.Bool
	cfg.testHook = func(view, point string, seq uint64) error {
		// the live review is caught up and nothing new comes: a batch applied now is the rebuild's
		if failing.Load() && view == ViewReview && point == "applied" {
			return fmt.Errorf("disk says no: %w", errHookFailure)
		}
		return nil
	}
	v := h.open(cfg)
	h.wait(v, last)
	failing.Store(true)
	jobs, err := v.StartRebuild(ViewReview)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := v.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var rs *RebuildStatus
		for _, vs := range st.Views {
			if vs.View == ViewReview {
				rs = vs.Rebuild
			}
		}
		if rs != nil && strings.Contains(rs.LastError, "disk says no") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status of a failing rebuild: %+v", rs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	failing.Store(false)
	select {
	case <-jobs[0].done:
		if jobs[0].err != nil {
			t.Fatal(jobs[0].err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the rebuild did not swap in once the failure passed")
	}
}
