package projections

import (
	"encoding/binary"
	"fmt"
	"slices"
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

type vec [numCounters]int64

// dayIndex maps a date to its day number; dates outside the tree's range are errors.
func dayIndex(date string) (int, error) {
	t, err := ParseDate(date)
	if err != nil {
		return 0, err
	}
	d := int(t.Sub(fenwickEpoch).Hours() / 24)
	if d < 0 || d >= fenwickSize {
		return 0, fmt.Errorf("%w: %s is outside the range the counters hold (1900-01-01 to %s)",
			ErrBadDate, date, fenwickEpoch.AddDate(0, 0, fenwickSize-1).Format(time.DateOnly))
	}
	return d, nil
}

// clampDay maps an as-of date to a day, clamping dates outside the range: before the epoch
// nothing counts (-1), after the end everything does.
func clampDay(date string) (int, error) {
	t, err := ParseDate(date)
	if err != nil {
		return 0, err
	}
	d := int(t.Sub(fenwickEpoch).Hours() / 24)
	if d < 0 {
		return -1, nil
	}
	return min(d, fenwickSize-1), nil
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

// fenwickCache holds the nodes a batch touched: the upper nodes are shared by every date, so a
// batch reads each once and writes each once, when it is flushed before the commit. It lives
// and dies with its Tx, so a batch redone after a quarantine starts from the stored nodes.
type fenwickCache map[int]*vec

// fenwickAdd adds delta to counter c at day.
func fenwickAdd(tx *Tx, day, c int, delta int64) error {
	if delta == 0 {
		return nil
	}
	if tx.fenwick == nil {
		tx.fenwick = fenwickCache{}
	}
	for i := day + 1; i <= fenwickSize; i += i & -i {
		v := tx.fenwick[i]
		if v == nil {
			b, _, err := tx.Get(fenwickKey(i))
			if err != nil {
				return err
			}
			d := decodeVec(b)
			v = &d
			tx.fenwick[i] = v
		}
		v[c] += delta
	}
	return nil
}

// flush writes the touched nodes in key order; a node back at zero is deleted, so the tree
// stays as sparse as the days that have data.
func (fc fenwickCache) flush(tx *Tx) error {
	idx := make([]int, 0, len(fc))
	for i := range fc {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		var err error
		if v := fc[i]; *v == (vec{}) {
			err = tx.Delete(fenwickKey(i))
		} else {
			err = tx.Set(fenwickKey(i), encodeVec(*v))
		}
		if err != nil {
			return err
		}
	}
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
