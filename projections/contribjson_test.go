package projections

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestMarshalContributionLikeJSON: the counters' encoder of contributions writes exactly what
// json.Marshal writes, plain strings or not.
func TestMarshalContributionLikeJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	strs := []string{"", "2025-05-01", "UNODC", "s:MAR", "o:AU", "x:entity:CTED", "member", "a b",
		`q"uote`, `back\slash`, "<b>", "a&b", "tab\t", "é", "\xff", "\u2028", "\x7f", "\x00"}
	str := func() string { return strs[r.IntN(len(strs))] }
	nums := []int64{0, 1, -1, 42, -7, 1 << 40, -1 << 62, 9223372036854775807}
	for range 20000 {
		var c contribution
		for range r.IntN(3) {
			c.Deltas = append(c.Deltas, cdelta{C: r.IntN(9) - 1, At: str(), V: nums[r.IntN(len(nums))]})
		}
		if r.IntN(2) == 0 {
			c.TL = &tlEntry{NS: []byte{'e', 'f', 0, 255}[r.IntN(4)], Subj: str(), At: str(), Seq: uint64(nums[r.IntN(len(nums))]), Val: str()}
		}
		c.Retracted = r.IntN(4) == 0
		if r.IntN(10) == 0 {
			c.Deltas = []cdelta{} // empty, not nil: omitted as well
		}
		got, err := marshalContribution(c)
		want, werr := json.Marshal(c)
		if err != nil || werr != nil || !bytes.Equal(got, want) {
			t.Fatalf("marshalContribution(%+v) = %s, %v; json.Marshal: %s, %v", c, got, err, want, werr)
		}
	}
}
