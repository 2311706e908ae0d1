package projections

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The counters are kept as a Fenwick (binary indexed) tree over calendar days, stored in Pebble:
// node i holds the sum of the deltas of a range of days ending at day i-1, one int64 per counter.
// Adding a delta at a day touches at most fenwickBits+1 nodes; the counters as of a day are the
// sum of at most fenwickBits+1 nodes, each one Get. So both a write (whatever its date: late,
// back-dated events cost the same as today's) and an as_of query are O(log days), a bounded
// number of point reads, and the cost never depends on how many events the ledger holds.
//
// The main tree ('f' keys) holds the days from 1900-01-01 to 2258-11-11. The ledger accepts
// every date of the years 0000 to 9999, so a second tree ('g' keys, outerBits, over the days
// from 0000-01-01) holds the deltas of the dates outside the main tree's range, and a query
// adds both. The outer tree is nearly always empty: a query finds so with one seek and reads
// only the main tree, and the main tree's keys are those it always had.
const (
	fenwickBits = 17
	fenwickSize = 1 << fenwickBits // days: 1900-01-01 + 131072 days reaches 2258
	outerBits   = 22
	outerSize   = 1 << outerBits // days: 0000-01-01 + 4194304 days passes 9999-12-31
	numCounters = 8
)

var (
	fenwickEpoch = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	dayZero      = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	// fenwickOffset is the day (from 0000-01-01) of the main tree's first day, 1900-01-01.
	fenwickOffset = int(daysBetween(dayZero, fenwickEpoch))
)

// fenwickLast is the last day the main tree holds: 2258-11-11.
var fenwickLast = fenwickEpoch.AddDate(0, 0, fenwickSize-1).Format(time.DateOnly)

type vec [numCounters]int64

// daysBetween counts the days from the date at from to the date at t, in whole seconds: a
// time.Duration (t.Sub) stops at about 292 years.
func daysBetween(from, t time.Time) int64 {
	const day = 24 * 60 * 60
	s := t.Unix() - from.Unix()
	d := s / day
	if s%day < 0 {
		d-- // a time before from, not at midnight: the day it falls in
	}
	return d
}

// daysFromEpoch counts the days from 1900-01-01, the main tree's first day, to the date at t.
func daysFromEpoch(t time.Time) int64 { return daysBetween(fenwickEpoch, t) }

// dayIndex maps a date to its day: the days from 0000-01-01, so that every date YYYY-MM-DD
// has one, in calendar order.
func dayIndex(date string) (int, error) {
	t, err := ParseDate(date)
	if err != nil {
		return 0, err
	}
	d := daysBetween(dayZero, t)
	if d < 0 || d >= outerSize {
		return 0, fmt.Errorf("%w: %s is outside the range the counters hold (0000-01-01 to 9999-12-31)", ErrBadDate, date)
	}
	return int(d), nil
}

// clampDay maps an as-of date to a day of the main tree, clamping dates outside its range:
// before its first day nothing of it counts (-1), after its last day all of it does.
func clampDay(date string) (int, error) {
	t, err := ParseDate(date)
	if err != nil {
		return 0, err
	}
	d := daysFromEpoch(t)
	if d < 0 {
		return -1, nil
	}
	return int(min(d, fenwickSize-1)), nil
}

// A node of either tree is named in the memo by an int: the main tree's node i by i, the
// outer tree's by outerNode+i.
const outerNode = 1 << 30

// nodeKey is the Pebble key of a memo node.
func nodeKey(n int) []byte {
	if n >= outerNode {
		return binary.BigEndian.AppendUint32([]byte{'g'}, uint32(n-outerNode))
	}
	return fenwickKey(n)
}

func fenwickKey(i int) []byte {
	return binary.BigEndian.AppendUint32([]byte{'f'}, uint32(i))
}

func decodeVec(b []byte) vec {
	var v vec
	for i := 0; i < numCounters && len(b) >= 8*(i+1); i++ {
		v[i] = int64(binary.BigEndian.Uint64(b[8*i:]))
	}
	return v
}

func encodeVec(v vec) []byte {
	b := make([]byte, 0, 8*numCounters)
	for _, x := range v {
		b = binary.BigEndian.AppendUint64(b, uint64(x))
	}
	return b
}

// fenwickMemo holds the nodes the follower touched: the upper nodes are shared by every date,
// so they are read once and written once per batch, when it is flushed before the commit.
type fenwickMemo struct {
	complete bool // a node not held is zero
	nodes    map[int]*vec
	dirty    map[int]struct{} // written since the last flush
}

func (fm *fenwickMemo) init(empty bool) {
	fm.complete, fm.nodes, fm.dirty = empty, map[int]*vec{}, map[int]struct{}{}
}

// fenwickAdd adds delta to counter c at day.
func fenwickAdd(tx *Tx, day, c int, delta int64) error {
	if delta == 0 {
		return nil
	}
	if err := tx.memo.fenwick.add(tx, day, c, delta); err != nil {
		return err
	}
	tx.onRollback(func() { _ = tx.memo.fenwick.add(tx, day, c, -delta) })
	return nil
}

// add adds delta to counter c at day (from 0000-01-01): in the main tree when the day is in
// its range, else in the outer tree.
func (fm *fenwickMemo) add(tx *Tx, day, c int, delta int64) error {
	i, size, base := day-fenwickOffset+1, fenwickSize, 0
	if i < 1 || i > fenwickSize {
		i, size, base = day+1, outerSize, outerNode
	}
	for ; i <= size; i += i & -i {
		n := base + i
		v := fm.nodes[n]
		if v == nil {
			v = new(vec)
			if !fm.complete {
				b, _, err := tx.Get(nodeKey(n))
				if err != nil {
					return err
				}
				*v = decodeVec(b)
			}
			fm.nodes[n] = v
		}
		v[c] += delta
		fm.dirty[n] = struct{}{}
	}
	return nil
}

// flush writes the nodes changed since the last flush into the batch; a node back at zero is
// deleted, so the tree stays as sparse as the days that have data.
func (fm *fenwickMemo) flush(tx *Tx) error {
	for i := range fm.dirty {
		var w value
		if v := fm.nodes[i]; *v == (vec{}) {
			w.del = true
		} else {
			w.val = encodeVec(*v)
		}
		tx.batch.put(string(cat(tx.prefix, nodeKey(i))), w)
	}
	clear(fm.dirty)
	return nil
}

// fenwickAt sums every delta at days up to the date asOf, from both trees.
func fenwickAt(r *reader, asOf string) (vec, error) {
	var sum vec
	day, err := clampDay(asOf)
	if err != nil {
		return sum, err
	}
	if day >= 0 {
		if sum, err = fenwickPrefix(r, 'f', day); err != nil {
			return sum, err
		}
	}
	used, err := outerUsed(r)
	if err != nil || !used {
		return sum, err
	}
	d, err := dayIndex(asOf)
	if err != nil {
		return sum, err
	}
	outer, err := fenwickPrefix(r, 'g', d)
	for c := range sum {
		sum[c] += outer[c]
	}
	return sum, err
}

// fenwickTotal sums every delta of both trees.
func fenwickTotal(r *reader) (vec, error) {
	sum, err := fenwickPrefix(r, 'f', fenwickSize-1)
	if err != nil {
		return sum, err
	}
	used, err := outerUsed(r)
	if err != nil || !used {
		return sum, err
	}
	outer, err := fenwickPrefix(r, 'g', outerSize-1)
	for c := range sum {
		sum[c] += outer[c]
	}
	return sum, err
}

// outerUsed reports whether the outer tree holds any node: one seek, no key read when not.
func outerUsed(r *reader) (bool, error) {
	used := false
	err := r.Scan([]byte{'g'}, []byte{'h'}, func(_, _ []byte) (bool, error) {
		used = true
		return false, nil
	})
	return used, err
}

// fenwickPrefix sums every delta at index ≤ i of the tree whose keys start with tree.
func fenwickPrefix(r *reader, tree byte, day int) (vec, error) {
	var sum vec
	for i := day + 1; i > 0; i -= i & -i {
		b, ok, err := r.Get(binary.BigEndian.AppendUint32([]byte{tree}, uint32(i)))
		if err != nil {
			return sum, err
		}
		if !ok {
			continue
		}
		v := decodeVec(b)
		for c := range sum {
			sum[c] += v[c]
		}
	}
	return sum, nil
}
