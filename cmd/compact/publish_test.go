package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"compact/ledger"
)

// publishCLI runs `compact publish` against c with the token of creds and returns its
// results (stdout, a JSON object a line), its standard error and its exit code.
func publishCLI(t *testing.T, bin string, c *child, creds ledger.Credentials, input string, args ...string) ([]ledger.Result, string, int) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "events")
	if err := os.WriteFile(file, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(append([]string{"publish", "--server", c.httpURL, "--token", creds.Token}, args...), file)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var results []ledger.Result
	for line := range strings.Lines(stdout.String()) {
		var r struct {
			ID        string `json:"id"`
			Seq       uint64 `json:"seq"`
			Duplicate bool   `json:"duplicate"`
			Error     *struct{ Field, Message string }
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		res := ledger.Result{ID: r.ID, Seq: r.Seq, Duplicate: r.Duplicate}
		if r.Error != nil {
			res.Error = &ledger.FieldError{Field: r.Error.Field, Message: r.Error.Message}
		}
		results = append(results, res)
	}
	return results, stderr.String(), code
}

func trainingEvent(id, title string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/UNOCT","type":"compact.training.delivered","time":"2025-06-24T09:00:00Z","data":{"title":%q,"start":"2025-06-24","end":"2025-06-27","organizers":[{"entity":"UNOCT"}],"countries":["KHM"],"format":"training"}}`, id, title)
}

// `compact publish` reads one event, a JSON array or JSON Lines; prints a result per event;
// exits 1 and says how many were rejected when any was; and publishing again is answered with
// duplicates of the first sequences.
func TestPublishCLI(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	creds := addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	c := serveChild(t, bin, dir)

	bad := strings.Replace(trainingEvent("p-3", "x"), `"title":"x",`, "", 1)
	lines := trainingEvent("p-1", "one") + "\n" + trainingEvent("p-2", "two") + "\n" + bad + "\n"
	res, stderr, code := publishCLI(t, bin, c, creds, lines, "--batch", "2")
	if code != 1 || !strings.Contains(stderr, "1 of 3 events rejected") {
		t.Fatalf("exit %d, stderr %q: want 1 and the count of rejected events", code, stderr)
	}
	if len(res) != 3 || res[0].Seq == 0 || res[1].Seq != res[0].Seq+1 || res[2].Error == nil || res[2].Error.Field != "/data/title" {
		t.Fatalf("results %+v: want two stored in order and the third refused naming /data/title", res)
	}

	again, _, code := publishCLI(t, bin, c, creds, "["+trainingEvent("p-1", "one")+","+trainingEvent("p-2", "two")+"]")
	if code != 0 || len(again) != 2 || !again[0].Duplicate || again[0].Seq != res[0].Seq || !again[1].Duplicate || again[1].Seq != res[1].Seq {
		t.Fatalf("publishing again: exit %d, %+v; want duplicates of %d and %d", code, again, res[0].Seq, res[1].Seq)
	}

	one, _, code := publishCLI(t, bin, c, creds, trainingEvent("p-4", "four"))
	if code != 0 || len(one) != 1 || one[0].Seq != res[1].Seq+1 || one[0].Duplicate {
		t.Fatalf("one event: exit %d, %+v", code, one)
	}
}

// Over its token's rate the server answers 429 with Retry-After; `compact publish` waits as
// told and sends again, so every event is stored; with --retries 0 it stops at the first 429.
func TestPublishCLIWaitsOutTheRateLimit(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	creds := addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	// one request a second, bursts of two
	c := serveChild(t, bin, dir, "--rate-limit", "1")

	var in strings.Builder
	for i := range 4 {
		in.WriteString(trainingEvent(fmt.Sprintf("r-%d", i), fmt.Sprintf("training %d", i)) + "\n")
	}
	res, stderr, code := publishCLI(t, bin, c, creds, in.String(), "--batch", "1")
	if code != 0 || len(res) != 4 {
		t.Fatalf("exit %d, %d results, stderr %q: want all 4 stored", code, len(res), stderr)
	}
	for i, r := range res {
		if r.Error != nil || r.Duplicate || r.Seq != uint64(i+1) {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if !strings.Contains(stderr, "429 Too Many Requests; sending again in 1s") {
		t.Fatalf("stderr %q: want the 429 and the wait it was told", stderr)
	}

	_, stderr, code = publishCLI(t, bin, c, creds, trainingEvent("r-8", "eight")+"\n"+trainingEvent("r-9", "nine")+"\n"+trainingEvent("r-10", "ten"), "--batch", "1", "--retries", "0")
	if code != 1 || !strings.Contains(stderr, "429") {
		t.Fatalf("--retries 0: exit %d, stderr %q: want the 429 as the error", code, stderr)
	}
}

// publish sends each event's bytes as its input holds them: the server gets "[" + the events
// + "]" with nothing re-encoded (no \u0026 for &, no compaction of the publisher's spacing),
// from JSON Lines and from a pretty-printed array alike.
func TestPublishSendsEventBytesAsWritten(t *testing.T) {
	bin := compactBinary(t)
	srv, bodies := recordingServer(t)

	one := `{"specversion":"1.0","id":"a","source":"/entities/UNOCT","type":"compact.training.delivered","time":"2025-06-24T09:00:00Z","data":{"title":"UNOCT & UNODC <CBRN> workshop"}}`
	two := `{"specversion": "1.0", "id": "b", "data": {"title": "caf\u00e9 \"x\" \/ y"}}`
	for _, tc := range []struct{ name, input string }{
		{"JSON Lines", one + "\n" + two + "\n"},
		{"a pretty-printed array", "[\n  " + one + " ,\n\t" + two + "\r\n]\n"},
	} {
		before := len(bodies())
		file := filepath.Join(t.TempDir(), "events")
		os.WriteFile(file, []byte(tc.input), 0o644)
		_, stderr, code := runBin(t, bin, "publish", "--server", srv.URL, "--token", "x", file)
		var got string
		for _, b := range bodies()[before:] {
			got += string(b)
		}
		if want := "[" + one + "," + two + "]"; code != 0 || got != want {
			t.Errorf("%s: exit %d (stderr %q), sent\n  %s\nwant\n  %s", tc.name, code, stderr, got, want)
		}
	}
}

// Large events go in as many requests as the server's limit needs, not in requests of
// --batch events that the server would refuse whole.
func TestPublishKeepsRequestsUnderTheServerLimit(t *testing.T) {
	bin := compactBinary(t)
	srv, bodies := recordingServer(t)

	var in strings.Builder
	const n = 300 // 300 events of ~60 KB: ~18 MB, over two requests' worth at most
	for i := range n {
		fmt.Fprintf(&in, `{"specversion":"1.0","id":"big-%d","data":{"title":%q}}`+"\n", i, strings.Repeat("x", 60_000))
	}
	file := filepath.Join(t.TempDir(), "events")
	os.WriteFile(file, []byte(in.String()), 0o644)
	_, stderr, code := runBin(t, bin, "publish", "--server", srv.URL, "--token", "x", "--batch", "1000", file)
	var sizes []int
	events := 0
	for _, b := range bodies() {
		var got []json.RawMessage
		json.Unmarshal(b, &got)
		sizes, events = append(sizes, len(b)), events+len(got)
	}
	if code != 0 || events != n || len(sizes) < 3 {
		t.Fatalf("exit %d (stderr %q): %d events in requests of %v bytes", code, stderr, events, sizes)
	}
	for _, s := range sizes {
		if s > ledger.MaxRequestBytes {
			t.Errorf("a request of %d bytes, over the server's %d: %v", s, ledger.MaxRequestBytes, sizes)
		}
	}
}

// recordingServer stands in for the ledger's POST /v1/events: it answers that it stored every
// event of a request, and keeps each request's body, in order.
func recordingServer(t *testing.T) (*httptest.Server, func() [][]byte) {
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		var events []json.RawMessage
		json.Unmarshal(b, &events)
		replyStored(w, events)
	}))
	t.Cleanup(srv.Close)
	return srv, func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(bodies)
	}
}

// replyStored answers a request of events as a ledger that stored each.
func replyStored(w http.ResponseWriter, events []json.RawMessage) {
	w.WriteHeader(http.StatusCreated)
	var reply ledger.Reply
	for i := range events {
		reply.Results = append(reply.Results, ledger.Result{ID: fmt.Sprint(i), Seq: uint64(i + 1)})
	}
	json.NewEncoder(w).Encode(reply)
}

// An event too large for any request (over the server's 8 MiB) is not sent: its result says
// so and the events around it are published. It used to go in a request of its own, which
// the server refused whole ("split the batch"), and publish stopped there, the events after
// it never sent.
func TestPublishAnEventTooLargeForARequest(t *testing.T) {
	bin := compactBinary(t)
	srv, bodies := recordingServer(t)
	huge := fmt.Sprintf(`{"specversion":"1.0","id":"huge","data":{"title":%q}}`, strings.Repeat("x", ledger.MaxRequestBytes))
	file := filepath.Join(t.TempDir(), "events")
	os.WriteFile(file, []byte(trainingEvent("t-1", "one")+"\n"+huge+"\n"+trainingEvent("t-3", "three")+"\n"), 0o644)
	stdout, stderr, code := runBin(t, bin, "publish", "--server", srv.URL, "--token", "x", file)
	var ids []string
	for _, b := range bodies() {
		if len(b) > ledger.MaxRequestBytes {
			t.Fatalf("a request of %d bytes, over the server's %d", len(b), ledger.MaxRequestBytes)
		}
		var got []struct{ ID string }
		json.Unmarshal(b, &got)
		for _, e := range got {
			ids = append(ids, e.ID)
		}
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 1 || !slices.Equal(ids, []string{"t-1", "t-3"}) || len(lines) != 3 ||
		!strings.Contains(lines[1], `"id":"huge"`) || !strings.Contains(lines[1], "not sent") || !strings.Contains(stderr, "1 of 3 events rejected") {
		t.Fatalf("exit %d, sent %v, stdout %q, stderr %q; want t-1 and t-3 sent, huge's result saying it is too large, exit 1", code, ids, stdout, stderr)
	}
}
