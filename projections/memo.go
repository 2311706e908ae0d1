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

// firstsMax bounds the reader's set of the events it saw: past it, every event is looked up
// in Pebble (a bloom filter makes a miss cheap there too).
var firstsMax = 2 << 20

// firsts is the set, kept by a group's reader while it reads the stream from sequence 1, of the
// source+id (hashed) of every event it decoded. An event whose hash it did not hold yet is the
// first with that source+id, so a member that started from an empty generation knows, with no
// read, that it never saw it: the duplicate check of nearly every event of a build costs a map
// lookup in the reader's goroutine rather than a Pebble read in each view's. A hash it held
// (a duplicate, or a collision) is looked up in Pebble.
//
// The reader drops the set when it reaches the head of the stream: from there events come a
// few at a time and a Pebble lookup (a Bloom filter answers it for a new id) costs little,
// while the set of a long ledger's ids (~40 MB at a million) would stay in the heap for the
// life of the process, and a collector kept under a memory limit runs more often the more
// the heap holds.
type firsts struct {
	seed maphash.Seed
	set  map[uint64]struct{}
}

func newFirsts(expect uint64) *firsts {
	return &firsts{seed: maphash.MakeSeed(), set: make(map[uint64]struct{}, min(expect, uint64(firstsMax)))}
}

// first reports whether (source, id) is new to the set, and adds it. A nil set knows nothing.
func (fs *firsts) first(source, id string) bool {
	if fs == nil || len(fs.set) >= firstsMax {
		return false
	}
	var h maphash.Hash
	h.SetSeed(fs.seed)
	h.WriteString(source)
	h.WriteByte(0)
	h.WriteString(id)
	k := h.Sum64()
	if _, ok := fs.set[k]; ok {
		return false
	}
	fs.set[k] = struct{}{}
	return true
}
