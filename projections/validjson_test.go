package projections

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// validJSON is validValueEnd over a whole input, the question json.Valid answers.
func validJSON(b []byte) bool {
	end, ok := validValueEnd(b, skipSpace(b, 0))
	return ok && skipSpace(b, end) == len(b)
}

// validSeeds are values of every kind, valid and not, near each rule of the grammar.
var validSeeds = []string{
	`{}`, `[]`, `{ }`, `[ ]`, ` {"a" : [ 1 , 2 ] } `, `{"a":{"b":{"c":[[],{}]}}}`,
	`"x"`, `""`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\uD800\uFFFF"`, `"é"`, "\"\xff\xfe\"", "\"\x7f\"",
	`"\u00e"`, `"\u00eg"`, `"\x"`, `"\'"`, "\"a\x01\"", "\"\t\"", `"abc`, `"\`, `"\u12`,
	`0`, `-0`, `12`, `-12.5`, `1e3`, `1E+3`, `1e-3`, `0.0`, `-0.5E-03`, `99999999999999999999999`,
	`01`, `-`, `-a`, `1.`, `.5`, `1e`, `1e+`, `+1`, `1.e3`, `0x1`, `1 2`, `--1`, `-01`, `00`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `True`, `NULL`, `nulll`,
	`{"a":1,}`, `[1,]`, `{,}`, `[,]`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{1:2}`, `{a:1}`, `[1 2]`,
	`{"a":1]`, `[1}`, `{"a":[1}`, `[`, `{`, `]`, `}`, `{"a":1}}`, `[[]`, `{"a":1 "b":2}`,
	``, ` `, `{}x`, `{} {}`, "{\"a\":\v1}", "\u00a0{}", "{}\x00",
}

// TestValidValueEndLikeJSONValid: the envelope's check of the data accepts exactly what
// encoding/json.Valid accepts, on the seeds, their mutations, random documents, and nesting at
// and past encoding/json's limit.
func TestValidValueEndLikeJSONValid(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	inputs := append([]string(nil), validSeeds...)
	inputs = append(inputs, envelopeSeeds...)
	for range 20000 {
		inputs = append(inputs, randJSONValue(r, 0))
	}
	for range 20000 { // mutations: a byte changed, dropped or doubled
		src := inputs[r.IntN(len(inputs))]
		if src == "" {
			continue
		}
		b := []byte(src)
		i := r.IntN(len(b))
		switch r.IntN(3) {
		case 0:
			b[i] = mutationBytes[r.IntN(len(mutationBytes))]
		case 1:
			b = append(b[:i], b[i+1:]...)
		default:
			b = append(b[:i+1], b[i:]...)
		}
		inputs = append(inputs, string(b))
	}
	for _, n := range []int{jsonMaxDepth - 1, jsonMaxDepth, jsonMaxDepth + 1} {
		inputs = append(inputs,
			strings.Repeat("[", n)+strings.Repeat("]", n),
			strings.Repeat(`{"a":`, n-1)+"{}"+strings.Repeat("}", n-1),
			strings.Repeat(`[{"a":`, n/2)+"1"+strings.Repeat("}]", n/2),
			strings.Repeat("[", n)+strings.Repeat("]", n-1))
	}
	valid := 0
	for _, in := range inputs {
		want := json.Valid([]byte(in))
		if got := validJSON([]byte(in)); got != want {
			t.Fatalf("validValueEnd on %.200q: %v; json.Valid: %v", in, got, want)
		}
		if want {
			valid++
		}
	}
	if valid < len(inputs)/4 || valid > len(inputs)*3/4 {
		t.Fatalf("%d of %d inputs valid: the test does not probe both sides", valid, len(inputs))
	}
}

// mutationBytes are the bytes a mutation writes: the grammar's own and a few it forbids.
const mutationBytes = "{}[]\":,\\ \t\nabefnrtu0159-+.eE\x00\x1f\x7f\xff"

func FuzzValidValueEnd(f *testing.F) {
	for _, s := range validSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validValueEnd on %q: %v; json.Valid: %v", b, got, want)
		}
	})
}
