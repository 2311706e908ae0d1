package projections

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestActorSeriesChange checks the block-skipping step computation against the definition: the
// indicator steps of the whole series before and after a change, by brute force. The series
// goes through thousands of random changes (negative running sums included, as when a
// correction first takes a focal point back), over enough dates for many blocks.
func TestActorSeriesChange(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s actorSeries
	ref := map[int32]int64{} // day → n
	steps := func(rows map[int32]int64) map[int]int64 {
		out := map[int]int64{}
		var sum int64
		for day := int32(0); day < 3000; day++ {
			n, ok := rows[day]
			if !ok {
				continue
			}
			if st := indicator(sum+n) - indicator(sum); st != 0 {
				out[int(day)] = st
			}
			sum += n
		}
		return out
	}
	for i := range 6000 {
		day := int32(r.IntN(3000))
		if i%3 == 0 && len(ref) > 0 { // often where a row is
			for d := range ref {
				day = d
				break
			}
		}
		delta := int64(1)
		if r.IntN(3) == 0 {
			delta = -1
		}
		if r.IntN(20) == 0 {
			delta *= int64(1 + r.IntN(4))
		}
		before := steps(ref)
		old, now := s.change(day, delta)
		ref[day] += delta
		if ref[day] == 0 {
			delete(ref, day)
		}
		after := steps(ref)
		got := maps.Clone(before)
		for _, st := range old {
			got[st.day] -= st.v
		}
		for _, st := range now {
			got[st.day] += st.v
		}
		maps.DeleteFunc(got, func(_ int, v int64) bool { return v == 0 })
		if !maps.Equal(got, after) {
			t.Fatalf("change %d: %+d at day %d: steps %v, want %v", i, delta, day, got, after)
		}
		var date [10]byte
		s.add(date, day, delta)
		if s.rows != len(ref) {
			t.Fatalf("change %d: the series holds %d rows, want %d", i, s.rows, len(ref))
		}
	}
	if len(s.blocks) < 10 {
		t.Fatalf("the series has %d blocks: the test did not exercise block skipping", len(s.blocks))
	}
}

// TestTimelineDelta checks the local transition computation against the definition: the
// transitions of the whole timeline before and after each change, by brute force, over
// thousands of random additions, updates and removals on few dates (many entries a date).
func TestTimelineDelta(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 1))
	var rows []tlRow
	vals := []string{"", "s:MAR", "s:NGA", "o:OSCE"}
	net := func(ts []transition, sign int, into map[transition]int) {
		for _, tr := range ts {
			into[tr] += sign
		}
	}
	for i := range 5000 {
		date := fmt.Sprintf("2025-01-%02d", 1+r.IntN(9))
		seq := uint64(r.IntN(40))
		if r.IntN(3) == 0 && len(rows) > 0 { // often an entry that is there
			row := rows[r.IntN(len(rows))]
			date, seq = row.date(), binary.BigEndian.Uint64(row.key[10:])
		}
		suffix := date + string(u64(seq))
		val := vals[r.IntN(len(vals))]
		add := r.IntN(3) > 0
		before := transitionsOf(rows)
		old, now, changed := timelineDelta(rows, date, suffix, val, add)
		j, found := slices.BinarySearchFunc(rows, suffix, tlRow.cmp)
		switch {
		case add && found:
			rows[j].val = val
		case add:
			rows = slices.Insert(rows, j, newTLRow(suffix, val))
		case found:
			rows = slices.Delete(rows, j, j+1)
		}
		if changed != (add || found) {
			t.Fatalf("change %d: changed %v for add %v of an entry there %v", i, changed, add, found)
		}
		want := map[transition]int{}
		net(transitionsOf(rows), 1, want)
		net(before, -1, want)
		got := map[transition]int{}
		net(now, 1, got)
		net(old, -1, got)
		maps.DeleteFunc(want, func(_ transition, n int) bool { return n == 0 })
		maps.DeleteFunc(got, func(_ transition, n int) bool { return n == 0 })
		if !maps.Equal(got, want) {
			t.Fatalf("change %d (add %v %q=%q): transitions %v, want %v", i, add, suffix, val, got, want)
		}
	}
}
