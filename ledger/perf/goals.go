package perf

import "fmt"

// A Goal is one of the goals the ledger's performance is held to (README → Performance), with
// what a run measured of it, so that a run says how far it is from each, not only its figures.
// Flat ingest and query latency as the ledger grows is the goal of `compact bench --scaling`,
// a run of its own, and is not among these.
type Goal struct {
	// Name is the report's field the value is: "ingest_ratio", "rebuild_ratio",
	// "review_p99_ms", "counters_p99_ms", "rebuild_peak_rss_mb".
	Name string `json:"name"`
	// Goal says what the value must be, in the value's unit: "≥ 0.6", "< 5 ms", "< 488 MiB".
	Goal  string  `json:"goal"`
	Value float64 `json:"value"`
	// Measured is false when the run was not of the size the goal is about (the memory of a
	// rebuild from 1,000,000 events, measured by a rebuild of fewer); Met is then false too.
	Measured bool   `json:"measured"`
	Met      bool   `json:"met"`
	Note     string `json:"note,omitempty"`
}

// goalRebuildEvents is the size of the rebuild the memory goal is about.
const goalRebuildEvents = 1_000_000

// goalMemoryMiB is the memory goal, 512 MB (10⁶ bytes), in the MiB the report counts.
const goalMemoryMiB = 512e6 / (1 << 20)

// CheckGoals checks the report's figures against the goals, in the README's order.
func (r *Report) CheckGoals() []Goal {
	atLeast := func(name string, v, want float64) Goal {
		return Goal{Name: name, Goal: fmt.Sprintf("≥ %g", want), Value: v, Measured: true, Met: v >= want}
	}
	under := func(name string, v, want float64, unit string) Goal {
		return Goal{Name: name, Goal: fmt.Sprintf("< %g %s", want, unit), Value: v, Measured: true, Met: v < want}
	}
	mem := Goal{Name: "rebuild_peak_rss_mb", Goal: fmt.Sprintf("< %.0f MiB", goalMemoryMiB), Value: r.RebuildPeakRSSMB,
		Measured: true, Met: r.RebuildPeakRSSMB < goalMemoryMiB,
		Note: "512 MB: the whole process's peak up to the end of the rebuild"}
	if r.RebuildEvents < goalRebuildEvents {
		mem.Measured, mem.Met = false, false
		mem.Note = fmt.Sprintf("the goal is of a rebuild from %d events; this run's was from %d", goalRebuildEvents, r.RebuildEvents)
	}
	return []Goal{
		atLeast("ingest_ratio", r.IngestRatio, 0.6),
		atLeast("rebuild_ratio", r.RebuildRatio, 0.5),
		under("review_p99_ms", r.ReviewP99Ms, 5, "ms"),
		under("counters_p99_ms", r.CountersP99Ms, 1, "ms"),
		mem,
	}
}
