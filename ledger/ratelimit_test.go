package ledger_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

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

// The limit applies before authentication, so every string sent as a token gets a bucket;
// they were never dropped, and random tokens grew the server's memory without bound. A
// bucket full again decides as a new one would, and is dropped: a flood of distinct tokens
// (1,000 a second for 100 s) keeps only those of the last seconds, while a token over its
// limit stays limited however many others come, until its bucket refills.
func TestRateLimiterForgetsIdleTokens(t *testing.T) {
	l := ledger.NewRateLimiter(10) // bursts of 20: an emptied bucket refills in 2 s
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ledger.SetRateLimiterClock(l, func() time.Time { return now })
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized) // what an unknown token gets after the limit
	}))
	send := func(token string) int {
		r := httptest.NewRequest("POST", "/v1/events", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}

	most := 0
	for i := range 100_000 {
		send("bogus-" + strconv.Itoa(i))
		now = now.Add(time.Millisecond)
		most = max(most, ledger.RateLimiterTokens(l))
	}
	// At 1,000 a second, the tokens of the last 2 s at most are live: keep no more than twice.
	if most > 4000 {
		t.Errorf("over 100,000 distinct tokens in 100 s the limiter held up to %d buckets, want at most 4,000", most)
	}
	t.Logf("at most %d buckets held", most)

	for range 20 {
		send("busy")
	}
	if code := send("busy"); code != http.StatusTooManyRequests {
		t.Fatalf("request 21 of a burst of 20: %d, want 429", code)
	}
	for i := range 5000 { // at the same instant: every bucket in use, none to drop
		send("flood-" + strconv.Itoa(i))
	}
	if code := send("busy"); code != http.StatusTooManyRequests {
		t.Errorf("the limited token, after 5,000 others: %d, want still 429", code)
	}
	now = now.Add(2 * time.Second)
	if code := send("busy"); code != http.StatusUnauthorized {
		t.Errorf("the limited token 2 s later: %d, want let through", code)
	}
}

// The Authorization scheme is case-insensitive (RFC 9110 §11.1): "bearer <token>" is the
// same token, authenticated and counted in the same bucket. A header without the scheme
// used to authenticate while the rate limiter, which wanted "Bearer ", let it through
// uncounted: a bare token published without limit. It is refused now, saying what to send.
func TestAuthorizationHeaderAndTheRateLimit(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	mux := http.NewServeMux()
	(&ledger.HTTPHandlers{Ingester: n.Ingester, Auth: &ledger.Auth{Registry: n.Registry}, JS: n.JS, Logger: slog.Default()}).Routes(mux)
	l := ledger.NewRateLimiter(1) // bursts of 2, and the clock stands still: no refill
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ledger.SetRateLimiterClock(l, func() time.Time { return now })
	srv := httptest.NewServer(l.Wrap(mux))
	t.Cleanup(srv.Close)
	post := func(authorization string) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader(activity("UNODC", "a-1", "x")))
		req.Header.Set("Content-Type", ledger.MediaEvent)
		req.Header.Set("Authorization", authorization)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i, h := range []string{creds.Token, "Basic " + creds.Token} {
		if code, body := post(h); code != http.StatusUnauthorized || !strings.Contains(body, "Authorization: Bearer") {
			t.Errorf("header %d (no Bearer scheme): %d %s, want 401 saying to send Authorization: Bearer <token>", i, code, body)
		}
	}
	if code, body := post("Bearer " + creds.Token); code != http.StatusCreated {
		t.Fatalf("Bearer: %d %s", code, body)
	}
	if code, body := post("bearer " + creds.Token); code != http.StatusOK {
		t.Fatalf("bearer (lower case): %d %s, want 200 (the duplicate)", code, body)
	}
	if code, body := post("BEARER " + creds.Token); code != http.StatusTooManyRequests {
		t.Fatalf("third request of a burst of 2: %d %s, want 429", code, body)
	}
}
