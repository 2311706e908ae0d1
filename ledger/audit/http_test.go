package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"compact/ledger"
)

func auditorOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer auditor-token" {
			ledger.WriteError(w, http.StatusUnauthorized, "an auditor token is required")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// doctor rewrites the NDJSON answers of GET path with edit (a lying server).
func doctor(next http.Handler, path string, edit func(lines [][]byte) [][]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		lines := bytes.SplitAfter(rec.Body.Bytes(), []byte("\n"))
		w.Write(bytes.Join(edit(lines), nil))
	})
}

func TestHTTPAudit(t *testing.T) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	ctx := ctxT(t)
	publish(t, e.js, seqs(1, 12)...)
	c := startCheckpointer(t, e.js, t.TempDir(), signer, vkey, 5)
	flush(t, c)
	mux := http.NewServeMux()
	Routes(mux, c, auditorOnly)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	anon := &Client{BaseURL: srv.URL}
	cl := &Client{BaseURL: srv.URL, Token: "auditor-token"}

	if k, err := anon.Key(ctx); err != nil || k != vkey {
		t.Fatalf("GET /v1/key: %q %v", k, err)
	}
	var he *HTTPError
	if err := anon.Checkpoints(ctx, func(CheckpointRecord) error { return nil }); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("checkpoints without a token: %v", err)
	}
	rep, err := VerifySource(ctx, cl, vkey, VerifyOptions{Hints: cl})
	if err != nil || rep.Verified != 12 || rep.Checkpoints != 3 {
		t.Fatalf("verify over HTTP: %v\n%s", err, rep)
	}

	for _, q := range []struct {
		entity, id string
		seq        uint64
	}{{"", "", 4}, {entities[5%len(entities)], "evt-0005", 0}, {"", "evt-0006", 0}} {
		doc, err := cl.Proof(ctx, q.entity, q.id, q.seq)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := VerifyProof(doc, vkey); err != nil {
			t.Fatalf("proof %+v: %v", q, err)
		}
	}
	if _, err := cl.Proof(ctx, "UNODC", "evt-0005", 0); !errors.As(err, &he) || he.Status != http.StatusNotFound {
		t.Fatalf("proof of another entity's id: %v", err)
	}

	// A server that alters message 8 on the way: verify recomputes and catches it, and the
	// server's own (genuine) leaf hashes name the message.
	lying := httptest.NewServer(doctor(mux, "/v1/audit/messages", func(lines [][]byte) [][]byte {
		var m messageLine
		json.Unmarshal(lines[7], &m)
		m.Data = bytes.Replace(m.Data, []byte("0008"), []byte("0009"), 1)
		b, _ := json.Marshal(m)
		lines[7] = append(b, '\n')
		return lines
	}))
	defer lying.Close()
	lc := &Client{BaseURL: lying.URL, Token: "auditor-token"}
	rep, err = VerifySource(ctx, lc, vkey, VerifyOptions{Hints: lc})
	if !errors.Is(err, ErrHistoryDiffers) || !rep.Exact || rep.FirstBadSeq != 8 {
		t.Fatalf("altered message over HTTP: %v\n%s", err, rep)
	}

	// A server that drops the end of the answer: an error, not a verdict.
	cut := httptest.NewServer(doctor(mux, "/v1/audit/messages", func(lines [][]byte) [][]byte { return lines[:len(lines)-2] }))
	defer cut.Close()
	_, err = VerifySource(ctx, &Client{BaseURL: cut.URL, Token: "auditor-token"}, vkey, VerifyOptions{})
	if err == nil || errors.Is(err, ErrHistoryDiffers) || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("cut answer: %v", err)
	}
}

// An entity in /v1/proofs/{entity}/{id} that cannot be an entity's acronym is the caller's
// mistake, answered 400 as GET /v1/events answers it, not a 500 that says the server failed.
func TestProofOfAMalformedEntityIsABadRequest(t *testing.T) {
	srv, e := auditServer(t, 4, func(h http.Handler) http.Handler { return h })
	for path, want := range map[string]int{
		"/v1/proofs/UN.ODC/evt-0001":   http.StatusBadRequest,
		"/v1/proofs/UN%20ODC/evt-0001": http.StatusBadRequest,
		"/v1/proofs/UN%09ODC/evt-0001": http.StatusBadRequest,
		"/v1/proofs/UN*/evt-0001":      http.StatusBadRequest,
		"/v1/proofs/CTED/evt-0001":     http.StatusOK,
		"/v1/proofs/UNODC/evt-0001":    http.StatusNotFound, // another entity's id
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if _, err := FindEvent(ctxT(t), e.js, ledger.StreamName, ledger.SourcePrefix+"UN.ODC", "evt-0001"); !errors.Is(err, ErrBadSource) {
		t.Errorf("FindEvent with a malformed source: %v", err)
	}
}

// GET /v1/audit/leaves gives the hashes of leaves the tree holds, a 404 for leaves past it,
// and a 400 for a range it does not serve.
func TestHTTPLeaves(t *testing.T) {
	srv, _ := auditServer(t, 12, auditorOnly)
	get := func(q string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/audit/leaves?"+q, nil)
		req.Header.Set("Authorization", "Bearer auditor-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	status, body := get("from_seq=1&to_seq=12")
	var lr leavesResponse
	if status != http.StatusOK || json.Unmarshal([]byte(body), &lr) != nil || len(lr.Hashes) != 12 || lr.FromSeq != 1 {
		t.Fatalf("leaves 1..12 of 12: %d %.200s", status, body)
	}
	if status, body := get("from_seq=5&to_seq=13"); status != http.StatusNotFound || !strings.Contains(body, "the tree has 12 leaves") {
		t.Errorf("leaves past the tree: %d %s, want 404", status, body)
	}
	if status, _ := get("from_seq=0&to_seq=3"); status != http.StatusBadRequest {
		t.Errorf("from_seq=0: %d, want 400", status)
	}
}

// What a proof request can meet is answered with the status that tells a client what to do:
// retry soon (503 with Retry-After) for a checkpointer behind another's checkpoint, which
// passes by itself; a 500 was "the server is broken".
func TestProofStatusOfACheckpointerBehind(t *testing.T) {
	h := &handlers{c: &Checkpointer{}}
	rec := httptest.NewRecorder()
	h.writeProof(rec, nil, fmt.Errorf("prove: %w: it has folded 3 messages, the latest checkpoint (size 9)", ErrBehind))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("a checkpointer behind: %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}

// auditServer serves Routes, behind guard, over a checkpointer of a stream of n events
// (checkpointed), for the test's length.
func auditServer(t *testing.T, n int, guard func(http.Handler) http.Handler) (*httptest.Server, *env) {
	t.Helper()
	e := newEnv(t)
	signer, vkey := testKey(t)
	publish(t, e.js, seqs(1, n)...)
	c := startCheckpointer(t, e.js, t.TempDir(), signer, vkey, 5)
	flush(t, c)
	mux := http.NewServeMux()
	Routes(mux, c, guard)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, e
}
