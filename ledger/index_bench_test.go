package ledger

import (
	"fmt"
	"testing"
)

// BenchmarkIndexLookup: the dedup check of a new event (a miss) and of a re-sent one (a hit)
// as the index grows. The cost should stay flat: the Bloom filters answer misses, the cache
// holds the blocks.
//
//	go test ./ledger -run '^$' -bench IndexLookup
func BenchmarkIndexLookup(b *testing.B) {
	for _, size := range []int{10_000, 1_000_000} {
		ix, err := OpenIndex(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		for done := 0; done < size; {
			batch := ix.newBatch()
			for range min(10_000, size-done) {
				done++
				batch.add("/entities/UNODC", fmt.Sprintf("event-%010d", done), uint64(done), "compact.training.delivered")
			}
			if err := batch.commit(uint64(done)); err != nil {
				b.Fatal(err)
			}
		}
		// As after a restart: everything flushed, nothing in the memtable.
		if err := ix.db.Flush(); err != nil {
			b.Fatal(err)
		}
		for _, hit := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%d/hit=%v", size, hit), func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					id := fmt.Sprintf("new-%010d", i)
					if hit {
						id = fmt.Sprintf("event-%010d", 1+(i*7919)%size)
					}
					if _, ok, err := ix.Lookup("/entities/UNODC", id); err != nil || ok != hit {
						b.Fatalf("lookup %s: %v %v", id, ok, err)
					}
				}
			})
		}
		ix.Close()
	}
}
