package projections

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// randJSONValue writes a random JSON value: the shapes the data of events take, and the odd
// ones (escapes, nulls, numbers where strings belong, nesting) that must go to encoding/json.
func randJSONValue(r *rand.Rand, depth int) string {
	switch k := r.IntN(12); {
	case k < 3:
		return `"` + []string{"x", "2025-05-01", "UNODC", "", "é", "member", "regional", "a b"}[r.IntN(8)] + `"`
	case k == 3:
		return []string{`"esc\"aped"`, `"\u00e9"`, `"tab\t"`, `"\\"`}[r.IntN(4)]
	case k == 4:
		return "null"
	case k == 5:
		return []string{"0", "-3", "42", "1.5", "1e3", "99999999999999999999", "-0"}[r.IntN(7)]
	case k == 6:
		return []string{"true", "false"}[r.IntN(2)]
	case k < 10 && depth < 3:
		n := r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = randJSONValue(r, depth+1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case depth < 3:
		return randJSONObject(r, depth+1, append(append(actorFields, linkFields...), "other"))
	}
	return `"leaf"`
}

func randJSONObject(r *rand.Rand, depth int, names []string) string {
	n := r.IntN(6)
	parts := make([]string, n)
	for i := range parts {
		name := names[r.IntN(len(names))]
		switch r.IntN(10) {
		case 0:
			name = strings.ToUpper(name)
		case 1:
			name = "unknown_" + name
		}
		parts[i] = `"` + name + `":` + randJSONValue(r, depth)
	}
	sp := []string{"", " "}[r.IntN(2)]
	return "{" + sp + strings.Join(parts, ","+sp) + sp + "}"
}

// plainActivity and plainCounting are data as publishers write it: the fast path's own form.
func plainActivity(r *rand.Rand) string {
	return `{"title":"T ` + randStr(r)[:0] + `x","start":"2025-05-01","end":"2025-05-03","organizers":[{"entity":"UNODC"},{"org":"O","kind":"regional"}],` +
		`"partners":[],"countries":["MAR","NGA"],"links":[{"url":"https://e.org","label":"l"}],"format":"workshop","participants":12}`
}

// TestFastDataLikeJSON: whatever the fast decoders of activities and counting data accept,
// they decode exactly as encoding/json does; they accept the plain form of the ledger's data.
func TestFastDataLikeJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	var inputs []string
	for range 20000 {
		names := activityFields
		if r.IntN(2) == 0 {
			names = countingFields
		}
		inputs = append(inputs, randJSONObject(r, 0, names))
	}
	inputs = append(inputs, plainActivity(r), `{"focal_point":"fp1","represents":{"state":"MAR"},"date":"2025-01-01","count":3,"value":-2}`)
	fastA, fastC := 0, 0
	for _, in := range inputs {
		if !json.Valid([]byte(in)) {
			continue
		}
		var a, wa activity
		if fastActivity([]byte(in), &a) {
			fastA++
			if err := json.Unmarshal([]byte(in), &wa); err != nil || !reflect.DeepEqual(a, wa) {
				t.Fatalf("fast activity of %s:\n%+v\nencoding/json: %+v, %v", in, a, wa, err)
			}
		}
		var c, wc countingData
		if fastCounting([]byte(in), &c) {
			fastC++
			if err := json.Unmarshal([]byte(in), &wc); err != nil || !reflect.DeepEqual(c, wc) {
				t.Fatalf("fast counting data of %s:\n%+v\nencoding/json: %+v, %v", in, c, wc, err)
			}
		}
	}
	var a activity
	var c countingData
	if !fastActivity([]byte(plainActivity(r)), &a) || !fastCounting([]byte(inputs[len(inputs)-1]), &c) || fastA < 1000 || fastC < 1000 {
		t.Fatalf("the fast paths took %d activities and %d counting data of %d inputs, and not the plain forms", fastA, fastC, len(inputs))
	}
}
