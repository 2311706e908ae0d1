package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"compact/ledger"
)

// Each role can do over HTTP what the README's roles say, and nothing more, against the real
// binary: publisher and secretariat publish as themselves (only the secretariat opens a
// counter), auditor and admin read the raw history and the audit endpoints, only the admin
// runs operations; no role publishes as another entity; no token is 401 where one is needed.
func TestRolesOverHTTPAgainstTheRealServer(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	c := serveChild(t, bin, dir)
	tokens := map[string]string{"none": ""}
	for _, r := range []string{"publisher", "secretariat", "auditor", "admin"} {
		cr := addEntityCLI(t, bin, dir, strings.ToUpper(r[:3])+"X", r)
		tokens[r] = cr.Token
	}
	do := func(method, path, token, ctype string, body []byte) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, c.httpURL+path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, "the entities served", func() bool {
		s, _ := do("GET", "/v1/events?from_seq=1", tokens["auditor"], "", nil)
		return s == 200
	})
	self := map[string]string{"publisher": "PUBX", "secretariat": "SECX", "auditor": "AUDX", "admin": "ADMX", "none": "PUBX"}
	opening := `{"specversion":"1.0","id":"open-%s","source":"/entities/%s","type":"compact.counter.opened","time":"2025-05-01T00:00:00Z","data":{"counter":"documents_shared","value":3,"date":"2025-04-30"}}`
	type want map[string]int // role -> status; 0: any status but 401 and 403
	ok := 0
	checks := []struct {
		name   string
		method string
		path   func(role string) string
		body   func(role string) []byte
		want   want
	}{
		{"publish as itself", "POST", func(string) string { return "/v1/events" },
			func(r string) []byte { return perfEvent(self[r], "own-"+r) },
			want{"none": 401, "publisher": 201, "secretariat": 201, "auditor": 403, "admin": 403}},
		{"publish as another", "POST", func(string) string { return "/v1/events" },
			func(r string) []byte { return perfEvent("SECX", "spoof-"+r) },
			want{"none": 401, "publisher": 403, "auditor": 403, "admin": 403}},
		{"open a counter", "POST", func(string) string { return "/v1/events" },
			func(r string) []byte { return []byte(fmt.Sprintf(opening, r, self[r])) },
			want{"none": 401, "publisher": 403, "secretariat": 201, "auditor": 403, "admin": 403}},
		{"raw history", "GET", func(string) string { return "/v1/events" }, nil,
			want{"none": 401, "publisher": 403, "secretariat": 403, "auditor": ok, "admin": ok}},
		{"checkpoints", "GET", func(string) string { return "/v1/checkpoints" }, nil,
			want{"none": 401, "publisher": 403, "secretariat": 403, "auditor": ok, "admin": ok}},
		{"audit leaves", "GET", func(string) string { return "/v1/audit/leaves?from=1&to=1" }, nil,
			want{"none": 401, "publisher": 403, "secretariat": 403, "auditor": ok, "admin": ok}},
		{"proof", "GET", func(string) string { return "/v1/proofs/PUBX/own-publisher" }, nil,
			want{"none": 401, "publisher": 403, "secretariat": 403, "auditor": ok, "admin": ok}},
		{"counters as known", "GET", func(string) string { return "/v1/counters/as-known?as_known=2030-01-01T00:00:00Z" }, nil,
			want{"none": 401, "publisher": 403, "secretariat": 403, "auditor": ok, "admin": ok}},
		{"rebuild", "POST", func(string) string { return "/v1/admin/rebuild/counters?wait=false" }, nil,
			want{"none": 401, "publisher": 403, "secretariat": 403, "auditor": 403, "admin": ok}},
		{"quarantine", "GET", func(string) string { return "/v1/admin/quarantine/counters" }, nil,
			want{"none": 401, "publisher": 403, "secretariat": 403, "auditor": 403, "admin": ok}},
		{"counters (public)", "GET", func(string) string { return "/v1/counters" }, nil,
			want{"none": ok, "publisher": ok, "secretariat": ok, "auditor": ok, "admin": ok}},
	}
	for _, ch := range checks {
		for role, w := range ch.want {
			var body []byte
			ctype := ""
			if ch.body != nil {
				body, ctype = ch.body(role), ledger.MediaEvent
			}
			got, msg := do(ch.method, ch.path(role), tokens[role], ctype, body)
			if w == ok && (got == 401 || got == 403) || w != ok && got != w {
				t.Errorf("%s as %s: %d %s; want %d (0: allowed)", ch.name, role, got, strings.TrimSpace(msg), w)
			}
		}
	}
}
