package perf

import (
	"context"
	"flag"
	"testing"
	"time"

	"compact/ledger"
)

var (
	soakRate     = flag.Int("soak.rate", 200, "BenchmarkSoak: events per second")
	soakDuration = flag.Duration("soak.duration", 20*time.Second, "BenchmarkSoak: how long to publish (at most 10m)")
)

// BenchmarkSoak publishes at a fixed rate while replaying and querying, and reports
// publish latency percentiles, view lag and peak memory (one run, whatever b.N):
//
//	go test ./ledger/perf -run '^$' -bench Soak -benchtime 1x -soak.rate 500 -soak.duration 60s
func BenchmarkSoak(b *testing.B) {
	ledger.TuneGC() // as compact bench measures
	rep, err := Soak(context.Background(), SoakOptions{Dir: b.TempDir(), Rate: *soakRate, Duration: *soakDuration})
	if err != nil {
		b.Fatal(err)
	}
	b.Log(rep)
	b.ReportMetric(rep.LatencyP50Ms, "p50-ms")
	b.ReportMetric(rep.LatencyP99Ms, "p99-ms")
	b.ReportMetric(float64(rep.ViewLagMax), "max-lag-events")
	b.ReportMetric(rep.PeakRSSMB, "peak-MiB")
}

// TestSoakShort runs the soak for two seconds: publishing, replaying and querying at once
// lose nothing and the views catch up.
func TestSoakShort(t *testing.T) {
	rep, err := Soak(context.Background(), SoakOptions{Dir: t.TempDir(), Rate: 100, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if rep.Published < 100 || rep.Failed != 0 {
		t.Fatalf("published %d, failed %d", rep.Published, rep.Failed)
	}
	if uint64(rep.Published) != rep.FinalStreamSeq {
		t.Fatalf("%d acknowledged, stream ends at %d", rep.Published, rep.FinalStreamSeq)
	}
	if !rep.FinalViewsEqual || rep.Replays == 0 || rep.Queries == 0 {
		t.Fatalf("views caught up %v, %d replays, %d queries", rep.FinalViewsEqual, rep.Replays, rep.Queries)
	}
}
