package projections

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A group of Fenwick nodes reads back as it was written, whatever its nodes hold (zero, one
// counter, all of them, the extremes of int64), and a group that is all zero has no key.
func TestFenwickGroupRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	extremes := []int64{0, 1, -1, 63, -64, 64, math.MaxInt64, math.MinInt64, 1<<53 - 1, -(1<<53 - 1)}
	for n := range 2000 {
		var in [groupSize]vec
		var ptrs [groupSize]*vec
		for k := range in {
			switch r.IntN(4) {
			case 0: // absent from the memo: zero
				continue
			case 1: // held, zero
			default:
				for c := range in[k] {
					if r.IntN(3) == 0 {
						in[k][c] = extremes[r.IntN(len(extremes))]
					} else if r.IntN(2) == 0 {
						in[k][c] = r.Int64N(1000) - 500
					}
				}
			}
			ptrs[k] = &in[k]
		}
		b := encodeGroup(&ptrs)
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
