package projections

import (
	"slices"
	"sort"
)

// An overlay holds every write of the batch, by full key, until the batch is committed. The
// batch itself is a plain Pebble batch, built at the commit, which cannot be read: an indexed
// batch would make every write pay for a skiplist insert that only the rare read of a key
// written earlier in the batch uses. So the overlay must be complete, because a read that
// misses it goes to the DB, which does not see the batch.
//
// The writes of the Apply under way go in too, with an undo log (mark, undo): a failed Apply's
// writes are undone, a successful one's stay, and a read looks in one map, not two.
//
// It also answers the small values the batch read from the DB (cached), so that the hot keys
// are read once per batch; those are what the DB holds, so scans need not merge them.
//
// Holding the writes until the commit has two more effects: a key written by many events of
// the batch (a period's count, the latest date) goes to Pebble once, and the keys go in key
// order: the memtable's skiplist inserts a sorted run in about half the time it takes for
// the same keys in any order, which pays for the sort (measured on a build).
type overlay struct {
	vals   map[string]ovVal
	sorted []string // written keys, in order
	tail   []string // written keys not merged into sorted yet, in the order of their first write
	size   int      // bytes of a Pebble batch of the written keys
	merges int      // merges of tail into sorted so far

	// the Apply under way: what its writes replaced, in order, and the state before its first
	undo     []undoRec
	marked   bool
	markSize int
	markTail int
	markMrg  int
}

// value is a write: a value or a delete.
type value struct {
	val []byte
	del bool
}

type ovVal struct {
	value
	written bool   // false: a value read from the DB, kept to answer the next read
	key     string // the map's key, so that writing a key again costs no string
}

type undoRec struct {
	key  string
	prev ovVal
	had  bool
}

// overlayTailMin is the least tailMax; tests lower it to merge often.
var overlayTailMin = 64

// batchHeader and entryMax are the bytes of a Pebble batch's header and the most an entry's
// kind and varint lengths add to its key and value.
const (
	batchHeader = 12
	entryMax    = 1 + 2*5
)

func (o *overlay) init() { o.vals, o.size = map[string]ovVal{}, batchHeader }

// reset empties the overlay for the next batch, keeping its memory.
func (o *overlay) reset() {
	clear(o.vals)
	clear(o.sorted)
	clear(o.tail)
	clear(o.undo)
	o.sorted, o.tail, o.undo, o.size, o.marked = o.sorted[:0], o.tail[:0], o.undo[:0], batchHeader, false
}

func (o *overlay) get(k string) (ovVal, bool) {
	ov, ok := o.vals[k]
	return ov, ok
}

// put records a write of the batch outside any Apply (the runtime's, the memos' flush).
func (o *overlay) put(k string, v value) {
	old, ok := o.vals[k]
	o.write(k, v, old, ok)
}

func (o *overlay) write(k string, v value, old ovVal, had bool) {
	if had && old.written {
		o.size -= len(old.val)
	} else {
		o.tail = append(o.tail, k)
		o.size += len(k) + entryMax
	}
	o.size += len(v.val)
	o.vals[k] = ovVal{value: v, written: true, key: k}
}

// set records a write of the Apply under way at key kb, undone by rollback.
func (o *overlay) set(kb []byte, v value) {
	if !o.marked {
		o.marked, o.markSize, o.markTail, o.markMrg = true, o.size, len(o.tail), o.merges
	}
	old, had := o.vals[string(kb)]
	k := old.key
	if !had {
		k = string(kb)
	}
	o.undo = append(o.undo, undoRec{key: k, prev: old, had: had})
	o.write(k, v, old, had)
}

// keep ends the Apply under way: its writes stay.
func (o *overlay) keep() {
	clear(o.undo)
	o.undo, o.marked = o.undo[:0], false
}

// rollback undoes every write of the Apply under way.
func (o *overlay) rollback() {
	if !o.marked {
		return
	}
	for i := len(o.undo) - 1; i >= 0; i-- {
		u := &o.undo[i]
		if u.had {
			o.vals[u.key] = u.prev
		} else {
			delete(o.vals, u.key)
		}
	}
	o.size = o.markSize
	if o.merges == o.markMrg {
		clear(o.tail[o.markTail:])
		o.tail = o.tail[:o.markTail]
	} else {
		// a scan merged the Apply's new keys: take out those that are no longer written
		gone := func(k string) bool { return !o.vals[k].written }
		o.sorted = slices.DeleteFunc(o.sorted, gone)
		o.tail = slices.DeleteFunc(o.tail, gone)
	}
	o.keep()
}

// cache records what the DB holds at k, unless the batch wrote k.
func (o *overlay) cache(k string, v value) {
	if old, ok := o.vals[k]; ok && old.written {
		return
	}
	o.vals[k] = ovVal{value: v, key: k}
}

// tailMax is how many unsorted keys a range query filters one by one before it merges them:
// about the square root of the sorted keys, so that a batch that scans after every event pays
// neither a merge nor a long filter each time.
func tailMax(sorted int) int {
	n := overlayTailMin
	for n*n < sorted {
		n *= 2
	}
	return n
}

// merge sorts the tail into sorted.
func (o *overlay) merge() {
	if len(o.tail) == 0 {
		return
	}
	o.merges++
	slices.Sort(o.tail)
	n, m := len(o.sorted), len(o.tail)
	o.sorted = slices.Grow(o.sorted, m)[:n+m]
	// from the end, so that sorted is merged in place
	i, j := n-1, m-1
	for w := n + m - 1; j >= 0; w-- {
		if i >= 0 && o.sorted[i] > o.tail[j] {
			o.sorted[w] = o.sorted[i]
			i--
		} else {
			o.sorted[w] = o.tail[j]
			j--
		}
	}
	clear(o.tail)
	o.tail = o.tail[:0]
}

// written appends the written keys in [lo, hi) to dst, in order.
func (o *overlay) written(dst []string, lo, hi string) []string {
	if len(o.tail) > tailMax(len(o.sorted)) {
		o.merge()
	}
	n := len(dst)
	i := sort.SearchStrings(o.sorted, lo)
	for ; i < len(o.sorted) && o.sorted[i] < hi; i++ {
		dst = append(dst, o.sorted[i])
	}
	merged := len(dst)
	for _, k := range o.tail {
		if k >= lo && k < hi {
			dst = append(dst, k)
		}
	}
	if len(dst) > merged {
		slices.Sort(dst[n:])
	}
	return dst
}

// all returns every written key, in order.
func (o *overlay) all() []string {
	o.merge()
	return o.sorted
}
