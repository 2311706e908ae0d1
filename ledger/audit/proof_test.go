package audit

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"compact/ledger"
)

func TestProofs(t *testing.T) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	ctx := ctxT(t)
	publish(t, e.js, seqs(1, 13)...)
	c := startCheckpointer(t, e.js, t.TempDir(), signer, vkey, 100)

	// No checkpoint covers seq 6 yet: Prove publishes one first.
	if c.Latest() != nil {
		t.Fatal("a checkpoint before 100 events or the interval")
	}
	p, err := c.Prove(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	if p.TreeSize != 13 || p.LeafIndex != 5 || p.Event.Seq != 6 || p.Event.ID != "evt-0006" || p.Event.LedgerTime == "" {
		t.Fatalf("proof: %+v", p)
	}
	doc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, cp, err := VerifyProof(doc, vkey)
	if err != nil {
		t.Fatal(err)
	}
	if got.Event.ID != "evt-0006" || cp.Size != 13 {
		t.Fatalf("%+v %+v", got, cp)
	}
	// Any RFC 6962 verifier accepts it from the proof's own fields.
	var path [][]byte
	for _, h := range p.Proof {
		path = append(path, h[:])
	}
	leafData, _ := LeafData(6, p.Subject, p.Body)
	if string(rfc6962.DefaultHasher.HashLeaf(leafData)) != string(p.LeafHash[:]) {
		t.Fatal("leaf hash is not the RFC 6962 leaf hash of the documented leaf data")
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, p.LeafHash[:], path, p.RootHash[:]); err != nil {
		t.Fatalf("transparency-dev rejects the proof: %v", err)
	}

	// By source and id, and by id alone.
	if p2, err := c.ProveEvent(ctx, ledger.SourcePrefix+entities[9%len(entities)], "evt-0009"); err != nil || p2.Event.Seq != 9 {
		t.Fatalf("by source and id: %v", err)
	}
	if _, err := c.ProveEvent(ctx, ledger.SourcePrefix+"UNODC", "evt-0009"); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("another source's id: %v", err)
	}
	if p3, err := c.ProveEvent(ctx, "", "evt-0013"); err != nil || p3.Event.Seq != 13 {
		t.Fatalf("by id: %v", err)
	}
	if _, err := c.ProveEvent(ctx, "", "no-such-event"); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("unknown id: %v", err)
	}

	// Mutations, each on a fresh copy of the genuine document.
	_, otherKey := testKey(t)
	otherSigner, _ := testKey(t)
	forgedNote, _ := SignCheckpoint(cp.Origin, cp.Size, cp.Root, otherSigner)
	flip := func(b64 string) string {
		b, _ := base64.StdEncoding.DecodeString(b64)
		b[len(b)/2] ^= 0x01
		return base64.StdEncoding.EncodeToString(b)
	}
	for _, tc := range []struct {
		name   string
		field  string                 // the field VerifyProof must blame
		mutate func(m map[string]any) // on the decoded document
		raw    func(b []byte) []byte  // on the bytes
		key    string
	}{
		{name: "wrong index, up", field: "leaf_index", mutate: func(m map[string]any) { m["leaf_index"] = 6 }},
		{name: "wrong index, down", field: "leaf_index", mutate: func(m map[string]any) { m["leaf_index"] = 4 }},
		{name: "index and event seq moved together", field: "leaf_hash", mutate: func(m map[string]any) {
			m["leaf_index"] = 6
			m["event"].(map[string]any)["seq"] = 7
		}},
		{name: "wrong size, larger", field: "tree_size", mutate: func(m map[string]any) { m["tree_size"] = 14 }},
		{name: "wrong size, smaller", field: "tree_size", mutate: func(m map[string]any) { m["tree_size"] = 12 }},
		{name: "trailing garbage", field: "document", raw: func(b []byte) []byte { return append(b, "garbage"...) }},
		{name: "a second document", field: "document", raw: func(b []byte) []byte { return append(b, "{}"...) }},
		{name: "extra hash at the end of the path", field: "proof", mutate: func(m map[string]any) {
			path := m["proof"].([]any)
			m["proof"] = append(path, path[0])
		}},
		{name: "last hash of the path dropped", field: "proof", mutate: func(m map[string]any) {
			path := m["proof"].([]any)
			m["proof"] = path[:len(path)-1]
		}},
		{name: "path hashes swapped", field: "proof", mutate: func(m map[string]any) {
			path := m["proof"].([]any)
			path[0], path[1] = path[1], path[0]
		}},
		{name: "flipped byte in a path hash", field: "proof", mutate: func(m map[string]any) {
			path := m["proof"].([]any)
			path[1] = flip(path[1].(string))
		}},
		{name: "flipped byte in the leaf hash", field: "leaf_hash", mutate: func(m map[string]any) { m["leaf_hash"] = flip(m["leaf_hash"].(string)) }},
		{name: "random root", field: "root_hash", mutate: func(m map[string]any) {
			h := randomHash(t)
			m["root_hash"] = base64.StdEncoding.EncodeToString(h[:])
		}},
		{name: "random root in the note", field: "checkpoint", mutate: func(m map[string]any) {
			h := randomHash(t)
			m["checkpoint"] = strings.Replace(m["checkpoint"].(string), cp.Root.String(), h.String(), 1)
		}},
		{name: "note signed by another key", field: "checkpoint", mutate: func(m map[string]any) { m["checkpoint"] = forgedNote.Note }},
		{name: "flipped byte in the body", field: "leaf_hash", mutate: func(m map[string]any) { m["body"] = flip(m["body"].(string)) }},
		{name: "event shown is not the body", field: "event", mutate: func(m map[string]any) { m["event"].(map[string]any)["id"] = "evt-0666" }},
		{name: "other subject", field: "leaf_hash", mutate: func(m map[string]any) { m["subject"] = "compact.events.CTED.training.delivered" }},
		{name: "other format", field: "format", mutate: func(m map[string]any) { m["format"] = "compact-ledger-inclusion-proof/v2" }},
		{name: "unknown field", field: "document", mutate: func(m map[string]any) { m["trust_me"] = true }},
		{name: "checked with another key", field: "checkpoint", key: otherKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := doc
			if tc.mutate != nil {
				var m map[string]any
				if err := json.Unmarshal(doc, &m); err != nil {
					t.Fatal(err)
				}
				tc.mutate(m)
				b, _ = json.Marshal(m)
			}
			if tc.raw != nil {
				b = tc.raw(append([]byte(nil), doc...))
			}
			key := vkey
			if tc.key != "" {
				key = tc.key
			}
			_, _, err := VerifyProof(b, key)
			var pe *ProofError
			if !errors.As(err, &pe) || pe.Field != tc.field {
				t.Fatalf("mutated proof: %v, want a complaint about %s", err, tc.field)
			}
		})
	}
}

func TestProveAmbiguousID(t *testing.T) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	ctx := ctxT(t)
	publish(t, e.js, 1, 2)
	// Event 1's id under another source: ids are unique per source only.
	_, body := event(1)
	var ev ledger.Event
	json.Unmarshal(body, &ev)
	ev.Source = ledger.SourcePrefix + "OSCE"
	b, _ := json.Marshal(&ev)
	if _, err := e.js.Publish(ctx, ev.Subject(), b); err != nil {
		t.Fatal(err)
	}
	c := startCheckpointer(t, e.js, t.TempDir(), signer, vkey, 100)
	if _, err := c.ProveEvent(ctx, "", "evt-0001"); !errors.Is(err, ErrAmbiguousID) || !strings.Contains(err.Error(), "--entity") {
		t.Fatalf("ambiguous id: %v", err)
	}
	p, err := c.ProveEvent(ctx, ledger.SourcePrefix+"OSCE", "evt-0001")
	if err != nil || p.Event.Seq != 3 {
		t.Fatalf("%v", err)
	}
}

// A sequence the stream has not reached is no event: it is not found (404), not "not
// checkpointed yet, retry after the next checkpoint" (409 with Retry-After), which no
// number of retries would make true.
func TestProveASeqPastTheEndOfTheStream(t *testing.T) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	ctx := ctxT(t)
	publish(t, e.js, seqs(1, 12)...)
	c := startCheckpointer(t, e.js, t.TempDir(), signer, vkey, 5)
	flush(t, c)
	for _, seq := range []uint64{13, 1000, math.MaxUint64} {
		if p, err := c.Prove(ctx, seq); !errors.Is(err, ErrEventNotFound) || errors.Is(err, ErrNotCheckpointed) {
			t.Errorf("Prove(%d) on a stream of 12: proof %v, error %v; want not found", seq, p != nil, err)
		}
	}
	mux := http.NewServeMux()
	Routes(mux, c, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/proofs?seq=13")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Retry-After") != "" {
		t.Errorf("GET /v1/proofs?seq=13 on a stream of 12: %d, Retry-After %q; want 404 and no retry", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The next event is proven as soon as it is stored.
	publish(t, e.js, 13)
	if p, err := c.Prove(ctx, 13); err != nil || p.TreeSize != 13 {
		t.Fatalf("Prove(13) once stored: %v", err)
	}
}

// GET /v1/proofs takes seq or id, not both: given both, it used to prove the id and say
// nothing of the seq, which a caller could take for the proof of the message at seq.
func TestProofOfSeqAndIDAtOnceIsRefused(t *testing.T) {
	srv := proofServer(t)
	for q, want := range map[string]int{"seq=1&id=evt-0002": http.StatusBadRequest, "id=evt-0002": http.StatusOK, "seq=1": http.StatusOK} {
		resp, err := http.Get(srv.URL + "/v1/proofs?" + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /v1/proofs?%s: %d %s, want %d", q, resp.StatusCode, b, want)
		}
	}
}

// A proof asked for by an id no event can have (not of the ids' alphabet, with "..") is
// refused at once, 400, naming why; it used to search the whole stream for it and answer
// 404. A well-formed id the ledger does not hold is still a 404.
func TestProofOfWhatIsNoEventIDIsRefusedAtOnce(t *testing.T) {
	srv := proofServer(t)
	for path, want := range map[string]int{
		"/v1/proofs?id=a%20b":            http.StatusBadRequest,
		"/v1/proofs?id=a..b":             http.StatusBadRequest,
		"/v1/proofs/UNODC/a..b":          http.StatusBadRequest,
		"/v1/proofs/UNODC/%C3%A9t%C3%A9": http.StatusBadRequest,
		"/v1/proofs?id=no-such-id":       http.StatusNotFound,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusBadRequest && !strings.Contains(string(b), "is no event id")) {
			t.Errorf("GET %s: %d %s, want %d", path, resp.StatusCode, b, want)
		}
	}
}

// proofServer serves the audit routes of a checkpointer of three events, all checkpointed.
func proofServer(t *testing.T) *httptest.Server {
	t.Helper()
	e := newEnv(t)
	signer, vkey := testKey(t)
	publish(t, e.js, seqs(1, 3)...)
	c := startCheckpointer(t, e.js, t.TempDir(), signer, vkey, 5)
	flush(t, c)
	mux := http.NewServeMux()
	Routes(mux, c, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
