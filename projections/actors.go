package projections

import (
	"fmt"
	"slices"
)

// The counters' actors: member_states and organizations count the states and organizations
// with at least one active focal point. Each actor keeps rows (a enc(actor) <date> → the net
// change of its active focal points that day); its indicator "active ≥ 1" steps up (+1) or down
// (-1) where the running sum of its rows crosses 1, and those steps are what the Fenwick tree
// holds for the counter.
//
// Adding δ at date d shifts the running sum of every row from d on by δ, so only a step at or
// after d can change, and only where the old running sum, before or after a row, lies in the
// window where "x ≥ 1" and "x+δ ≥ 1" differ. The memo keeps an actor's rows in blocks with the
// lowest and highest running sum inside each, so a change skips every block the window cannot
// touch: adding a focal point to a state active for years costs a few block sums, not a walk
// over every date since.

// actorRow is one date of an actor's rows.
type actorRow struct {
	date [10]byte
	day  int32
	n    int64
}

// actorBlock is a run of consecutive rows with its sum and the lowest and highest running sum
// after each of its rows, counted from 0 at its start.
type actorBlock struct {
	rows     []actorRow
	sum      int64
	min, max int64
}

// actorBlockMax is how many rows a block holds before it splits in two.
const actorBlockMax = 128

func (b *actorBlock) recount() {
	b.sum, b.min, b.max = 0, 0, 0
	for i, r := range b.rows {
		b.sum += r.n
		if i == 0 || b.sum < b.min {
			b.min = b.sum
		}
		if i == 0 || b.sum > b.max {
			b.max = b.sum
		}
	}
}

// actorSeries is an actor's rows in date order, in blocks.
type actorSeries struct {
	blocks []*actorBlock
	rows   int
}

// find returns where day is or would go: block index and row index within it.
func (s *actorSeries) find(day int32) (bi, ri int, found bool) {
	bi, _ = slices.BinarySearchFunc(s.blocks, day, func(b *actorBlock, d int32) int {
		return int(b.rows[len(b.rows)-1].day - d)
	})
	if bi == len(s.blocks) {
		if bi == 0 {
			return 0, 0, false
		}
		bi--
		return bi, len(s.blocks[bi].rows), false
	}
	ri, found = slices.BinarySearchFunc(s.blocks[bi].rows, day, func(r actorRow, d int32) int { return int(r.day - d) })
	return bi, ri, found
}

// add adds delta to the row of a date, creating or dropping the row as its value leaves or
// reaches 0.
func (s *actorSeries) add(date [10]byte, day int32, delta int64) {
	bi, ri, found := s.find(day)
	if len(s.blocks) == 0 {
		s.blocks = []*actorBlock{{}}
	}
	b := s.blocks[bi]
	if !found {
		b.rows = slices.Insert(b.rows, ri, actorRow{date: date, day: day})
		s.rows++
	}
	b.rows[ri].n += delta
	if b.rows[ri].n == 0 {
		b.rows = slices.Delete(b.rows, ri, ri+1)
		s.rows--
	}
	switch {
	case len(b.rows) == 0:
		s.blocks = slices.Delete(s.blocks, bi, bi+1)
	case len(b.rows) > actorBlockMax:
		half := &actorBlock{rows: slices.Clone(b.rows[len(b.rows)/2:])}
		b.rows = slices.Clip(b.rows[:len(b.rows)/2])
		half.recount()
		s.blocks = slices.Insert(s.blocks, bi+1, half)
		fallthrough
	default:
		b.recount()
	}
}

// indicator is whether an actor with x active focal points counts.
func indicator(x int64) int64 {
	if x >= 1 {
		return 1
	}
	return 0
}

// actorStep is a change of an actor's indicator at a day.
type actorStep struct {
	day int
	v   int64
}

// change lists what adding delta at day does to the actor's indicator steps: the steps to take
// back and the steps to add. The series itself is not changed.
func (s *actorSeries) change(day int32, delta int64) (old, now []actorStep) {
	// the window of running sums whose indicator delta flips
	lo, hi := 1-delta, int64(0)
	if delta < 0 {
		lo, hi = 1, -delta
	}
	in := func(x int64) bool { return x >= lo && x <= hi }
	emit := func(d int32, so, sn int64) {
		if so != sn {
			if so != 0 {
				old = append(old, actorStep{int(d), so})
			}
			if sn != 0 {
				now = append(now, actorStep{int(d), sn})
			}
		}
	}
	bi, ri, found := s.find(day)
	var sum int64
	for _, b := range s.blocks[:bi] {
		sum += b.sum
	}
	if bi < len(s.blocks) {
		for _, r := range s.blocks[bi].rows[:ri] {
			sum += r.n
		}
	}
	// the row at day: the running sum before it does not move; the row holds n before and
	// n+delta after (no row is 0)
	var n, so, sn int64
	if found {
		n = s.blocks[bi].rows[ri].n
		so = indicator(sum+n) - indicator(sum)
		ri++
	}
	if n+delta != 0 {
		sn = indicator(sum+n+delta) - indicator(sum)
	}
	emit(day, so, sn)
	sum += n
	// every later row: before and after both move by delta
	for ; bi < len(s.blocks); bi, ri = bi+1, 0 {
		b := s.blocks[bi]
		if ri == 0 && (sum+min(0, b.min) > hi || sum+max(0, b.max) < lo) {
			sum += b.sum
			continue // no running sum in this block can flip
		}
		for _, r := range b.rows[ri:] {
			if in(sum) || in(sum+r.n) {
				emit(r.day, indicator(sum+r.n)-indicator(sum), indicator(sum+r.n+delta)-indicator(sum+delta))
			}
			sum += r.n
		}
	}
	return old, now
}

// actorMemo holds the rows of the actors the follower read or wrote.
type actorMemo struct {
	complete bool
	actors   map[string]*actorSeries
	rows     int
}

func (m *actorMemo) init(empty bool) {
	m.complete, m.actors, m.rows = empty, map[string]*actorSeries{}, 0
}

func (m *actorMemo) load(tx *Tx, actor string) (*actorSeries, error) {
	if s, ok := m.actors[actor]; ok {
		return s, nil
	}
	s := &actorSeries{}
	if !m.complete {
		pre := cat([]byte{'a'}, enc(actor))
		err := tx.Scan(pre, prefixEnd(pre), func(k, v []byte) (bool, error) {
			date := k[len(pre):]
			day, err := dayIndex(string(date))
			if err != nil {
				return false, fmt.Errorf("counters: actor row %q is corrupt (%v); run compact rebuild counters", k, err)
			}
			r := actorRow{day: int32(day), n: int64(getU64(v))}
			copy(r.date[:], date)
			if len(s.blocks) == 0 || len(s.blocks[len(s.blocks)-1].rows) == actorBlockMax/2 {
				s.blocks = append(s.blocks, &actorBlock{})
			}
			b := s.blocks[len(s.blocks)-1]
			b.rows = append(b.rows, r)
			s.rows++
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		for _, b := range s.blocks {
			b.recount()
		}
	}
	m.actors[actor] = s
	m.rows += s.rows
	if m.rows > memoMaxRows {
		m.init(false)
	}
	return s, nil
}

// add changes an actor's row in the memo, if the memo holds the actor.
func (m *actorMemo) add(actor string, date [10]byte, day int32, delta int64) {
	s, ok := m.actors[actor]
	if !ok {
		if !m.complete {
			return
		}
		s = &actorSeries{}
		m.actors[actor] = s
	}
	before := s.rows
	s.add(date, day, delta)
	m.rows += s.rows - before
	if m.rows > memoMaxRows {
		m.init(false)
	}
}

// actorAdd adds delta to an actor's active focal points from date at on.
func (p *countersView) actorAdd(tx *Tx, actor, at string, delta int64) error {
	s, err := tx.memo.actors.load(tx, actor)
	if err != nil {
		return err
	}
	d, err := dayIndex(at)
	if err != nil {
		return err
	}
	day := int32(d)
	var date [10]byte
	copy(date[:], at)
	bi, ri, found := s.find(day)
	var n int64
	if found {
		n = s.blocks[bi].rows[ri].n
	}
	old, now := s.change(day, delta)
	k := cat([]byte{'a'}, enc(actor), []byte(at))
	if n+delta == 0 {
		err = tx.Delete(k)
	} else {
		err = tx.setOwn(k, u64(uint64(n+delta)))
	}
	if err != nil {
		return err
	}
	tx.memo.actors.add(actor, date, day, delta)
	tx.onRollback(func() { tx.memo.actors.add(actor, date, day, -delta) })
	c := cMemberStates
	if actor[0] == 'o' {
		c = cOrganizations
	}
	for _, st := range old {
		if err := fenwickAdd(tx, st.day, c, -st.v); err != nil {
			return err
		}
	}
	for _, st := range now {
		if err := fenwickAdd(tx, st.day, c, st.v); err != nil {
			return err
		}
	}
	return nil
}
