package perf

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Scaling runs end to end on two small sizes: the ledger grows through them, and each point
// has an ingest rate and query latencies (the figures themselves are the benchmark's).
func TestScalingSmall(t *testing.T) {
	prof := t.TempDir()
	points, err := Scaling(context.Background(), ScalingOptions{Dir: t.TempDir(), Sizes: []int{3000, 6000}, Progress: func(s string) { t.Log(s) }, ProfileDir: prof})
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 2 {
		t.Fatalf("%d points, want 2", len(points))
	}
	// The first point is the first size: the warm-up before it stays under it.
	if points[0].LedgerEvents != 3000 {
		t.Errorf("the first point measured a ledger of %d events, want the first size, 3000", points[0].LedgerEvents)
	}
	for _, p := range points {
		if p.LedgerEvents < 3000 || p.IngestEventsPerS <= 0 || p.ReviewP99Ms <= 0 || p.CountersP99Ms <= 0 {
			t.Errorf("point %+v: every figure must be measured", p)
		}
	}
	for _, name := range []string{"heap-3000.pprof", "cpu-3000.pprof", "heap-6000.pprof", "cpu-6000.pprof"} {
		if fi, err := os.Stat(filepath.Join(prof, name)); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v (want a non-empty file)", name, err)
		}
	}
}
