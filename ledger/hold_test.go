package ledger_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"compact/ledger"
)

// streamUntilEnd is a read that lasts until its request's context ends, then writes the
// cause: a stand-in for a watch or a replay.
var streamUntilEnd = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "started\n")
	w.(http.Flusher).Flush()
	<-r.Context().Done()
	io.WriteString(w, "ended: "+context.Cause(r.Context()).Error()+"\n")
})

// openStream starts a GET with token and returns its body, read past the "started" line.
func openStream(t *testing.T, url, token string) *bufio.Reader {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET with the token: %s", resp.Status)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "started\n" {
		t.Fatalf("first line %q: %v", line, err)
	}
	return br
}

// endOf reads the rest of a stream, which must end within 10 s.
func endOf(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		rest, _ := io.ReadAll(br)
		done <- string(rest)
	}()
	select {
	case rest := <-done:
		return rest
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end")
		return ""
	}
}

// A read authorized when it started ends when its caller is let in no more: the token
// revoked, reissued, or its entity moved to a role the endpoint refuses. Streams of other
// callers go on, and every request's hold is released when it ends.
func TestAReadEndsWhenItsCallerIsLetInNoMore(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	reg, err := ledger.OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	add := func(entity string, role ledger.Role) *ledger.Credentials {
		c, err := ledger.AddEntity(ctx, dir, entity, entity+" name", role)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	unodc, cted, oict := add("UNODC", ledger.RolePublisher), add("CTED", ledger.RoleAuditor), add("OICT", ledger.RoleAuditor)
	if _, err := reg.Reload(); err != nil {
		t.Fatal(err)
	}
	auth := &ledger.Auth{Registry: reg}
	mux := http.NewServeMux()
	mux.Handle("GET /any", auth.AnyRole(streamUntilEnd))
	mux.Handle("GET /history", auth.History(streamUntilEnd))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	revoked := openStream(t, srv.URL+"/any", unodc.Token)
	demoted := openStream(t, srv.URL+"/history", cted.Token)
	other := openStream(t, srv.URL+"/history", oict.Token)
	if n := ledger.HoldsHeld(reg); n != 3 {
		t.Fatalf("%d requests held, want 3", n)
	}

	// a change that concerns none of them ends none of them
	add("INTERPOL", ledger.RolePublisher)
	if changed, err := reg.Reload(); err != nil || !changed {
		t.Fatalf("reload: %v, %v", changed, err)
	}
	if n := ledger.HoldsHeld(reg); n != 3 {
		t.Fatalf("after an unrelated change %d requests held, want 3", n)
	}

	if _, err := ledger.RevokeCredentials(ctx, dir, "UNODC"); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.ReissueCredentialsAs(ctx, dir, "CTED", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Reload(); err != nil {
		t.Fatal(err)
	}
	if rest := endOf(t, revoked); !strings.Contains(rest, "unauthenticated: the token of UNODC was revoked or replaced") {
		t.Fatalf("the revoked caller's stream ended with %q", rest)
	}
	if rest := endOf(t, demoted); !strings.Contains(rest, "the token of CTED was revoked or replaced") {
		t.Fatalf("the reissued caller's stream ended with %q", rest)
	}
	waitHolds(t, reg, 1)

	// the same token, only its role changed (a hand edit of the file): forbidden now
	editEntities(t, dir, func(_ map[string]any, recs []map[string]any) []map[string]any {
		for _, r := range recs {
			if r["entity"] == "OICT" {
				r["role"] = string(ledger.RolePublisher)
			}
		}
		return recs
	})
	if _, err := reg.Reload(); err != nil {
		t.Fatal(err)
	}
	if rest := endOf(t, other); !strings.Contains(rest, "forbidden: OICT became publisher") {
		t.Fatalf("the demoted caller's stream ended with %q", rest)
	}
	waitHolds(t, reg, 0)

	// a write is not held: it finishes as it was authorized
	post := httptest.NewRequest("POST", "/x", nil)
	post.Header.Set("Authorization", "Bearer "+oict.Token)
	var held int
	auth.AnyRole(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { held = ledger.HoldsHeld(reg) })).ServeHTTP(httptest.NewRecorder(), post)
	if held != 0 {
		t.Fatalf("a POST was held (%d)", held)
	}
}

// A token revoked between its authentication and its hold gets a request ended at once.
func TestAHoldOfATokenRevokedAlreadyEndsAtOnce(t *testing.T) {
	dir := t.TempDir()
	reg, err := ledger.OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UNODC", ledger.RolePublisher)
	if err != nil {
		t.Fatal(err)
	}
	reg.Reload()
	p, err := reg.Authenticate(c.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.RevokeCredentials(t.Context(), dir, "UNODC"); err != nil {
		t.Fatal(err)
	}
	reg.Reload()
	ctx, release := reg.Hold(t.Context(), c.Token, p, func(ledger.Role) bool { return true })
	defer release()
	if !errors.Is(context.Cause(ctx), ledger.ErrUnauthenticated) {
		t.Fatalf("cause %v, want unauthenticated", context.Cause(ctx))
	}
}

func waitHolds(t *testing.T, reg *ledger.Registry, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ledger.HoldsHeld(reg) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests held, want %d", ledger.HoldsHeld(reg), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
