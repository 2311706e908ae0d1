package ledger_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"compact/ledger"
)

func TestRateLimitPerToken(t *testing.T) {
	l := ledger.NewRateLimiter(5) // 5/s, bursts of 10
	srv := httptest.NewServer(l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer srv.Close()
	get := func(token string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	limited := 0
	var retry string
	for range 30 {
		if r := get("token-a"); r.StatusCode == http.StatusTooManyRequests {
			limited++
			retry = r.Header.Get("Retry-After")
		}
	}
	if limited < 15 {
		t.Fatalf("%d of 30 rapid requests limited, want at least 15 (burst 10 at 5/s)", limited)
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 1 {
		t.Fatalf("Retry-After %q, want whole seconds ≥ 1", retry)
	}
	if r := get("token-b"); r.StatusCode != http.StatusOK {
		t.Fatalf("another token was limited too: %d", r.StatusCode)
	}
	if r := get(""); r.StatusCode != http.StatusOK {
		t.Fatalf("a public read was limited: %d", r.StatusCode)
	}
}
