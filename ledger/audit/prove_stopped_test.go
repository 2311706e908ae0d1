package audit

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Once the checkpointer has stopped because the latest signed checkpoint does not match its
// tree, Prove gives no proof against that checkpoint, and a newer event is not answered with
// "not checkpointed yet, retry": the reason it stopped is the answer, over HTTP a 503.
func TestProveAfterTheCheckpointerStopped(t *testing.T) {
	ctx := ctxT(t)
	f := newForgeEnv(t)
	publish(t, f.js, 11, 12)
	cp, _ := SignCheckpoint("compact-ledger/COMPACT", 12, randomHash(t), f.signer)
	f.publishNote(t, cp.Note, nil)
	c, err := f.reopen(t)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Flush(ctx); !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("flush: %v, want the fork refused", err)
	}
	if p, err := c.Prove(ctx, 12); !errors.Is(err, ErrStateMismatch) {
		t.Errorf("Prove(12) against the checkpoint the checkpointer refused: proof %v, error %v", p != nil, err)
	}
	publish(t, f.js, 13)
	if _, err := c.Prove(ctx, 13); errors.Is(err, ErrNotCheckpointed) || !errors.Is(err, ErrStateMismatch) {
		t.Errorf("Prove(13) on a stopped checkpointer: %v, want the reason it stopped", err)
	}
	mux := http.NewServeMux()
	Routes(mux, c, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, seq := range []string{"12", "13"} {
		resp, err := http.Get(srv.URL + "/v1/proofs?seq=" + seq)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "" {
			t.Errorf("GET /v1/proofs?seq=%s: %d, Retry-After %q: want 503 and no retry", seq, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}
