package perf

import (
	"context"
	"math"
	"reflect"
	"slices"
	"testing"
)

// Run end to end at its quick sizes over a small ledger: every figure is measured, each ratio
// is its two figures' quotient, and the rebuilt views answer the May–June 2025 review as the
// demo's events make it (52 items). The figures themselves are the benchmark's, not the test's.
func TestRunQuick(t *testing.T) {
	rep, err := Run(context.Background(), Options{Dir: t.TempDir(), Quick: true, RebuildEvents: 5000,
		Progress: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	measured := map[string]float64{
		"raw_durable_each_per_s": rep.RawDurableEachPerS, "raw_durable_batch_per_s": rep.RawDurableBatchPerS,
		"raw_nondurable_async_per_s": rep.RawNonDurablePerS, "raw_read_per_s": rep.RawReadPerS,
		"raw_pebble_sync_batch_per_s": rep.RawPebbleSyncPerS, "ingest_1_publisher_per_s": rep.Ingest1PerS,
		"ingest_64_publishers_single_per_s": rep.Ingest64SinglePerS, "ingest_events_per_s": rep.IngestEventsPerS,
		"ingest_large_requests_per_s": rep.IngestLargePerS,
		"rebuild_events_per_s":        rep.RebuildEventsPerS, "review_p99_ms": rep.ReviewP99Ms, "counters_p99_ms": rep.CountersP99Ms,
		"peak_rss_mb": rep.PeakRSSMB, "raw_durable_batch_cpu_us": rep.RawDurableBatchCPUUs, "ingest_cpu_us": rep.IngestCPUUs,
		"raw_read_cpu_us": rep.RawReadCPUUs, "rebuild_cpu_us": rep.RebuildCPUUs,
		"raw_read_in_process_per_s": rep.RawReadInProcessPerS, "raw_read_tcp_per_s": rep.RawReadTCPPerS,
		"raw_read_in_process_cpu_us": rep.RawReadInProcessCPUUs, "raw_read_tcp_cpu_us": rep.RawReadTCPCPUUs,
		// A rebuild opens a new store, whose memtables are new memory: it takes faults.
		"page_fault_us": rep.PageFaultUs, "rebuild_faults": rep.RebuildFaults,
	}
	for name, v := range measured {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s = %v: not measured", name, v)
		}
	}
	// The report carries its goals, checked from its own figures; a rebuild of 5,000 events
	// says nothing of the memory of one from 1,000,000.
	if !reflect.DeepEqual(rep.Goals, rep.CheckGoals()) || len(rep.Goals) != 5 {
		t.Errorf("goals %+v, want CheckGoals' %+v", rep.Goals, rep.CheckGoals())
	}
	for _, g := range rep.Goals {
		if g.Name == "rebuild_peak_rss_mb" && (g.Measured || g.Met) {
			t.Errorf("the memory goal after a rebuild of %d events: %+v, want not measured", rep.RebuildEvents, g)
		}
	}
	// The read limit is the faster of the two connections' reads, with that read's CPU.
	switch limit := max(rep.RawReadInProcessPerS, rep.RawReadTCPPerS); {
	case rep.RawReadPerS != limit:
		t.Errorf("raw_read_per_s = %v, want the faster of %v (in process) and %v (TCP)", rep.RawReadPerS, rep.RawReadInProcessPerS, rep.RawReadTCPPerS)
	case rep.RawReadVia == "tcp" && (limit != rep.RawReadTCPPerS || rep.RawReadCPUUs != rep.RawReadTCPCPUUs),
		rep.RawReadVia == "in-process" && (limit != rep.RawReadInProcessPerS || rep.RawReadCPUUs != rep.RawReadInProcessCPUUs),
		rep.RawReadVia != "tcp" && rep.RawReadVia != "in-process":
		t.Errorf("raw_read_via = %q, raw_read_cpu_us = %v: not the faster read's (in process %v/s %v µs, TCP %v/s %v µs)",
			rep.RawReadVia, rep.RawReadCPUUs, rep.RawReadInProcessPerS, rep.RawReadInProcessCPUUs, rep.RawReadTCPPerS, rep.RawReadTCPCPUUs)
	}
	ratios := []struct {
		name      string
		got, want float64
	}{
		{"ingest_ratio", rep.IngestRatio, rep.IngestEventsPerS / rep.RawDurableBatchPerS},
		{"ingest_large_requests_ratio", rep.IngestLargeRatio, rep.IngestLargePerS / rep.RawDurableBatchPerS},
		{"rebuild_ratio", rep.RebuildRatio, rep.RebuildEventsPerS / min(rep.RawReadPerS, rep.RawPebbleSyncPerS)},
		{"ingest_cpu_ratio", rep.IngestCPURatio, rep.RawDurableBatchCPUUs / rep.IngestCPUUs},
		{"rebuild_cpu_ratio", rep.RebuildCPURatio, rep.RawReadCPUUs / rep.RebuildCPUUs},
	}
	for _, r := range ratios {
		if math.Abs(r.got-r.want) > 1e-9*r.want || !(r.got > 0) {
			t.Errorf("%s = %v, want %v", r.name, r.got, r.want)
		}
	}
	// Each alternating round has its ratio, and the whole run's lies among them: with the
	// rounds' sizes near equal, it is their harmonic mean weighted by the raw rounds' times.
	if len(rep.IngestRoundRatios) != ratioRounds {
		t.Errorf("ingest_round_ratios = %v, want one for each of the %d rounds", rep.IngestRoundRatios, ratioRounds)
	} else if lo, hi := slices.Min(rep.IngestRoundRatios), slices.Max(rep.IngestRoundRatios); !(lo > 0) ||
		rep.IngestRatio < lo*0.999 || rep.IngestRatio > hi*1.001 {
		t.Errorf("ingest_ratio %v is not among its rounds' %v", rep.IngestRatio, rep.IngestRoundRatios)
	}
	busy := []struct {
		name      string
		got, want float64
	}{
		{"raw_durable_batch_cores", rep.RawDurableBatchCores, rep.RawDurableBatchCPUUs * rep.RawDurableBatchPerS / 1e6},
		{"ingest_cores", rep.IngestCores, rep.IngestCPUUs * rep.IngestEventsPerS / 1e6},
		{"raw_read_cores", rep.RawReadCores, rep.RawReadCPUUs * rep.RawReadPerS / 1e6},
		{"rebuild_cores", rep.RebuildCores, rep.RebuildCPUUs * rep.RebuildEventsPerS / 1e6},
	}
	for _, b := range busy {
		// Not bounded by the cores here: over this test's short measurements the kernel's
		// accounting of CPU time (by clock ticks) can exceed the wall time times the cores.
		if math.Abs(b.got-b.want) > 1e-9*b.want || !(b.got > 0) {
			t.Errorf("%s = %v, want %v", b.name, b.got, b.want)
		}
	}
	if rep.RebuildEvents != 5000 || rep.IngestRequestEvents != 16 || rep.IngestLargeRequestEvents != 64 || rep.Cores < 1 {
		t.Errorf("sizes: rebuild %d events, %d and %d events per request, %d cores", rep.RebuildEvents,
			rep.IngestRequestEvents, rep.IngestLargeRequestEvents, rep.Cores)
	}
	if rep.ReviewItemsInPeriod != 52 {
		t.Errorf("the rebuilt review of 2025-05 has %d items, want the 52 of the demo", rep.ReviewItemsInPeriod)
	}
}
