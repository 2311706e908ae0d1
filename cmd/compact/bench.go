package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"compact/ledger"
	"compact/ledger/perf"
	"compact/ledger/tmpfiles"
)

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smaller sizes: under two minutes on 2 cores")
	asJSON := fs.Bool("json", false, "print one JSON object")
	dir := fs.String("dir", "", "scratch directory (default a new temporary one, removed after)")
	rebuild := fs.Int("rebuild-events", 0, "events in the rebuilt ledger (default 1,000,000; 100,000 with --quick)")
	soak := fs.Duration("soak", 0, "instead: publish at --rate for this long while replaying and querying (more than 0, at most 10m)")
	rate := fs.Int("rate", 200, "with --soak: events per second (1..1000000)")
	profile := fs.String("profile", "", "with --scaling: write heap and CPU profiles of each size to this directory")
	scaling := fs.Bool("scaling", false, "instead: ingest rate and query latency as the ledger grows from 10,000 to 1,000,000 events (100,000 with --quick)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bench takes no arguments, only flags")
	}
	// A flag the chosen run would not use, or would change, is a mistake to say, not to
	// ignore: the report would not be of the run asked for.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []string
	switch {
	case set["soak"] && *soak <= 0:
		errs = append(errs, "--soak must be more than 0")
	case *soak > maxSoak:
		errs = append(errs, fmt.Sprintf("--soak %v: at most %v", *soak, maxSoak))
	}
	if set["rate"] && !set["soak"] {
		errs = append(errs, "--rate goes with --soak")
	}
	if *rate < 1 || *rate > 1_000_000 {
		errs = append(errs, "--rate must be 1..1000000 events per second")
	}
	if set["soak"] && *scaling {
		errs = append(errs, "--soak and --scaling are two different runs: give one")
	}
	if set["soak"] && *quick {
		errs = append(errs, "--quick sizes the bench and --scaling: a soak runs as long as --soak says")
	}
	if set["rebuild-events"] && (set["soak"] || *scaling) {
		errs = append(errs, "--rebuild-events sizes the full bench's rebuild: not with --soak or --scaling")
	}
	if set["rebuild-events"] && *rebuild < 1 {
		errs = append(errs, "--rebuild-events must be 1 or more")
	}
	if *profile != "" && !*scaling {
		errs = append(errs, "--profile goes with --scaling")
	}
	if len(errs) > 0 {
		return usagef("bench: %s", strings.Join(errs, "; "))
	}
	ledger.TuneGC() // the raw limits and the system measure under the same settings
	if *dir == "" {
		// A bench's scratch ledgers take gigabytes. One killed (a second Ctrl-C, SIGKILL)
		// cannot remove its own: the next bench removes those no running bench holds.
		tmpfiles.RemoveUnheldDirs(os.TempDir(), benchDirPrefix)
		d, done, err := tmpfiles.Dir(os.TempDir(), benchDirPrefix)
		if err != nil {
			return err
		}
		defer done()
		*dir = d
	}
	if set["soak"] {
		rep, err := perf.Soak(ctx, perf.SoakOptions{Dir: *dir, Rate: *rate, Duration: *soak})
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(os.Stdout).Encode(rep)
		}
		fmt.Println(rep)
		return nil
	}
	if *scaling {
		sizes := []int{10_000, 100_000, 1_000_000}
		if *quick {
			sizes = sizes[:2]
		}
		points, err := perf.Scaling(ctx, perf.ScalingOptions{Dir: *dir, Sizes: sizes, ProfileDir: *profile,
			Progress: func(s string) { fmt.Fprintf(os.Stderr, "compact bench: %s\n", s) }})
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(os.Stdout).Encode(points)
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "ledger events\tingest events/s\treview p50 ms\treview p99 ms\tcounters p99 ms\t")
		for _, p := range points {
			fmt.Fprintf(tw, "%d\t%.0f\t%.2f\t%.2f\t%.2f\t\n", p.LedgerEvents, p.IngestEventsPerS, p.ReviewP50Ms, p.ReviewP99Ms, p.CountersP99Ms)
		}
		return tw.Flush()
	}
	rep, err := perf.Run(ctx, perf.Options{Dir: *dir, Quick: *quick, RebuildEvents: *rebuild, Progress: func(s string) {
		fmt.Fprintf(os.Stderr, "compact bench: %s\n", s)
	}})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return writeReport(os.Stdout, rep)
}

// benchDirPrefix starts the name of a bench's temporary directory.
const benchDirPrefix = "compact-bench-"

// maxSoak is the longest soak: perf.Soak's own bound.
const maxSoak = 10 * time.Minute

// writeReport prints a bench report as the table `compact bench` shows: rates, ratios,
// latencies and memory, then the CPU an event and the cores busy on each side.
func writeReport(w io.Writer, rep *perf.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, v float64, unit string) {
		if unit == "" { // a ratio
			fmt.Fprintf(tw, "%s\t%12.2f\t\n", name, v)
			return
		}
		fmt.Fprintf(tw, "%s\t%12.1f\t%s\n", name, v, unit)
	}
	fmt.Fprintln(tw, "RAW LIMITS\t\t")
	row("  JetStream durable append, 1 at a time", rep.RawDurableEachPerS, "events/s")
	row("  JetStream durable append, atomic batches of 1,000", rep.RawDurableBatchPerS, "events/s")
	row("  JetStream non-durable async publish", rep.RawNonDurablePerS, "events/s")
	row("  ordered-consumer read, in process", rep.RawReadInProcessPerS, "events/s")
	row("  ordered-consumer read, loopback TCP", rep.RawReadTCPPerS, "events/s")
	row("  Pebble writes, Sync batches of 1,000", rep.RawPebbleSyncPerS, "events/s")
	if rep.PageFaultUs > 0 { // not in reports from before it was measured, nor off Unix
		row("  first write to a page of new memory (page fault)", rep.PageFaultUs, "µs")
	}
	fmt.Fprintln(tw, "SYSTEM\t\t")
	row("  ingest, 1 publisher", rep.Ingest1PerS, "events/s")
	row("  ingest, 64 publishers, 1 event/request", rep.Ingest64SinglePerS, "events/s")
	row(fmt.Sprintf("  ingest, 64 publishers, %d events/request", rep.IngestRequestEvents), rep.IngestEventsPerS, "events/s")
	row("  ingest ratio (÷ raw atomic batches)", rep.IngestRatio, "")
	if rs := rep.IngestRoundRatios; len(rs) > 0 { // not in reports from before they were kept
		fmt.Fprintf(tw, "  its %d alternating rounds, lowest–highest\t%12s\t\n", len(rs),
			fmt.Sprintf("%.2f–%.2f", slices.Min(rs), slices.Max(rs)))
	}
	row(fmt.Sprintf("  ingest, 64 publishers, %d events/request", rep.IngestLargeRequestEvents), rep.IngestLargePerS, "events/s")
	row("  its ratio (÷ raw atomic batches)", rep.IngestLargeRatio, "")
	row(fmt.Sprintf("  rebuild of all views from %d events", rep.RebuildEvents), rep.RebuildEventsPerS, "events/s")
	row("  rebuild ratio (÷ slower of raw read, raw Pebble)", rep.RebuildRatio, "")
	row("  its flushes and compactions after it (background)", rep.RebuildSettleS, "s")
	row(fmt.Sprintf("  review query p50 (%d items in the period)", rep.ReviewItemsInPeriod), rep.ReviewP50Ms, "ms")
	row("  review query p99", rep.ReviewP99Ms, "ms")
	row("  counters query p50", rep.CountersP50Ms, "ms")
	row("  counters query p99", rep.CountersP99Ms, "ms")
	row("  peak memory (whole run)", rep.PeakRSSMB, "MiB")
	row("  peak memory at the end of the rebuild", rep.RebuildPeakRSSMB, "MiB")
	fmt.Fprintln(tw, "CPU PER EVENT (the whole process, server included)\t\t")
	row("  raw atomic batches of 1,000", rep.RawDurableBatchCPUUs, "µs")
	row(fmt.Sprintf("  ingest, 64 publishers, %d events/request", rep.IngestRequestEvents), rep.IngestCPUUs, "µs")
	row("  ingest CPU ratio (raw ÷ ingest)", rep.IngestCPURatio, "")
	row("  raw ordered-consumer read, in process", rep.RawReadInProcessCPUUs, "µs")
	row("  raw ordered-consumer read, loopback TCP", rep.RawReadTCPCPUUs, "µs")
	row("  rebuild", rep.RebuildCPUUs, "µs")
	row("  rebuild CPU ratio (raw read ÷ rebuild)", rep.RebuildCPURatio, "")
	if rep.PageFaultUs > 0 {
		fmt.Fprintf(tw, "PAGE FAULTS PER EVENT (each ~%.1f µs of the CPU above)\t\t\n", rep.PageFaultUs)
		faults := func(name string, v float64) { fmt.Fprintf(tw, "%s\t%12.3f\t\n", name, v) }
		faults("  raw atomic batches of 1,000", rep.RawDurableBatchFaults)
		faults(fmt.Sprintf("  ingest, 64 publishers, %d events/request", rep.IngestRequestEvents), rep.IngestFaults)
		faults(fmt.Sprintf("  raw ordered-consumer read (%s)", rep.RawReadVia), rep.RawReadFaults)
		faults("  rebuild", rep.RebuildFaults)
	}
	fmt.Fprintf(tw, "CORES BUSY (CPU time ÷ wall time, of %d)\t\t\n", rep.Cores)
	row("  raw atomic batches of 1,000", rep.RawDurableBatchCores, "")
	row(fmt.Sprintf("  ingest, 64 publishers, %d events/request", rep.IngestRequestEvents), rep.IngestCores, "")
	row(fmt.Sprintf("  raw ordered-consumer read (%s)", rep.RawReadVia), rep.RawReadCores, "")
	row("  rebuild", rep.RebuildCores, "")
	// The goals are checked from the figures, not read from the report's "goals": a report
	// written before they were in it shows them too.
	fmt.Fprintln(tw, "GOALS (README → Performance)\t\t")
	goalNames := map[string]string{
		"ingest_ratio": "ingest ratio", "rebuild_ratio": "rebuild ratio", "review_p99_ms": "review query p99",
		"counters_p99_ms": "counters query p99", "rebuild_peak_rss_mb": "peak memory (1M rebuild)",
	}
	for _, g := range rep.CheckGoals() {
		verdict := "not met"
		switch {
		case !g.Measured:
			verdict = "not measured: " + g.Note
		case g.Met:
			verdict = "met"
		}
		fmt.Fprintf(tw, "  %s %s\t%12.2f\t%s\n", goalNames[g.Name], g.Goal, g.Value, verdict)
	}
	fmt.Fprintf(tw, "\n%d cores; %s;\nthe raw read is the faster of the two (%s); the views read over loopback TCP, as serve's read side does\n",
		rep.Cores, rep.DurabilityStatement, rep.RawReadVia)
	return tw.Flush()
}
