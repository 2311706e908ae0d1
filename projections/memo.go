package projections

import (
	"hash/maphash"
)

// A memo is what a follower keeps in memory of its generation's stored keys, so that the hot
// reads of Apply (Fenwick nodes, actor rows, timelines, curated items) cost a map lookup rather
// than a Pebble read. It is a cache, never a source of truth: it always equals what the keys
// say once the batch commits. So
//
//   - the projections change it together with the keys they write, and register a rollback
//     (Tx.onRollback) that undoes the change if the Apply fails;
//   - the runtime throws it away whenever the stored keys may differ from it: a batch that
//     did not commit, a restart of the follower.
//
// A memo started on an empty generation (a build from sequence 1) is complete: it has seen
// every write of the generation, so a key it does not hold does not exist and needs no read.
// A part of the memo that has to forget something (it grew past its bound) stops being
// complete and reads what it misses from Pebble again.
type memo struct {
	fenwick fenwickMemo
	actors  actorMemo    // counters.go
	tl      timelineMemo // counters.go
	curated curationMemo // review.go
}

func newMemo(empty bool) *memo {
	m := &memo{}
	m.fenwick.init(empty)
	m.actors.init(empty)
	m.tl.init(empty)
	m.curated.init(empty)
	return m
}

// firstsMax bounds how many ids the reader's filter of first events takes: past it the filter
// would answer "seen" too often to save anything, so every event is looked up in Pebble (whose
// Bloom filters make a miss cheap there too).
var firstsMax = 2 << 20

// firsts is a filter, kept by a group's reader while it reads the stream from sequence 1, of the
// source+id of every event it decoded: a blocked Bloom filter. An event whose source+id it
// certainly does not hold is the first with that source+id, so a member that started from an
// empty generation knows, with no read, that it never saw it: the duplicate check of nearly
// every event of a build costs a few bit tests in the reader's goroutine rather than a Pebble
// read in each view's. An event it may hold (a duplicate, or a false positive: about 1% at
// firstsMax ids) is looked up in Pebble.
//
// A map of the ids' hashes answered the same, exactly, but held ~40 MB at a million ids for
// as long as the reader ran, and a collector kept under a memory limit runs more often the
// more the heap holds; the filter is 2.5 MB (10 bits an id at firstsMax), one cache line per
// question.
type firsts struct {
	seed   maphash.Seed
	blocks [][8]uint64 // 512 bits each
	n      int         // ids added
}

// firstsProbes is how many bits of its block an id sets: with 10 bits an id, 7 probes keep
// a blocked filter's false positives near 1%.
const firstsProbes = 7

func newFirsts() *firsts {
	bits := firstsMax * 10
	return &firsts{seed: maphash.MakeSeed(), blocks: make([][8]uint64, max(1, bits/512))}
}

// first reports whether (source, id) is certainly new to the filter, and adds it. A nil filter
// knows nothing.
func (fs *firsts) first(source, id string) bool {
	if fs == nil || fs.n >= firstsMax {
		return false
	}
	var h maphash.Hash
	h.SetSeed(fs.seed)
	h.WriteString(source)
	h.WriteByte(0)
	h.WriteString(id)
	x := h.Sum64()
	b := &fs.blocks[(x>>32)*uint64(len(fs.blocks))>>32] // the high half picks the block
	seen := true
	for i := range uint64(firstsProbes) {
		bit := (x + i*(x>>32|1)) & 511 // double hashing within the block
		w, m := bit>>6, uint64(1)<<(bit&63)
		if b[w]&m == 0 {
			seen = false
			b[w] |= m
		}
	}
	if seen {
		return false
	}
	fs.n++
	return true
}
