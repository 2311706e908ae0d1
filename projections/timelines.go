package projections

import (
	"fmt"
	"slices"
	"strings"
	"unique"
)

// The counters view's timelines: the entities' memberships and the focal points, each a
// dated series of states whose transitions become the counters' deltas. A row is an event's
// state from its date on; a change to a series takes back the transitions it had and adds
// the ones it has now, so that the counters end where a rebuild of the series would.

type transition struct {
	At       string
	From, To string
}

func tlPrefix(ns byte, subj string) []byte { return cat([]byte{'t', ns}, enc(subj)) }

// tlRow is one timeline entry: its key suffix (date then seq8) and value. The memo of a long
// ledger holds hundreds of thousands of them, so a row is kept as plain bytes and an interned
// value (a handful of states are shared by every row): no object of its own for the
// collector to mark.
type tlRow struct {
	key [tlKeyLen]byte
	val string
}

// tlKeyLen is the length of a timeline row's key suffix: a date (YYYY-MM-DD) and a sequence.
const tlKeyLen = 10 + 8

// newTLRow makes a row of a key suffix of tlKeyLen bytes (the caller checks) and a value.
func newTLRow(suffix, val string) tlRow {
	r := tlRow{val: unique.Make(val).Value()}
	copy(r.key[:], suffix)
	return r
}

// cmp compares the row's key suffix with k.
func (r tlRow) cmp(k string) int { return strings.Compare(string(r.key[:]), k) }

// date is the row's date.
func (r *tlRow) date() string { return string(r.key[:10]) }

// sameDate reports whether the row is of date d.
func (r *tlRow) sameDate(d string) bool { return string(r.key[:10]) == d }

func loadTimeline(tx *Tx, ns byte, subj string) ([]tlRow, error) {
	return tx.memo.tl.load(tx, ns, subj)
}

// memoMaxRows bounds each of the counters' memos (timelines, actor rows): past it the memo is
// dropped and filled again from Pebble as it is read. A timeline row costs about 40 bytes of
// memory, its subject's entry some 60 more, so the bound keeps each memo well under 70 MB.
var memoMaxRows = 1 << 19

// timelineMemo holds the timelines of the entities and focal points the follower read or wrote.
type timelineMemo struct {
	complete bool
	subj     map[string][]tlRow // ns + subject → rows in key order
	rows     int
}

func (m *timelineMemo) init(empty bool) {
	m.complete, m.subj, m.rows = empty, map[string][]tlRow{}, 0
}

func (m *timelineMemo) load(tx *Tx, ns byte, subj string) ([]tlRow, error) {
	k := string(ns) + subj
	if rows, ok := m.subj[k]; ok || m.complete {
		return rows, nil
	}
	p := tlPrefix(ns, subj)
	var rows []tlRow
	err := tx.Scan(p, prefixEnd(p), func(k, v []byte) (bool, error) {
		if len(k)-len(p) != tlKeyLen {
			return false, fmt.Errorf("counters: timeline key %q is corrupt; run compact rebuild counters", k)
		}
		rows = append(rows, newTLRow(string(k[len(p):]), string(v)))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	m.put(k, rows)
	return rows, nil
}

func (m *timelineMemo) put(k string, rows []tlRow) {
	m.rows += len(rows) - len(m.subj[k])
	if len(rows) == 0 {
		delete(m.subj, k)
	} else {
		m.subj[k] = rows
	}
	if m.rows > memoMaxRows {
		m.init(false)
	}
}

// setRow writes (or, with del, deletes) the row of a subject's timeline with the given key
// suffix in the memo, if the memo holds the subject, and registers how to undo it.
func (m *timelineMemo) setRow(tx *Tx, ns byte, subj, suffix, val string, del bool) {
	k := string(ns) + subj
	if old, had, changed := m.apply(k, suffix, val, del); changed {
		tx.onRollback(func() { m.apply(k, suffix, old, !had) })
	}
}

func (m *timelineMemo) apply(k, suffix, val string, del bool) (old string, had, changed bool) {
	rows, ok := m.subj[k]
	if !ok && !m.complete {
		return "", false, false
	}
	i, found := slices.BinarySearchFunc(rows, suffix, tlRow.cmp)
	if found {
		old = rows[i].val
	}
	switch {
	case del && found:
		rows = slices.Delete(rows, i, i+1)
	case del:
		return "", false, false
	case found:
		rows[i].val = unique.Make(val).Value()
	default:
		rows = slices.Insert(rows, i, newTLRow(suffix, val))
	}
	m.put(k, rows)
	return old, found, true
}

// transitionsOf lists where a subject's state changes: the state at the end of each date is the
// value of its last entry that date.
func transitionsOf(rows []tlRow) []transition {
	var out []transition
	prev := ""
	for i, r := range rows {
		if i+1 < len(rows) && [10]byte(rows[i+1].key[:10]) == [10]byte(r.key[:10]) {
			continue // not the last entry of its date
		}
		if r.val != prev {
			out = append(out, transition{At: r.date(), From: prev, To: r.val})
			prev = r.val
		}
	}
	return out
}

// cancelCommon drops the transitions present in both lists: only the difference is emitted.
func cancelCommon[T comparable](old, new []T) ([]T, []T) {
	var o []T
	n := slices.Clone(new)
	for _, t := range old {
		if i := slices.Index(n, t); i >= 0 {
			n = slices.Delete(n, i, i+1)
			continue
		}
		o = append(o, t)
	}
	return o, n
}

// stateBefore is the state at the end of the last date before index i of rows ("" when none):
// the rows before i are of earlier dates.
func stateBefore(rows []tlRow, i int) string {
	if i == 0 {
		return ""
	}
	return rows[i-1].val
}

// window lists the transitions of a stretch of a timeline: from state prev, the end states
// of the dates given, in order.
func window(prev string, dates, states []string) []transition {
	var out []transition
	for i, d := range dates {
		if states[i] != prev {
			out = append(out, transition{At: d, From: prev, To: states[i]})
			prev = states[i]
		}
	}
	return out
}

// timelineChange adds or takes back an entry of a subject's timeline and emits what changes in
// its transitions.
func (p *countersView) timelineChange(tx *Tx, e tlEntry, add bool) error {
	rows, err := loadTimeline(tx, e.NS, e.Subj)
	if err != nil {
		return err
	}
	suffix := e.At + string(u64(e.Seq))
	if len(suffix) != tlKeyLen {
		return invalid("/date", "%q is not a date (YYYY-MM-DD)", e.At)
	}
	old, now, changed := timelineDelta(rows, e.At, suffix, e.Val, add)
	if !changed {
		return nil
	}
	k := cat(tlPrefix(e.NS, e.Subj), []byte(suffix))
	if add {
		err = tx.setOwn(k, []byte(e.Val))
	} else {
		err = tx.Delete(k)
	}
	if err != nil {
		return err
	}
	tx.memo.tl.setRow(tx, e.NS, e.Subj, suffix, e.Val, !add)
	for _, t := range old {
		if err := p.emit(tx, e.NS, t, -1); err != nil {
			return err
		}
	}
	for _, t := range now {
		if err := p.emit(tx, e.NS, t, +1); err != nil {
			return err
		}
	}
	return nil
}

// timelineDelta says what adding (or taking back) the entry with key suffix and value val at
// date changes in the transitions of a timeline: the transitions to take back and to add.
// An entry at a date changes only the state at the end of that date, so only the transitions
// at that date and at the next date with entries can change: only those are computed, from the
// state before the date. rows is not changed.
func timelineDelta(rows []tlRow, date, suffix, val string, add bool) (old, now []transition, changed bool) {
	lo, _ := slices.BinarySearchFunc(rows, date, tlRow.cmp)
	hi := lo
	for hi < len(rows) && rows[hi].sameDate(date) {
		hi++
	}
	i, found := slices.BinarySearchFunc(rows[lo:hi], suffix, tlRow.cmp)
	i += lo
	if !add && !found {
		return nil, nil, false
	}
	// the state at the end of the date, before and after the change
	var oldDates, oldStates, newDates, newStates []string
	if hi > lo {
		oldDates, oldStates = append(oldDates, date), append(oldStates, rows[hi-1].val)
	}
	switch last := hi - 1; {
	case add && (i == hi || (found && i == last)):
		newDates, newStates = append(newDates, date), append(newStates, val) // the entry ends the date
	case add || (found && i != last):
		newDates, newStates = append(newDates, date), append(newStates, rows[last].val)
	case last > lo: // the date's last entry goes: the one before it ends the date
		newDates, newStates = append(newDates, date), append(newStates, rows[last-1].val)
	}
	if hi < len(rows) {
		next := rows[hi].date()
		end := hi
		for end+1 < len(rows) && rows[end+1].sameDate(next) {
			end++
		}
		oldDates, oldStates = append(oldDates, next), append(oldStates, rows[end].val)
		newDates, newStates = append(newDates, next), append(newStates, rows[end].val)
	}
	prev := stateBefore(rows, lo)
	old, now = cancelCommon(window(prev, oldDates, oldStates), window(prev, newDates, newStates))
	return old, now, true
}

// emit turns a subject's state change into counter deltas.
func (p *countersView) emit(tx *Tx, ns byte, t transition, sign int64) error {
	day, err := dayIndex(t.At)
	if err != nil {
		return err
	}
	if ns == 'e' {
		from, to := t.From == "member", t.To == "member"
		if from != to {
			return fenwickAdd(tx, day, cEntities, sign*b2i(to))
		}
		return nil
	}
	from, to := t.From != "", t.To != ""
	if from != to {
		if err := fenwickAdd(tx, day, cFocalPoints, sign*b2i(to)); err != nil {
			return err
		}
	}
	if countable(t.From) {
		if err := p.actorAdd(tx, t.From, t.At, -sign); err != nil {
			return err
		}
	}
	if countable(t.To) {
		if err := p.actorAdd(tx, t.To, t.At, sign); err != nil {
			return err
		}
	}
	return nil
}

func b2i(up bool) int64 {
	if up {
		return 1
	}
	return -1
}

func countable(v string) bool {
	return len(v) > 2 && (v[:2] == "s:" || v[:2] == "o:")
}
