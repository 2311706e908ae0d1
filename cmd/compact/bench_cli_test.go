package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"compact/ledger/perf"
)

// TestBenchUsage: flags that do not go together, and arguments, are usage errors, found before
// anything is measured.
func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--profile", t.TempDir()},   // profiles are of the scaling run
		{"--quick", "extra"},         // no arguments
		{"--rebuild-events", "many"}, // not a number
	} {
		var ue usageError
		if err := runBench(context.Background(), args); !errors.As(err, &ue) {
			t.Errorf("bench %q: %v, want a usage error", args, err)
		}
	}
}

var updateGolden = flag.Bool("update", false, "rewrite testdata golden files from the commands' output")

// TestBenchTable: the table `compact bench` prints for a report (testdata/bench_table.golden,
// rewritten with -update). The report is the JSON of a real run (testdata/bench_report.json),
// so a field the table forgets, or one the JSON renames, shows as a difference.
func TestBenchTable(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "bench_report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep perf.Report
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("testdata/bench_report.json is not a perf.Report: %v", err)
	}
	var got bytes.Buffer
	if err := writeReport(&got, &rep); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "bench_table.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("the table differs from %s (go test ./cmd/compact -run TestBenchTable -update to accept):\n%s", golden, got.String())
	}
	// Every figure of the report is in the table (a zero would hide a forgotten row).
	for _, v := range []float64{rep.RawDurableEachPerS, rep.RawDurableBatchPerS, rep.IngestRatio, rep.RebuildRatio,
		rep.ReviewP99Ms, rep.CountersP99Ms, rep.PeakRSSMB, rep.RebuildCPUUs, rep.RebuildCores, rep.IngestCores,
		rep.PageFaultUs, rep.RebuildFaults} {
		if v == 0 {
			t.Fatalf("testdata/bench_report.json has a zero figure: take it from a real run")
		}
	}
}
