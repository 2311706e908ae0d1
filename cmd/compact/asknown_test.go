package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"compact/ledger"
	"compact/projections"
)

// asKnownServer is a `compact serve` with a publisher (UNOCT) and an auditor.
type asKnownServer struct {
	t        *testing.T
	dir      string
	url      string
	pubToken string
	audToken string
}

func startAsKnownServer(t *testing.T) *asKnownServer {
	bin := compactBinary(t)
	dir := t.TempDir()
	pub := addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	aud := addEntityCLI(t, bin, dir, "AUDIT", "auditor")
	c := serveChild(t, bin, dir)
	return &asKnownServer{t: t, dir: dir, url: c.httpURL, pubToken: pub.Token, audToken: aud.Token}
}

func (s *asKnownServer) get(path, token string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// publish appends a training of the 2025-05 review and returns its sequence and ledger time.
func (s *asKnownServer) publish(id string) (uint64, time.Time) {
	s.t.Helper()
	ev := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/UNOCT","type":"compact.training.delivered","time":"2025-06-24T09:00:00Z","data":{"title":"UNOCT training %s","start":"2025-06-24","end":"2025-06-27","organizers":[{"entity":"UNOCT"}],"countries":["KHM"],"format":"training"}}`, id, id)
	req, _ := http.NewRequest("POST", s.url+"/v1/events", strings.NewReader(ev))
	req.Header.Set("Content-Type", ledger.MediaEvent)
	req.Header.Set("Authorization", "Bearer "+s.pubToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		s.t.Fatalf("publish %s: %v %v", id, err, resp)
	}
	resp.Body.Close()
	_, b := s.get("/v1/events", s.audToken)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Seq        uint64 `json:"seq"`
			LedgerTime string `json:"ledgertime"`
			ID         string `json:"id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.ID == id {
			lt, err := time.Parse(time.RFC3339Nano, line.LedgerTime)
			if err != nil {
				s.t.Fatalf("ledger time of %s: %q: %v", id, line.LedgerTime, err)
			}
			return line.Seq, lt
		}
	}
	s.t.Fatalf("%s is not in the replay:\n%s", id, b)
	return 0, time.Time{}
}

// asKnown reads the 2025-05 review as known at t, as JSON and as Markdown.
func (s *asKnownServer) asKnown(t time.Time) (*projections.Review, string) {
	s.t.Helper()
	q := "/v1/reviews/2025-05/as-known?t=" + url.QueryEscape(t.Format(time.RFC3339Nano))
	st, b := s.get(q+"&format=json", s.audToken)
	if st != http.StatusOK {
		s.t.Fatalf("as known at %s: status %d: %s", t.Format(time.RFC3339Nano), st, b)
	}
	var r projections.Review
	if err := json.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("as known at %s: %v: %s", t.Format(time.RFC3339Nano), err, b)
	}
	_, md := s.get(q+"&format=md", s.audToken)
	return &r, string(md)
}

func items(r *projections.Review) int {
	n := 0
	for _, s := range r.Sections {
		n += len(s.Items)
	}
	return n
}

// TestAsKnownReviewNamesTheCheckpointOfItsTime: the review as known at T names the signed
// checkpoint that was the latest at T (appended at or before it), and says what it covers
// when that is not the review's whole range; before the first checkpoint it names none.
func TestAsKnownReviewNamesTheCheckpointOfItsTime(t *testing.T) {
	s := startAsKnownServer(t)
	seq1, lt1 := s.publish("k-1")

	// The live review names a checkpoint once one covers k-1 (the checkpointer signs every 10 s).
	var live projections.Review
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, b := s.get("/v1/reviews/2025-05", "")
		json.Unmarshal(b, &live)
		if live.Provenance.CheckpointSize >= seq1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covers k-1 in the live review: %s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	first := live.Provenance
	seq2, lt2 := s.publish("k-2") // after the first checkpoint, so none covers it yet at lt2
	if first.CheckpointSize != seq1 || seq2 != seq1+1 {
		t.Fatalf("k-1 at %d, k-2 at %d, first checkpoint of size %d: want them next to each other and the checkpoint at k-1", seq1, seq2, first.CheckpointSize)
	}
	t.Logf("k-1 at %d (%s), k-2 at %d (%s), first checkpoint: size %d, root %s",
		seq1, lt1.Format(time.RFC3339Nano), seq2, lt2.Format(time.RFC3339Nano), first.CheckpointSize, first.CheckpointRoot)

	for _, tc := range []struct {
		name       string
		at         time.Time
		items      int
		checkpoint bool
		provenance string // the end of the Markdown
	}{
		{"before k-1", lt1.Add(-time.Nanosecond), 0, false,
			"No signed checkpoint had been appended by then.\n"},
		{"at k-1, before the checkpoint that covers it", lt1, 1, false,
			"No signed checkpoint had been appended by then.\n"},
		{"after the first checkpoint, before k-2", lt2.Add(-time.Nanosecond), 1, true,
			fmt.Sprintf("Latest signed checkpoint at that time: tree size %d, root `%s`.\n", first.CheckpointSize, first.CheckpointRoot)},
		{"at k-2, which no checkpoint covered yet", lt2, 2, true,
			fmt.Sprintf("Latest signed checkpoint at that time: tree size %d, root `%s`; it covers ledger sequences 1 to %d only, not %d.\n",
				first.CheckpointSize, first.CheckpointRoot, seq1, seq2)},
	} {
		r, md := s.asKnown(tc.at)
		p := r.Provenance
		if n := items(r); n != tc.items {
			t.Errorf("%s: %d items, want %d", tc.name, n, tc.items)
		}
		if !p.AsKnownAt.Equal(tc.at) {
			t.Errorf("%s: provenance as known at %s, want %s", tc.name, p.AsKnownAt.Format(time.RFC3339Nano), tc.at.Format(time.RFC3339Nano))
		}
		if tc.checkpoint && (p.CheckpointSize != first.CheckpointSize || p.CheckpointRoot != first.CheckpointRoot) {
			t.Errorf("%s: provenance %+v, want the first checkpoint (size %d, root %s)", tc.name, p, first.CheckpointSize, first.CheckpointRoot)
		}
		if !tc.checkpoint && (p.CheckpointSize != 0 || p.CheckpointRoot != "") {
			t.Errorf("%s: provenance %+v names a checkpoint appended after that time", tc.name, p)
		}
		if !strings.HasSuffix(md, tc.provenance) {
			t.Errorf("%s: the Markdown does not end with %q; it ends:\n%s", tc.name, tc.provenance, md[max(0, strings.LastIndex(md, "---")):])
		}
	}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "as-known-") {
			t.Errorf("temporary store left in the data directory: %s", e.Name())
		}
	}
}

// TestServeRemovesAsKnownLeftovers: the temporary store of a build as known that a killed
// serve left in the data directory is gone once serve is up again; nothing else is touched.
func TestServeRemovesAsKnownLeftovers(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	for _, name := range []string{"as-known-1234567", "as-known-89", "keep/as-known-5", "not-as-known-7"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "000004.log"), []byte("pebble"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "as-known-note"), []byte("a file, not a store"), 0o644); err != nil {
		t.Fatal(err)
	}
	serveChild(t, bin, dir)
	for name, kept := range map[string]bool{"as-known-1234567": false, "as-known-89": false,
		"keep/as-known-5/000004.log": true, "not-as-known-7/000004.log": true, "as-known-note": true, "views": true} {
		_, err := os.Stat(filepath.Join(dir, name))
		if kept && err != nil {
			t.Errorf("%s: %v, want it kept", name, err)
		}
		if !kept && !os.IsNotExist(err) {
			t.Errorf("%s: still there (%v) once serve is up", name, err)
		}
	}
}

// TestReviewDiffFromTheCommandLine: `compact review PERIOD --diff T` lists what changed in the
// review since T, as text, as JSON with --format json, and into a file with -o (which it used
// to ignore, printing to the terminal); --format html is refused rather than answered in text.
func TestReviewDiffFromTheCommandLine(t *testing.T) {
	s := startAsKnownServer(t)
	bin := compactBinary(t)
	_, lt1 := s.publish("d-1")
	s.publish("d-2")
	for deadline := time.Now().Add(30 * time.Second); ; { // the live review has d-2
		_, b := s.get("/v1/reviews/2025-05?format=json", "")
		var r projections.Review
		if json.Unmarshal(b, &r) == nil && items(&r) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("d-2 is not in the live review: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	diff := func(args ...string) (string, string, int) {
		return runBin(t, bin, append([]string{"review", "2025-05", "--diff", lt1.Format(time.RFC3339Nano),
			"--server", s.url, "--token", s.audToken}, args...)...)
	}

	out, errOut, code := diff()
	if code != 0 || !strings.HasPrefix(out, "Changes to the 2025-05 review since ") ||
		!strings.Contains(out, ": 1\n") || !strings.Contains(out, "added     UNOCT#d-2") || strings.Contains(out, "d-1") {
		t.Fatalf("--diff: exit %d, want one change, d-2 added:\n%s%s", code, out, errOut)
	}

	js, errOut, code := diff("--format", "json")
	var changes []ReviewChange
	if code != 0 || json.Unmarshal([]byte(js), &changes) != nil || len(changes) != 1 ||
		changes[0].Kind != "added" || changes[0].ID != "d-2" {
		t.Fatalf("--diff --format json: exit %d, want [d-2 added]:\n%s%s", code, js, errOut)
	}

	file := filepath.Join(t.TempDir(), "changes.json")
	printed, errOut, code := diff("--format", "json", "-o", file)
	got, err := os.ReadFile(file)
	if code != 0 || err != nil || printed != "" || string(got) != js {
		t.Fatalf("--diff -o: exit %d, printed %q, file %q (%v), want the JSON in the file only%s", code, printed, got, err, errOut)
	}

	if _, errOut, code := diff("--format", "html"); code != 2 || !strings.Contains(errOut, "--format html renders a review, not its changes") {
		t.Fatalf("--diff --format html: exit %d, want a usage error (2):\n%s", code, errOut)
	}
}
