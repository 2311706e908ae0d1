package ledger

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

// rebuildLive is what a rebuild of a long ledger keeps alive in the Go heap besides Pebble's
// memory (the views' memos, the batch in hand, the server's buffers): ~46 MB measured at
// 1,000,000 events (README, Memory), rounded up.
const rebuildLive = 64 << 20

// TestTuneGCLeavesRoomForPebble holds alive what a rebuild holds at most in the Go heap
// (Pebble's full caches and memtables when they are in it, and the rebuild's own) under the
// collector's settings for each kind of build, and asks the runtime for its heap goal: the
// collector starts a cycle when the heap reaches it, so the room between it and what is alive
// is the garbage a rebuild (~3 KB an event) makes between two cycles. With no room the
// collector runs without pause: a rebuild three times slower when built without cgo. Both
// kinds are tested in one build, whichever it is: a build without cgo compiles every
// dependency again, two minutes of CI on two cores.
func TestTuneGCLeavesRoomForPebble(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	prevPercent, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	})
	TuneGC()
	if got := debug.SetMemoryLimit(-1); got != defaultMemoryLimit() {
		t.Fatalf("TuneGC set a soft limit of %d MiB, want %d (Pebble in the Go heap: %v)", got>>20, defaultMemoryLimit()>>20, pebbleInGoHeap)
	}

	for _, inHeap := range []bool{false, true} {
		debug.SetMemoryLimit(memoryLimit(inHeap))
		alive := int64(rebuildLive)
		if inHeap {
			alive += pebbleBytes
		}
		const chunk = 1 << 20
		held := make([][]byte, 0, alive/chunk)
		for range alive / chunk {
			b := make([]byte, chunk)
			b[0] = 1 // touched, as Pebble's blocks are
			held = append(held, b)
		}
		runtime.GC()
		m := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
		metrics.Read(m)
		runtime.KeepAlive(held)
		goal, live := int64(m[0].Value.Uint64()), int64(m[1].Value.Uint64())
		room := goal - live
		t.Logf("Pebble in the Go heap: %v; soft limit %d MiB; %d MiB alive; heap goal %d MiB: %d MiB of room",
			inHeap, memoryLimit(inHeap)>>20, live>>20, goal>>20, room>>20)
		if room < 64<<20 {
			t.Errorf("Pebble in the Go heap: %v: with %d MiB alive under a soft limit of %d MiB the collector's heap goal is %d MiB: %d MiB of room above what is alive, want at least 64",
				inHeap, live>>20, memoryLimit(inHeap)>>20, goal>>20, room>>20)
		}
		held = nil
		runtime.GC()
	}
}
