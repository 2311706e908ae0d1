package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Every endpoint of the API refuses a query parameter it does not take, or one it takes
// given twice, with a 400 that names the parameter: ignored, a misspelt one (?asof=) was
// answered as if it had not been asked, with a 200. The human pages are left alone (links
// shared with tracking parameters must open). A path or a method no endpoint takes gets the
// API's error shape too, not the mux's plain text, and a HEAD of a stream a 405.
func TestAPIRefusesUnknownParameters(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	aud := addEntityCLI(t, bin, dir, "AUDIT", "auditor")
	adm := addEntityCLI(t, bin, dir, "ADMIN", "admin")
	c := serveChild(t, bin, dir)
	get := func(method, path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, c.httpURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	refused := func(method, path, token, field string) {
		t.Helper()
		status, body := get(method, path, token)
		var e struct {
			Error struct{ Field, Message string }
		}
		if status != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || e.Error.Field != field {
			t.Errorf("%s %s: %d %s, want 400 naming %q", method, path, status, strings.TrimSpace(body), field)
		}
	}
	for _, p := range []struct{ method, path, token string }{
		{"GET", "/v1/counters", ""},
		{"GET", "/v1/structure", ""},
		{"GET", "/v1/status", ""},
		{"GET", "/v1/reviews/2025-05", ""},
		{"GET", "/v1/reviews/2025-05/changes", ""},
		{"GET", "/v1/reviews/2025-05/as-known", aud.Token},
		{"GET", "/v1/counters/as-known", aud.Token},
		{"GET", "/v1/events", aud.Token},
		{"GET", "/v1/key", ""},
		{"GET", "/v1/checkpoints", aud.Token},
		{"GET", "/v1/audit/messages", aud.Token},
		{"GET", "/v1/audit/leaves", aud.Token},
		{"GET", "/v1/proofs", aud.Token},
		{"GET", "/v1/proofs/UNODC/x-1", aud.Token},
		{"GET", "/v1/admin/quarantine/review", adm.Token},
		{"POST", "/v1/admin/rebuild/review", adm.Token},
		{"GET", "/v1/admin/backup", adm.Token},
	} {
		refused(p.method, p.path+"?asof=2025-06-30", p.token, "asof")
	}
	refused("GET", "/v1/counters?as_of=2025-06-30&as_of=2025-07-01", "", "as_of")
	refused("GET", "/v1/reviews/2025-05?format=md&format=html", "", "format")
	// a path no endpoint serves, and a method an endpoint does not take: the API's error shape
	for _, tc := range []struct {
		method, path string
		status       int
		says         string
	}{
		{"GET", "/v1/countres", http.StatusNotFound, "no endpoint at /v1/countres"},
		{"DELETE", "/v1/counters", http.StatusMethodNotAllowed, "/v1/counters does not take DELETE: it takes GET"},
	} {
		status, body := get(tc.method, tc.path, "")
		var e struct{ Error struct{ Message string } }
		if status != tc.status || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error.Message, tc.says) {
			t.Errorf("%s %s: %d %s, want %d saying %q", tc.method, tc.path, status, strings.TrimSpace(body), tc.status, tc.says)
		}
	}
	// A HEAD of a stream is refused, not run for its headers (a watch held the HEAD until its
	// client gave up; a replay read the whole ledger to throw it away); an ordinary answer's
	// HEAD is served.
	head := &http.Client{Timeout: 30 * time.Second}
	for _, p := range []struct {
		path, token string
		status      int
	}{
		{"/v1/reviews/2025-05/changes", "", http.StatusMethodNotAllowed},
		{"/v1/reviews/2025-05/as-known", aud.Token, http.StatusMethodNotAllowed},
		{"/v1/counters/as-known", aud.Token, http.StatusMethodNotAllowed},
		{"/v1/events", aud.Token, http.StatusMethodNotAllowed},
		{"/v1/audit/messages", aud.Token, http.StatusMethodNotAllowed},
		{"/v1/checkpoints", aud.Token, http.StatusMethodNotAllowed},
		{"/v1/admin/backup", adm.Token, http.StatusMethodNotAllowed},
		{"/v1/counters", "", http.StatusOK},
		{"/v1/reviews/2025-05", "", http.StatusOK},
	} {
		req, _ := http.NewRequest("HEAD", c.httpURL+p.path, nil)
		req.Header.Set("Authorization", "Bearer "+p.token)
		resp, err := head.Do(req)
		if err != nil {
			t.Errorf("HEAD %s: %v", p.path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != p.status || (p.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET") {
			t.Errorf("HEAD %s: %d, Allow %q; want %d", p.path, resp.StatusCode, resp.Header.Get("Allow"), p.status)
		}
	}
	if s, body := get("GET", "/v1/counters?as_of=2025-06-30", ""); s != http.StatusOK {
		t.Errorf("GET /v1/counters?as_of=2025-06-30: %d %s", s, body)
	}
	if s, body := get("GET", "/reviews/2025-05?utm_source=newsletter", ""); s != http.StatusOK {
		t.Errorf("the review's page with a tracking parameter: %d %.200s", s, body)
	}
}
