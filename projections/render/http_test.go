package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"compact/projections"
)

// memSource serves fixed reviews; a period in fail answers that error.
type memSource struct {
	reviews map[string]*projections.Review
	fail    map[string]error
	listErr error
}

func (m *memSource) Review(_ context.Context, period string) (*projections.Review, error) {
	if err := m.fail[period]; err != nil {
		return nil, err
	}
	r, ok := m.reviews[period]
	if !ok {
		return nil, fmt.Errorf("period %s: %w", period, ErrNotFound)
	}
	return r, nil
}

func (m *memSource) Periods(context.Context) ([]string, error) {
	if m.listErr != nil {
		return nil, m.listErr
	}
	var out []string
	for p := range m.reviews {
		out = append(out, p)
	}
	return out, nil
}

func newServer(t *testing.T, src Source, guard func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	Routes(mux, src, guard)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, url string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func TestRoutes(t *testing.T) {
	src := &memSource{
		reviews: map[string]*projections.Review{"2025-05": sampleReview(), "2025-03": emptyReview(), "2024-11": emptyReview()},
		fail: map[string]error{
			"2025-01": errors.New("pebble: disk on fire"),
			"2023-01": fmt.Errorf("before the ledger: %w", ErrNotFound),
		},
	}
	srv := newServer(t, src, nil)

	tests := []struct {
		name     string
		path     string
		header   map[string]string
		status   int
		ctype    string
		contains []string
	}{
		{"json by default", "/v1/reviews/2025-05", nil, 200, "application/json", []string{`"period": "2025-05"`, `"seq": 1930`, `"last_seq": 1977`}},
		{"markdown", "/v1/reviews/2025-05?format=md", nil, 200, "text/markdown; charset=utf-8", []string{"# Counter-Terrorism Compact in Review May-June 2025\n", "- **1,050** Total focal points"}},
		{"html", "/v1/reviews/2025-05?format=html", nil, 200, "text/html; charset=utf-8", []string{"<!DOCTYPE html>", "<svg "}},
		{"format wins over accept", "/v1/reviews/2025-05?format=json", map[string]string{"Accept": "text/html"}, 200, "application/json", []string{`"period"`}},
		{"accept html", "/v1/reviews/2025-05", map[string]string{"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}, 200, "text/html; charset=utf-8", nil},
		{"accept markdown", "/v1/reviews/2025-05", map[string]string{"Accept": "text/markdown"}, 200, "text/markdown; charset=utf-8", nil},
		{"accept by q", "/v1/reviews/2025-05", map[string]string{"Accept": "text/markdown;q=0.4, text/html;q=0.9"}, 200, "text/html; charset=utf-8", nil},
		{"accept unknown falls back to json", "/v1/reviews/2025-05", map[string]string{"Accept": "image/png"}, 200, "application/json", nil},
		{"bad format", "/v1/reviews/2025-05?format=pdf", nil, 400, "application/json", []string{`"field":"format"`, `format \"pdf\": must be json (the default), md or html`}},
		{"not a period start", "/v1/reviews/2025-04", nil, 404, "application/json", []string{`"field":"period"`, "2025-04 is not a period start", "2025-04 is in 2025-03 (March-April 2025)"}},
		{"malformed period", "/v1/reviews/May-2025", nil, 404, "application/json", []string{`\"May-2025\" is not a review period`}},
		{"month 13", "/v1/reviews/2025-13", nil, 404, "application/json", []string{`\"2025-13\" is not a review period`}},
		{"unknown period", "/v1/reviews/2023-01", nil, 404, "application/json", []string{"before the ledger: review not found"}},
		{"source failure", "/v1/reviews/2025-01", nil, 500, "application/json", []string{"reading the review of 2025-01: pebble: disk on fire"}},
		{"page", "/reviews/2025-05", map[string]string{"Accept": "application/json"}, 200, "text/html; charset=utf-8", []string{"<h1>Counter-Terrorism Compact in Review May-June 2025</h1>"}},
		{"page of a non-period", "/reviews/2025-04", nil, 404, "text/html; charset=utf-8", []string{"<h1>404 Not Found</h1>", "2025-04 is not a period start", `<a href="/">All reviews</a>`}},
		{"page of a failure", "/reviews/2025-01", nil, 500, "text/html; charset=utf-8", []string{"pebble: disk on fire"}},
		{"home", "/", nil, 200, "text/html; charset=utf-8", []string{`href="/reviews/2025-05"`}},
		{"home does not catch every path", "/nothing-here", nil, 404, "", nil},
		// A trailing slash, as a hand-typed or hand-edited address often has, leads to the page
		// (a redirect the client follows), not to Go's plain "404 page not found".
		{"page with a trailing slash", "/reviews/2025-05/", nil, 200, "text/html; charset=utf-8", []string{"<h1>Counter-Terrorism Compact in Review May-June 2025</h1>"}},
		{"non-period with a trailing slash", "/reviews/2025-04/", nil, 404, "text/html; charset=utf-8", []string{"2025-04 is not a period start"}},
		{"the list of reviews", "/reviews/", nil, 200, "text/html; charset=utf-8", []string{`href="/reviews/2025-05"`}},
		{"the list of reviews, no slash", "/reviews", nil, 200, "text/html; charset=utf-8", []string{`href="/reviews/2025-05"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, srv.URL+tt.path, tt.header)
			if res.status != tt.status {
				t.Errorf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if tt.ctype != "" && res.header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", res.header.Get("Content-Type"), tt.ctype)
			}
			for _, c := range tt.contains {
				if !strings.Contains(res.body, c) {
					t.Errorf("body lacks %q:\n%.2000s", c, res.body)
				}
			}
			if strings.HasPrefix(tt.ctype, "application/json") && res.status != 200 {
				var e struct {
					Error struct{ Field, Message string }
				}
				if err := json.Unmarshal([]byte(res.body), &e); err != nil || e.Error.Message == "" {
					t.Errorf("error body is not {\"error\":{\"field\",\"message\"}}: %s", res.body)
				}
			}
			if strings.HasPrefix(tt.ctype, "text/html") && !strings.Contains(res.header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("HTML served without the strict CSP: %q", res.header.Get("Content-Security-Policy"))
			}
		})
	}

	// The redirects are permanent, keep the query, and do not let a crafted period make the
	// Location leave the site ("//evil.example" is a scheme-relative URL).
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]string{
		"/reviews/2025-05/?x=1":     "/reviews/2025-05?x=1",
		"/reviews/":                 "/",
		"/reviews":                  "/",
		"/reviews/%2Fevil.example/": "/reviews/%2Fevil.example",
		"/reviews/a%20b/":           "/reviews/a%20b",
	} {
		res, err := noFollow.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != want {
			t.Errorf("GET %s: %d Location %q, want 301 to %q", path, res.StatusCode, res.Header.Get("Location"), want)
		}
	}

	// The home page lists the source's periods newest first.
	home := get(t, srv.URL+"/", nil).body
	if i, j, k := strings.Index(home, "/reviews/2025-05"), strings.Index(home, "/reviews/2025-03"), strings.Index(home, "/reviews/2024-11"); !(i >= 0 && i < j && j < k) {
		t.Errorf("home page not newest first:\n%s", home)
	}
	// A JSON review from the API decodes into the model it came from.
	var back projections.Review
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/v1/reviews/2025-05", nil).body), &back); err != nil || back.Provenance.LastSeq != 1977 {
		t.Errorf("API JSON does not decode into a Review: %v", err)
	}
}

func TestRoutesHomeFailure(t *testing.T) {
	srv := newServer(t, &memSource{listErr: errors.New("views closed")}, nil)
	res := get(t, srv.URL+"/", nil)
	if res.status != 500 || !strings.Contains(res.body, "listing the review periods: views closed") {
		t.Errorf("status %d, body %s", res.status, res.body)
	}
}

// TestRoutesGuard: the guard wraps every route (as --private-reads does).
func TestRoutesGuard(t *testing.T) {
	guard := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer reader" {
				http.Error(w, "token required", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv := newServer(t, &memSource{reviews: map[string]*projections.Review{"2025-05": sampleReview()}}, guard)
	for _, path := range []string{"/", "/reviews/2025-05", "/v1/reviews/2025-05", "/v1/reviews/2025-04"} {
		if res := get(t, srv.URL+path, nil); res.status != http.StatusUnauthorized {
			t.Errorf("%s without a token: status %d, want 401", path, res.status)
		}
		res := get(t, srv.URL+path, map[string]string{"Authorization": "Bearer reader"})
		if res.status == http.StatusUnauthorized {
			t.Errorf("%s with the token: 401", path)
		}
	}
}

func TestCheckPeriod(t *testing.T) {
	for _, p := range []string{"2025-01", "2025-05", "2025-11", "1999-09"} {
		if err := CheckPeriod(p); err != nil {
			t.Errorf("CheckPeriod(%q) = %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"2025-04": "2025-04 is in 2025-03", "2025-12": "2025-12 is in 2025-11", "2025-00": "is not a review period",
		"2025-5": "is not a review period", "": "is not a review period", "2025-05-01": "is not a review period",
	} {
		err := CheckPeriod(p)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, projections.ErrBadPeriod) {
			t.Errorf("CheckPeriod(%q) = %v, want an ErrBadPeriod saying %q", p, err, want)
		}
	}
}
