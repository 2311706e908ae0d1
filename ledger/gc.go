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
// a long ledger): near the limit the collector runs as often as it must. Measured with
// `compact bench --quick --rebuild-events 1000000`: peak memory ~415 MB, against ~460 MB with
// Go's defaults (the heap then grows with the build's garbage), and the build a few percent
// faster.
//
// The limit depends on where Pebble keeps its block caches and memtables (the views' 192 MB,
// the dedup index's 64 MB, see pebbleBytes). With cgo they are allocated outside the Go heap,
// so the limit leaves room for them under the 512 MB a node is meant to fit in. Without cgo
// (CGO_ENABLED=0, or no C compiler) Pebble allocates them with make, in the Go heap, where a
// full cache is alive and counts against the limit. A 256 MiB limit was then below what is
// alive during a rebuild: the collector ran without pause, and a rebuild from 1,000,000 events
// took 43 µs of CPU an event instead of 13 (ledger/perf/NOTES.md, thirteenth round). Without
// cgo the limit is therefore the node's whole budget less what the Go runtime does not count
// (the binary's own pages, ~40 MiB).
const (
	defaultGCPercent = 400

	// memoryLimitCgo is the soft limit when Pebble's memory is outside the Go heap.
	memoryLimitCgo = 256 << 20
	// memoryLimitNoCgo is the soft limit when Pebble's memory is in it (512 MB is 488 MiB).
	memoryLimitNoCgo = 448 << 20
)

// Pebble's memory in a ledger process: the views' block cache, which also holds their two
// memtables (package projections sizes its store with it), and the dedup index's cache.
const (
	ViewsPebbleBytes = 192 << 20
	indexCacheBytes  = 64 << 20
	pebbleBytes      = ViewsPebbleBytes + indexCacheBytes
)

// defaultMemoryLimit is the soft limit TuneGC sets in this build.
func defaultMemoryLimit() int64 { return memoryLimit(pebbleInGoHeap) }

// memoryLimit is the soft limit when Pebble's memory is in the Go heap or not.
func memoryLimit(pebbleInGoHeap bool) int64 {
	if pebbleInGoHeap {
		return memoryLimitNoCgo
	}
	return memoryLimitCgo
}

// TuneGC applies the defaults above unless GOGC or GOMEMLIMIT is set. It changes the whole
// process: the commands call it first, and the benchmarks of the whole system (ingest, soak,
// rebuild, queries) at their start, so that `go test -bench` measures under the settings
// `compact bench` reports (tests, which run before benchmarks, keep Go's defaults).
func TuneGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
	debug.SetMemoryLimit(defaultMemoryLimit())
}
