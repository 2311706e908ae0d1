package audit

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// compact prove waits, as the server's Retry-After asks, for a proof it cannot give yet (the
// event is newer than the latest checkpoint: 409; the tree is folding it in: 503), up to
// ProofWait; an answer without Retry-After (an id several entities used: also 409) is the
// answer at once. Before, the first 409 was the end of it.
func TestProofWaitsForTheCheckpointTheServerAsksToWaitFor(t *testing.T) {
	proof := `{"seq":3}`
	serve := func(answers ...func(http.ResponseWriter)) (*Client, *atomic.Int64) {
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := int(calls.Add(1))
			answers[min(n, len(answers))-1](w)
		}))
		t.Cleanup(srv.Close)
		return &Client{BaseURL: srv.URL}, &calls
	}
	notYet := func(status int) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(status)
			w.Write([]byte(`{"error":{"message":"seq 3: not covered by a checkpoint yet"}}`))
		}
	}
	ok := func(w http.ResponseWriter) { w.Write([]byte(proof)) }
	ambiguous := func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusConflict)
		w.Write([]byte(`{"error":{"message":"id a-1 is used by several entities: give --entity"}}`))
	}

	c, calls := serve(notYet(http.StatusConflict), notYet(http.StatusServiceUnavailable), ok)
	got, err := c.Proof(t.Context(), "", "a-1", 0)
	if err != nil || string(got) != proof || calls.Load() != 3 {
		t.Fatalf("Proof after a 409 and a 503 with Retry-After: %q, %v after %d requests; want the proof after 3", got, err, calls.Load())
	}

	c, calls = serve(ambiguous, ok)
	_, err = c.Proof(t.Context(), "", "a-1", 0)
	var herr *HTTPError
	if !errors.As(err, &herr) || herr.Status != http.StatusConflict || calls.Load() != 1 {
		t.Fatalf("Proof of an ambiguous id: %v after %d requests; want the 409 at once", err, calls.Load())
	}

	c, calls = serve(notYet(http.StatusConflict))
	c.ProofWait = 1500 * time.Millisecond
	_, err = c.Proof(t.Context(), "", "a-1", 0)
	if !errors.As(err, &herr) || herr.Status != http.StatusConflict || !strings.Contains(err.Error(), "waited 1.5s") || calls.Load() < 2 {
		t.Fatalf("Proof never covered: %v after %d requests; want the 409, saying how long it waited", err, calls.Load())
	}

	c, calls = serve(notYet(http.StatusConflict), ok)
	c.ProofWait = -1
	if _, err = c.Proof(t.Context(), "", "a-1", 0); !errors.As(err, &herr) || calls.Load() != 1 {
		t.Fatalf("Proof with ProofWait < 0: %v after %d requests; want the 409 at once", err, calls.Load())
	}
}
