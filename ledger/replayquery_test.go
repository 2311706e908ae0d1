package ledger_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"compact/ledger"
	"compact/ledger/natstest"
)

// GET /v1/events refuses a parameter it does not know, and a filter given twice, naming
// it: both used to be ignored, so a misspelt filter (?entitiy=UNODC, ?from=100) replayed
// the whole history as if it were the one asked for, and of ?entity=UNODC&entity=CTED
// only UNODC's events came back.
func TestReplayRefusesUnknownAndRepeatedParameters(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	pubs := map[string]*ledger.Credentials{}
	for _, e := range []string{"UNODC", "CTED"} {
		pubs[e] = addEntity(t, n, dir, e, ledger.RolePublisher)
	}
	aud := addEntity(t, n, dir, "AUDIT", ledger.RoleAuditor)
	mux := http.NewServeMux()
	(&ledger.HTTPHandlers{Ingester: n.Ingester, Auth: &ledger.Auth{Registry: n.Registry}, JS: n.JS,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	do := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", ledger.MediaEvent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for e, c := range pubs {
		if s, b := do("POST", "/v1/events", c.Token, activity(e, "q-1", "an event of "+e)); s != http.StatusCreated {
			t.Fatalf("publishing as %s: %d %s", e, s, b)
		}
	}

	for _, tc := range []struct{ query, field, says string }{
		{"entitiy=UNODC", "entitiy", `\"entitiy\" is not a parameter of this endpoint`},
		{"from=2", "from", `\"from\" is not a parameter of this endpoint`},
		{"entity=UNODC&entity=CTED", "entity", "entity given 2 times"},
		{"from_seq=1&from_seq=2", "from_seq", "from_seq given 2 times"},
		// A type the ledger does not accept, a prefix of one among them, used to replay
		// nothing (as if there were no such events), and "compact." failed after the 200
		// with NATS's "invalid subject name".
		{"type=compact.meeting.helds", "type", `type \"compact.meeting.helds\": not an event type`},
		{"type=compact.meeting", "type", `type \"compact.meeting\": not an event type`},
		{"type=compact.", "type", `type \"compact.\": not an event type`},
		{"type=compact.meeting.*", "type", `type \"compact.meeting.*\": not an event type`},
		// A value the filter does not take names its parameter in "field" too (it was "").
		{"since=2025-07-01T00:00:00Z&until=2025-06-01T00:00:00Z", "until", "until is before since"},
		{"from_seq=abc", "from_seq", "not a sequence number"},
		{"since=2025-07-01T00:00:00", "since", "not an RFC 3339 time with its zone"},
		{"entity=unodc", "entity", "must be 2-24 characters"},
	} {
		s, b := do("GET", "/v1/events?"+tc.query, aud.Token, "")
		if s != http.StatusBadRequest || !strings.Contains(b, tc.says) || !strings.Contains(b, `"error":{"field":"`+tc.field+`"`) {
			t.Errorf("GET /v1/events?%s: %d %s, want 400 saying %s with field %q", tc.query, s, strings.TrimSpace(b), tc.says, tc.field)
		}
	}
	s, b := do("GET", "/v1/events?entity=UNODC&from_seq=1", aud.Token, "")
	if s != http.StatusOK || strings.Count(b, "\n") != 1 || !strings.Contains(b, "/entities/UNODC") {
		t.Errorf("GET /v1/events?entity=UNODC: %d %s, want UNODC's one event", s, b)
	}
}

// A replay that cannot read the stream at all is a 503 with the reason, as GET
// /v1/checkpoints answers: it used to be a 200 whose only line was an error, which a client
// that looks at the status takes for an empty history.
func TestReplayThatCannotStartIsA503(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	aud := addEntity(t, n, dir, "AUDIT", ledger.RoleAuditor)
	// a JetStream without the ledger's stream
	_, js := natstest.Connect(t, natstest.Start(t))
	mux := http.NewServeMux()
	(&ledger.HTTPHandlers{Ingester: n.Ingester, Auth: &ledger.Auth{Registry: n.Registry}, JS: js,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("GET", srv.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+aud.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"error":{`) || !strings.Contains(string(b), "stream not found") {
		t.Errorf("GET /v1/events without a stream: %d %s, want 503 saying why", resp.StatusCode, b)
	}
}

// A caller that hangs up in the middle of a replay (`compact replay | head`) is the normal end
// of a replay not read to its end: it is logged at INFO, not as a WARN "replay failed", which
// told an operator that the ledger had a problem each time someone stopped reading.
func TestReplayHangUpIsNotAWarning(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	pub := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	aud := addEntity(t, n, dir, "AUDIT", ledger.RoleAuditor)
	var logs lockedBuffer
	mux := http.NewServeMux()
	(&ledger.HTTPHandlers{Ingester: n.Ingester, Auth: &ledger.Auth{Registry: n.Registry}, JS: n.JS,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}).Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	// More events than the handler writes before its first flush (1,000 lines), so that the
	// replay is still writing when the caller goes.
	for b := range 3 {
		var batch []string
		for i := range 1000 {
			batch = append(batch, activity("UNODC", fmt.Sprintf("h-%d-%d", b, i), "an event to replay"))
		}
		req, _ := http.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader("["+strings.Join(batch, ",")+"]"))
		req.Header.Set("Authorization", "Bearer "+pub.Token)
		req.Header.Set("Content-Type", ledger.MediaBatch)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("publishing: %s", resp.Status)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+aud.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"seq":1`) {
		t.Fatalf("first line of the replay: %q, %v", line, err)
	}
	cancel() // the caller goes
	resp.Body.Close()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs.String(), "replay ended"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no record of the replay's end after 20 s; the log:\n%s", logs.String())
		}
	}
	if got := logs.String(); strings.Contains(got, "level=WARN") || !strings.Contains(got, "level=INFO msg=\"replay ended before its end: the caller went away\"") {
		t.Errorf("a caller hanging up was logged as:\n%s", got)
	}
}
