package perf

import (
	"context"
	"testing"
)

// Scaling runs end to end on two small sizes: the ledger grows through them, and each point
// has an ingest rate and query latencies (the figures themselves are the benchmark's).
func TestScalingSmall(t *testing.T) {
	points, err := Scaling(context.Background(), t.TempDir(), []int{3000, 6000}, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 2 {
		t.Fatalf("%d points, want 2", len(points))
	}
	for _, p := range points {
		if p.LedgerEvents < 3000 || p.IngestEventsPerS <= 0 || p.ReviewP99Ms <= 0 || p.CountersP99Ms <= 0 {
			t.Errorf("point %+v: every figure must be measured", p)
		}
	}
}
