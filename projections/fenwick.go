package projections

import (
	"encoding/binary"
	"errors"
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

// The nodes are stored sixteen to a key: node i of a tree in the group i>>groupBits, key tree
// byte + the group's number (u32). A catch-up batch of events dated all over the years dirties
// most low nodes of the days it covers, and a key a node wrote that many keys, each a memtable
// insert, a log record and its share of flushes and compactions: a rebuild from 1M events wrote
// 0.58 nodes an event (ledger/perf/NOTES.md, ninth round). Sixteen to a key, a batch writes a
// few per group of sixteen days. A group keeps only its nodes that are not zero, and of those
// the counters that are not (groupCodec): a node is eight int64, mostly zero.
const (
	groupBits = 4
	groupSize = 1 << groupBits
)

// groupKey is the Pebble key of group g of tree ('f' the main tree, 'g' the outer one).
func groupKey(tree byte, g int) []byte {
	return binary.BigEndian.AppendUint32([]byte{tree}, uint32(g))
}

// nodeGroupKey is the Pebble key of the group of memo node n.
func nodeGroupKey(n int) []byte {
	if n >= outerNode {
		return groupKey('g', (n-outerNode)>>groupBits)
	}
	return groupKey('f', n>>groupBits)
}

// encodeGroup encodes the nodes of a group: a u16 mask of the nodes that are not zero, then for
// each of them a byte mask of its counters that are not zero and their zigzag varints. An
// all-zero group encodes to nil: its key is deleted.
func encodeGroup(nodes *[groupSize]vec) []byte {
	var mask uint16
	for k, v := range nodes {
		if v != (vec{}) {
			mask |= 1 << k
		}
	}
	if mask == 0 {
		return nil
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+4*groupSize), mask)
	for k, v := range nodes {
		if mask&(1<<k) == 0 {
			continue
		}
		at := len(b)
		b = append(b, 0)
		for c, x := range v {
			if x != 0 {
				b[at] |= 1 << c
				b = binary.AppendVarint(b, x)
			}
		}
	}
	return b
}

// decodeGroup decodes what encodeGroup wrote into dst (every node, zero where absent).
func decodeGroup(b []byte, dst *[groupSize]vec) error {
	*dst = [groupSize]vec{}
	if len(b) < 2 {
		return fmt.Errorf("a Fenwick group of %d bytes", len(b))
	}
	mask := binary.BigEndian.Uint16(b)
	b = b[2:]
	for k := range groupSize {
		if mask&(1<<k) == 0 {
			continue
		}
		if len(b) == 0 {
			return errors.New("a Fenwick group cut short")
		}
		cm := b[0]
		b = b[1:]
		for c := range numCounters {
			if cm&(1<<c) == 0 {
				continue
			}
			x, n := binary.Varint(b)
			if n <= 0 {
				return errors.New("a Fenwick group with a bad varint")
			}
			dst[k][c], b = x, b[n:]
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("a Fenwick group with %d bytes too many", len(b))
	}
	return nil
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

// fenwickMemo holds the nodes the follower touched, a group at a time: the upper nodes are
// shared by every date, so they are read once and written once per batch, when it is flushed
// before the commit. The main tree's groups are held in a slice indexed by group (8,193 of them,
// a pointer each): every event that counts touches up to fenwickBits+1 nodes, and a map lookup
// for each was a tenth of a microsecond an event of a build. The outer tree, nearly always empty,
// keeps a map.
type fenwickMemo struct {
	complete bool // a node not held is zero
	main     []*nodeGroup
	outer    map[int]*nodeGroup // by group number (n-outerNode)>>groupBits
	dirty    []int              // first memo node of each group written since the last flush
}

// nodeGroup is a group of nodes as the memo holds it.
type nodeGroup struct {
	nodes [groupSize]vec
	dirty bool // in fenwickMemo.dirty
}

func (fm *fenwickMemo) init(empty bool) {
	fm.complete, fm.main, fm.outer, fm.dirty = empty, make([]*nodeGroup, fenwickSize>>groupBits+1), map[int]*nodeGroup{}, nil
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
	var g *nodeGroup
	at := -1
	for ; i <= size; i += i & -i {
		n := base + i
		if first := n &^ (groupSize - 1); first != at {
			var err error
			if g, err = fm.group(tx, first); err != nil {
				return err
			}
			at = first
			if !g.dirty {
				g.dirty = true
				fm.dirty = append(fm.dirty, first)
			}
		}
		g.nodes[n&(groupSize-1)][c] += delta
	}
	return nil
}

// group returns the group whose first memo node is first, reading it when the memo does not
// hold it.
func (fm *fenwickMemo) group(tx *Tx, first int) (*nodeGroup, error) {
	var slot **nodeGroup
	if first < outerNode {
		slot = &fm.main[first>>groupBits]
	} else if g := fm.outer[(first-outerNode)>>groupBits]; g != nil {
		return g, nil
	}
	if slot != nil && *slot != nil {
		return *slot, nil
	}
	g := new(nodeGroup)
	if !fm.complete {
		b, ok, err := tx.Get(nodeGroupKey(first))
		if err != nil {
			return nil, err
		}
		if ok {
			if err := decodeGroup(b, &g.nodes); err != nil {
				return nil, fmt.Errorf("counters: %w; run compact rebuild counters", err)
			}
		}
	}
	if slot != nil {
		*slot = g
	} else {
		fm.outer[(first-outerNode)>>groupBits] = g
	}
	return g, nil
}

// flush writes the groups changed since the last flush into the batch; a group back at zero is
// deleted, so the tree stays as sparse as the days that have data.
func (fm *fenwickMemo) flush(tx *Tx) error {
	for _, first := range fm.dirty {
		g, err := fm.group(tx, first)
		if err != nil {
			return err
		}
		g.dirty = false
		var w value
		if w.val = encodeGroup(&g.nodes); w.val == nil {
			w.del = true
		}
		tx.batch.put(string(cat(tx.prefix, nodeGroupKey(first))), w)
	}
	fm.dirty = fm.dirty[:0]
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

// fenwickPrefix sums every delta at index ≤ i of the tree whose keys start with tree. The nodes
// it sums fall in at most fenwickBits+1 groups, and the nodes of one group come one after the
// other: each group is read once.
func fenwickPrefix(r *reader, tree byte, day int) (vec, error) {
	var sum vec
	var g [groupSize]vec
	at := -1 // the group in g
	for i := day + 1; i > 0; i -= i & -i {
		if i>>groupBits != at {
			at = i >> groupBits
			b, ok, err := r.Get(groupKey(tree, at))
			if err != nil {
				return sum, err
			}
			if !ok {
				g = [groupSize]vec{}
			} else if err := decodeGroup(b, &g); err != nil {
				return sum, fmt.Errorf("counters: %w; run compact rebuild counters", err)
			}
		}
		v := &g[i&(groupSize-1)]
		for c := range sum {
			sum[c] += v[c]
		}
	}
	return sum, nil
}
