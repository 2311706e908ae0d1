package projections

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"compact/ledger"
)

// A group of Fenwick nodes reads back as it was written, whatever its nodes hold (zero, one
// counter, all of them, the extremes of int64), and a group that is all zero has no key.
func TestFenwickGroupRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	extremes := []int64{0, 1, -1, 63, -64, 64, math.MaxInt64, math.MinInt64, 1<<53 - 1, -(1<<53 - 1)}
	for n := range 2000 {
		var in [groupSize]vec
		for k := range in {
			switch r.IntN(3) {
			case 0: // zero
			default:
				for c := range in[k] {
					if r.IntN(3) == 0 {
						in[k][c] = extremes[r.IntN(len(extremes))]
					} else if r.IntN(2) == 0 {
						in[k][c] = r.Int64N(1000) - 500
					}
				}
			}
		}
		b := encodeGroup(&in)
		if in == ([groupSize]vec{}) {
			if b != nil {
				t.Fatalf("case %d: an all-zero group encodes to %x, want nil (its key deleted)", n, b)
			}
			continue
		}
		var out [groupSize]vec
		if err := decodeGroup(b, &out); err != nil {
			t.Fatalf("case %d: %v (%x)", n, err, b)
		}
		if out != in {
			t.Fatalf("case %d: read back %v, wrote %v", n, out, in)
		}
		// every cut of it is refused, never read as another group
		for cut := range len(b) {
			if err := decodeGroup(b[:cut], &out); err == nil {
				t.Fatalf("case %d: %x cut to %d bytes reads as %v", n, b, cut, out)
			}
		}
	}
	var out [groupSize]vec
	if err := decodeGroup([]byte{0, 1, 1, 2, 9}, &out); err == nil {
		t.Fatal("a group with bytes after its last node reads")
	}
}

// The nodes a catch-up batch dirties are written sixteen to a key: 64 documents on 64
// consecutive days (every one of the 64 low nodes, and the nodes above them) write a few keys
// per sixteen days, where a key per node wrote more than one a day.
func TestFenwickNodesAreWrittenSixteenToAKey(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	var evs []ledger.Event
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 64 {
		evs = append(evs, doc(fmt.Sprintf("d%02d", i), day.AddDate(0, 0, i).Format(time.DateOnly)))
	}
	h.wait(v, h.publish(evs...))
	keys := 0
	for k := range dumpView(t, v, ViewCounters) {
		if len(k) > 1 && k[0] == subData && k[1] == 'f' {
			keys++
		}
	}
	// the 64 days' own groups, and one group on each level of the path above them
	if max := 64/groupSize + 1 + fenwickBits; keys > max {
		t.Fatalf("64 days of documents wrote %d Fenwick keys, want at most %d", keys, max)
	}
	c, err := v.Counters(context.Background(), day.AddDate(0, 0, 31).Format(time.DateOnly))
	if err != nil || c.DocumentsShared != 32 {
		t.Fatalf("documents shared as of the 32nd day: %+v (%v), want 32", c, err)
	}
}
