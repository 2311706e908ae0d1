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

	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
)

// Requests are counted by the pattern that served them, not by their path, with the status
// they got — also those the rate limiter refused before the mux, and those no route matched —
// and timed by route.
func TestHTTPMetricsByRouteAndCode(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	pub := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	aud := addEntity(t, n, dir, "OIOS", ledger.RoleAuditor)

	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	(&ledger.HTTPHandlers{Ingester: n.Ingester, Auth: &ledger.Auth{Registry: n.Registry}, JS: n.JS, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Routes(mux)
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("thing\n")) })
	rl := ledger.NewRateLimiter(1) // bursts of 2, and the clock stands still
	ledger.SetRateLimiterClock(rl, func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })
	srv := httptest.NewServer(ledger.NewHTTPMetrics(reg).Wrap(mux, rl.Wrap(mux)))
	defer srv.Close()

	do := func(method, path, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ledger.MediaEvent)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	want := map[[2]string]float64{} // route, code
	expect := func(method, path, token, body, route string, code int) {
		t.Helper()
		if got := do(method, path, token, body); got != code {
			t.Fatalf("%s %s: %d, want %d", method, path, got, code)
		}
		want[[2]string{route, strconv.Itoa(code)}]++
	}
	expect("POST", "/v1/events", pub.Token, activity("UNODC", "r-1", "one"), "POST /v1/events", 201)
	expect("POST", "/v1/events", pub.Token, activity("UNODC", "r-1", "one"), "POST /v1/events", 200)
	expect("POST", "/v1/events", pub.Token, activity("UNODC", "r-2", "two"), "POST /v1/events", 429)
	expect("POST", "/v1/events", "", activity("UNODC", "r-2", "two"), "POST /v1/events", 401)
	expect("GET", "/v1/events", aud.Token, "", "GET /v1/events", 200) // a stream, flushed
	expect("GET", "/v1/things/a", "", "", "GET /v1/things/{id}", 200)
	expect("GET", "/v1/things/b", "", "", "GET /v1/things/{id}", 200)
	expect("GET", "/nowhere", "", "", ledger.RouteUnmatched, 404)

	for k, v := range want {
		route, code := k[0], k[1]
		if got := readMetric(t, reg, "compact_http_requests_total", "route="+route, "code="+code).value; got != v {
			t.Errorf("compact_http_requests_total{route=%q,code=%q} = %v, want %v", route, code, got, v)
		}
	}
	for route, count := range map[string]float64{"POST /v1/events": 4, "GET /v1/events": 1, "GET /v1/things/{id}": 2, ledger.RouteUnmatched: 1} {
		if got := readMetric(t, reg, "compact_http_request_duration_seconds", "route="+route).count; got != count {
			t.Errorf("compact_http_request_duration_seconds{route=%q}: %v requests, want %v", route, got, count)
		}
	}
	if s := readMetric(t, reg, "compact_http_requests_total", "route=/v1/things/a"); s.found {
		t.Errorf("a series labelled with a raw path")
	}
}
