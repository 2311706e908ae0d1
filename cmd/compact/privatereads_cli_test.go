package main

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// serve --private-reads: every read of the views — the human pages, the review in each
// format, its change stream, the counters, the structure and the status — needs a token of
// any role (401 without one, for a HEAD too), and a publisher's token reads them; the
// health check, the metrics and the verifier key stay open to all.
func TestPrivateReadsCoverEveryReadOfTheViews(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	c := serveChild(t, bin, dir, "--private-reads")
	pub := addEntityCLI(t, bin, dir, "UNODC", "publisher")
	waitFor(t, "the token served", func() bool {
		return postStatus(t, c.httpURL, pub.Token, "UNODC", "p-0") == http.StatusCreated
	})
	// status answers a request with token "" (none) or the publisher's; a stream's status is
	// read from its headers, then it is let go.
	status := func(method, path, token string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, c.httpURL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range []string{"/", "/reviews/2031-01", "/reviews/2031-01?utm_source=mail", "/v1/reviews/2031-01",
		"/v1/reviews/2031-01?format=md", "/v1/reviews/2031-01?format=html", "/v1/reviews/2031-01/changes",
		"/v1/counters", "/v1/counters?as_of=2031-01-31", "/v1/structure", "/v1/status"} {
		if got := status("GET", p, ""); got != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", p, got)
		}
		if got := status("GET", p, pub.Token); got != http.StatusOK {
			t.Errorf("GET %s with a publisher's token: %d, want 200", p, got)
		}
		if got := status("HEAD", p, ""); got != http.StatusUnauthorized && got != http.StatusMethodNotAllowed {
			t.Errorf("HEAD %s without a token: %d, want 401 (405 for a stream)", p, got)
		}
	}
	for _, p := range []string{"/healthz", "/metrics", "/v1/key"} {
		if got := status("GET", p, ""); got != http.StatusOK {
			t.Errorf("GET %s without a token: %d, want 200", p, got)
		}
	}
}
