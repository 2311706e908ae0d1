package projections

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"compact/ledger"
)

// envelopeSeeds are bodies of every shape the fast path must take or leave to encoding/json.
var envelopeSeeds = []string{
	`{"specversion":"1.0","id":"e1","source":"/entities/UNODC","type":"compact.meeting.held","time":"2025-05-01T10:00:00Z","datacontenttype":"application/json","data":{"title":"T","start":"2025-05-01","organizers":[{"entity":"UNODC"}]}}`,
	` { "id" : "e1" , "data" : { "a" : [ 1 , 2.5e3 , true , null , "x\"y" ] } } `,
	`{"id":"e\u00e9","data":{}}`,
	`{"id":"e1","ID":"e2","data":{}}`,
	`{"id":"e1","id":"e2","data":{}}`,
	`{"id":"e1","data":{"a":1}} x`,
	`{"id":"e1","data":{"a":}}`,
	`{"id":"e1","data":{"a":"\x01"}}`,
	`{"id":"\x01","data":{}}`,
	`{"id":"` + "\xff" + `","data":{}}`,
	`{"id":null,"data":{}}`,
	`{"id":1,"data":{}}`,
	`{"id":"e1","data":null}`,
	`{"id":"e1","data":"text"}`,
	`{"id":"e1","data":[1]}`,
	`{"id":"e1","extension":"x","data":{}}`,
	`{"id":"e1","data":{"s":"}"}}`,
	`{"id":"e1","data":{"s":"\\"}}`,
	`{}`,
	`[]`,
	``,
	`{"id":"e1",}`,
	`{"id":"e1" "data":{}}`,
	`{"subject":"s","dataschema":"x","data":{"n":-0.5E-3}}`,
}

// TestEnvelopeLikeDecodeStored: the fast path decodes exactly what encoding/json decodes, and
// every body, taken or left by it, gets DecodeStored's answer.
func TestEnvelopeLikeDecodeStored(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	bodies := append([]string(nil), envelopeSeeds...)
	for range 5000 { // mutations of the seeds: a byte changed, dropped or doubled
		b := []byte(envelopeSeeds[r.IntN(len(envelopeSeeds))])
		if len(b) == 0 {
			continue
		}
		i := r.IntN(len(b))
		switch r.IntN(3) {
		case 0:
			b[i] = `{}[]":,\ ax0"`[r.IntN(13)]
		case 1:
			b = append(b[:i], b[i+1:]...)
		default:
			b = append(b[:i+1], b[i:]...)
		}
		bodies = append(bodies, string(b))
	}
	fast := 0
	for _, body := range bodies {
		want, werr := ledger.DecodeStored([]byte(body))
		if e, ok := fastEnvelope([]byte(body)); ok {
			fast++
			if werr != nil || !reflect.DeepEqual(e, want) {
				t.Fatalf("fast path on %q: %+v; encoding/json: %+v, %v", body, e, want, werr)
			}
		}
		got, err := decodeEnvelope([]byte(body))
		if (err == nil) != (werr == nil) || (err == nil && !reflect.DeepEqual(got, want)) {
			t.Fatalf("decodeEnvelope(%q) = %+v, %v; DecodeStored: %+v, %v", body, got, err, want, werr)
		}
	}
	if _, ok := fastEnvelope([]byte(envelopeSeeds[0])); !ok || fast < 100 {
		t.Fatalf("the fast path took %d of %d bodies, the ledger's own form: %v", fast, len(bodies), ok)
	}
}

func FuzzEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, werr := ledger.DecodeStored(body)
		if e, ok := fastEnvelope(body); ok && (werr != nil || !reflect.DeepEqual(e, want)) {
			t.Fatalf("fast path on %q: %+v; encoding/json: %+v, %v", body, e, want, werr)
		}
	})
}
