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
const (
	fenwickBits = 17
	fenwickSize = 1 << fenwickBits // days: 1900-01-01 + 131072 days reaches 2258
	numCounters = 8
)

var fenwickEpoch = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// fenwickLast is the last day the tree holds: 2258-11-11.
var fenwickLast = fenwickEpoch.AddDate(0, 0, fenwickSize-1).Format(time.DateOnly)

type vec [numCounters]int64

// daysFromEpoch counts the days from 1900-01-01 to the date at t, in whole seconds: a
// time.Duration (t.Sub) stops at about 292 years, so every date from 2192-04-11 on would be
// one and the same day.
func daysFromEpoch(t time.Time) int64 {
	const day = 24 * 60 * 60
	s := t.Unix() - fenwickEpoch.Unix()
	d := s / day
	if s%day < 0 {
		d-- // a time before the epoch, not at midnight: the day it falls in
	}
	return d
}

// dayIndex maps a date to its day number; dates outside the tree's range are errors, so an
// event dated there is quarantined with a reason rather than counted on another day.
func dayIndex(date string) (int, error) {
	t, err := ParseDate(date)
	if err != nil {
		return 0, err
	}
	d := daysFromEpoch(t)
	if d < 0 || d >= fenwickSize {
		return 0, fmt.Errorf("%w: %s is outside the range the counters hold (1900-01-01 to %s)",
			ErrBadDate, date, fenwickLast)
	}
	return int(d), nil
}

// clampDay maps an as-of date to a day, clamping dates outside the range: before the epoch
// nothing counts (-1), after the end everything does, since no event is counted outside the
// range (dayIndex).
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

func (fm *fenwickMemo) add(tx *Tx, day, c int, delta int64) error {
	for i := day + 1; i <= fenwickSize; i += i & -i {
		v := fm.nodes[i]
		if v == nil {
			v = new(vec)
			if !fm.complete {
				b, _, err := tx.Get(fenwickKey(i))
				if err != nil {
					return err
				}
				*v = decodeVec(b)
			}
			fm.nodes[i] = v
		}
		v[c] += delta
		fm.dirty[i] = struct{}{}
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
		tx.batch.put(string(cat(tx.prefix, fenwickKey(i))), w)
	}
	clear(fm.dirty)
	return nil
}

// fenwickPrefix sums every delta at days ≤ day.
func fenwickPrefix(r *reader, day int) (vec, error) {
	var sum vec
	for i := day + 1; i > 0; i -= i & -i {
		b, ok, err := r.Get(fenwickKey(i))
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
