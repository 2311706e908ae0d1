package perf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

// ScalingPoint is what one ledger size measured.
type ScalingPoint struct {
	LedgerEvents     int     `json:"ledger_events"`
	IngestEventsPerS float64 `json:"ingest_events_per_s"`
	ReviewP50Ms      float64 `json:"review_p50_ms"`
	ReviewP99Ms      float64 `json:"review_p99_ms"`
	CountersP99Ms    float64 `json:"counters_p99_ms"`
}

// ScalingOptions says where and how far Scaling grows its ledger.
type ScalingOptions struct {
	Dir      string       // scratch directory (required)
	Sizes    []int        // ledger sizes to measure at, ascending (required)
	Progress func(string) // told what is being done; may be nil
	// ProfileDir, when set, receives at each size heap-<size>.pprof (the heap in use once the
	// stores have settled, after a collection) and cpu-<size>.pprof (the measurement: ingest
	// and queries), for `go tool pprof`.
	ProfileDir string
}

// Scaling grows one ledger through sizes (e.g. 10,000 → 1,000,000 events of the History
// mix) and, at each, measures ingest through the whole path (64 publishers, 16 events per
// request; the dedup index holds every id of the ledger) and the review and counters
// query latency over HTTP: the figures should stay flat as the ledger grows.
func Scaling(ctx context.Context, o ScalingOptions) ([]ScalingPoint, error) {
	dir, sizes := o.Dir, o.Sizes
	if dir == "" || len(sizes) == 0 {
		return nil, errors.New("perf: Scaling needs a directory and sizes")
	}
	say := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	rg, err := newRig(ctx, filepath.Join(dir, "scaling"), 64, true)
	if err != nil {
		return nil, err
	}
	defer rg.Close()
	node, views, conns := rg.node, rg.views, rg.conns

	say("publishing the demo dataset (the May-June 2025 review)")
	if _, err := fillDemo(ctx, node.Conn); err != nil {
		return nil, err
	}
	// The first size's ingest would otherwise be the process's first at 64 × 16, in new
	// memory, as compact bench's first alternating round was, which ran slower for it (NOTES,
	// fourteenth round): a low first size would flatter the larger sizes against it.
	cur, err := rg.lastSeq(ctx)
	if err != nil {
		return nil, err
	}
	if warm := min(scalingWarmUp, sizes[0]-int(cur)); warm > 0 {
		say(fmt.Sprintf("warming up: %d events through the ingest, not measured", warm))
		if _, err := Ingest(ctx, conns, "UNODC", func(dst []byte, i int) []byte { return AppendEvent(dst, "UNODC", "warm-up-"+strconv.Itoa(i)) }, warm, 64, 16); err != nil {
			return nil, err
		}
	}
	h := NewHistory(7)
	var out []ScalingPoint
	for round, size := range sizes {
		cur, err := rg.lastSeq(ctx)
		if err != nil {
			return nil, err
		}
		if uint64(size) > cur {
			say(fmt.Sprintf("growing the ledger to %d events", size))
			// History goes in through JetStream directly (fast); the dedup index learns
			// every id of it when the next append finds the stream longer than it knew.
			if err := fill(ctx, node.Conn, h, size-int(cur)); err != nil {
				return nil, err
			}
		}
		last, err := rg.lastSeq(ctx)
		if err != nil {
			return nil, err
		}
		if err := views.WaitFor(ctx, last); err != nil {
			return nil, err
		}
		// One warm-up request lets the index catch up with the fill before the clock runs.
		warm := fmt.Sprintf("warm-%d", round)
		if _, err := Ingest(ctx, conns[:1], "UNODC", func(dst []byte, _ int) []byte { return AppendEvent(dst, "UNODC", warm) }, 1, 1, 1); err != nil {
			return nil, err
		}
		// The fill wrote a ledger's history in seconds; a ledger that grew to this size
		// over years is not in the middle of compacting it. Measure in that state.
		say("waiting for the stores to finish compacting the fill")
		if err := errors.Join(node.Index.Flush(), views.Flush()); err != nil {
			return nil, err
		}
		if _, err := settle(ctx, node.Index.Compacting, views.Compacting); err != nil {
			return nil, err
		}
		stop, err := startProfiles(o.ProfileDir, size)
		if err != nil {
			return nil, err
		}
		say(fmt.Sprintf("measuring at %d events", size))
		p, err := measureAt(ctx, rg, "scale"+strconv.Itoa(round)+"-", last)
		if serr := stop(); err == nil {
			err = serr
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// scalingWarmUp is how many events go through the ingest before the first size, at most: a
// quarter of what each size measures, and never so many that the ledger passes the first size.
const scalingWarmUp = 5_000

// measureAt measures one size of Scaling: ingest of new events (ids from prefix) through the
// whole path, then the review and counters queries once the views have applied them.
func measureAt(ctx context.Context, rg *rig, prefix string, last uint64) (ScalingPoint, error) {
	r, err := Ingest(ctx, rg.conns, "UNODC", func(dst []byte, i int) []byte { return AppendEvent(dst, "UNODC", prefix+strconv.Itoa(i)) }, 20_000, 64, 16)
	if err != nil {
		return ScalingPoint{}, err
	}
	p := ScalingPoint{LedgerEvents: int(last), IngestEventsPerS: r.PerSecond()}
	// The queries read the period as of the ledger's end: the views first apply what the
	// ingest appended, as they do at every size. Reads under a steady write load are the
	// soak's (--soak).
	if last, err = rg.lastSeq(ctx); err != nil {
		return ScalingPoint{}, err
	}
	if err := rg.views.WaitFor(ctx, last); err != nil {
		return ScalingPoint{}, err
	}
	if p.ReviewP50Ms, p.ReviewP99Ms, err = latency(ctx, rg.srv.URL+"/v1/reviews/2025-05", 500); err != nil {
		return ScalingPoint{}, err
	}
	if _, p.CountersP99Ms, err = latency(ctx, rg.srv.URL+"/v1/counters?as_of=2025-06-30", 500); err != nil {
		return ScalingPoint{}, err
	}
	return p, nil
}

// startProfiles, when dir is set, writes the heap in use (after a collection) to
// dir/heap-<size>.pprof and starts a CPU profile to dir/cpu-<size>.pprof, which stop ends.
func startProfiles(dir string, size int) (stop func() error, err error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	runtime.GC()
	hf, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", size)))
	if err != nil {
		return nil, err
	}
	if err := errors.Join(pprof.Lookup("heap").WriteTo(hf, 0), hf.Close()); err != nil {
		return nil, fmt.Errorf("perf: heap profile: %w", err)
	}
	cf, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", size)))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cf); err != nil {
		cf.Close()
		return nil, fmt.Errorf("perf: CPU profile: %w", err)
	}
	return func() error { pprof.StopCPUProfile(); return cf.Close() }, nil
}

// settle waits until none of the stores has flushed or compacted for a second, for at most
// two minutes (then it measures anyway): one compaction often follows another, so a single
// quiet moment is not the end of the work. It returns how long it saw them at work.
func settle(ctx context.Context, compacting ...func() bool) (busy time.Duration, err error) {
	const poll, quietFor = 100 * time.Millisecond, time.Second
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	quiet := time.Duration(0)
	for quiet < quietFor && time.Now().Before(deadline) {
		now := false
		for _, c := range compacting {
			now = now || c()
		}
		if now {
			quiet, busy = 0, time.Since(start)
		} else {
			quiet += poll
		}
		select {
		case <-ctx.Done():
			return busy, ctx.Err()
		case <-time.After(poll):
		}
	}
	return busy, nil
}
