package ledger

import (
	"os"
	"runtime/debug"
)

// The garbage collector's defaults for a ledger process (compact serve and compact bench, and
// the Go benchmarks, see TuneGC), unless the standard GOGC or GOMEMLIMIT environment variables
// say otherwise.
//
// Every event allocates a few kilobytes on its way through (the request, the decoded event,
// the messages of the atomic batch, the server's copies) while the heap that stays alive is
// small. With Go's default GOGC=100 the collector then runs every few tens of megabytes, many
// times a second, and its mark phase takes CPU from the server's commit path on a 2-core
// machine. GOGC=400 lets the heap grow to five times what is alive before a cycle; the soft
// limit keeps the process within its memory budget when what is alive is large (a rebuild of
// a long ledger): near the limit the collector runs as often as it must. Pebble's block caches
// (the views' 192 MB and the dedup index's 64 MB at most) are allocated outside the Go heap
// when cgo is on, so the limit leaves room for them under the 512 MB a node is meant to fit
// in. Measured with `compact bench --quick --rebuild-events 1000000`: peak memory ~415 MB,
// against ~460 MB with Go's defaults (the heap then grows with the build's garbage), and the
// build a few percent faster.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 256 << 20
)

// TuneGC applies the defaults above unless GOGC or GOMEMLIMIT is set. It changes the whole
// process: the commands call it first, and the benchmarks of the whole system (ingest, soak,
// rebuild, queries) at their start, so that `go test -bench` measures under the settings
// `compact bench` reports (tests, which run before benchmarks, keep Go's defaults).
func TuneGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
	debug.SetMemoryLimit(defaultMemoryLimit)
}
