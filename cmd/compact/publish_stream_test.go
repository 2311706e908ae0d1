package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a child's output, read by the test while the child still writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// running is a compact child whose standard input stays open until the test closes it: a
// producer that has not finished.
type running struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *lockedBuffer
	done           chan struct{}
	code           int  // valid once done is closed; -1 when ended by a signal
	signaled       bool // valid once done is closed
}

func startWithOpenStdin(t *testing.T, bin string, args ...string) *running {
	t.Helper()
	r := &running{cmd: exec.Command(bin, args...), stdout: new(lockedBuffer), stderr: new(lockedBuffer), done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	var err error
	if r.stdin, err = r.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := r.cmd.Wait()
		r.code = 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			r.code = ee.ExitCode()
			ws, _ := ee.Sys().(syscall.WaitStatus)
			r.signaled = ws.Signaled()
		}
		close(r.done)
	}()
	t.Cleanup(func() {
		r.stdin.Close()
		r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// ended reports whether the child ended within d, a deadline generous enough that only a
// child that would never end misses it.
func (r *running) ended(d time.Duration) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(d):
		return false
	}
}

// A bad --batch or --retries is known from the command line alone: publish says so at once,
// instead of after reading the whole of its input (with '-', after the producer has ended).
func TestPublishBadFlagsRefusedBeforeReadingInput(t *testing.T) {
	bin := compactBinary(t)
	for _, flags := range [][]string{{"--batch", "0"}, {"--batch", "1001"}, {"--retries", "-1"}} {
		r := startWithOpenStdin(t, bin, append(append([]string{"publish", "--server", "http://127.0.0.1:1"}, flags...), "-")...)
		if !r.ended(20 * time.Second) {
			t.Errorf("publish %s -: still running 20 s later, waiting for its input to end before checking the flags", strings.Join(flags, " "))
			continue
		}
		if r.code != 2 || !strings.Contains(r.stderr.String(), flags[0]) || !strings.Contains(r.stderr.String(), "Run 'compact -h'") {
			t.Errorf("publish %s -: exit %d, stderr %q; want exit 2 naming %s, with the hint", strings.Join(flags, " "), r.code, r.stderr.String(), flags[0])
		}
	}
}

// resultLines is how many results publish has printed (one JSON object a line).
func resultLines(s string) int { return strings.Count(s, "\n") }

// waitFor polls cond until it holds or a deadline generous enough for a loaded machine passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after 30 s for %s", what)
		}
	}
}

// `producer | compact publish -` sends each event once it is complete and no more input is
// there yet, without waiting for a full --batch or for the producer to end: JSON Lines and
// a JSON array alike, the array's events before its closing bracket. A SIGTERM then ends it
// with exit 1, saying it was interrupted. It used to read its whole input before sending
// anything: every event a running producer had written was held, and lost on a signal.
func TestPublishStreamsStandardInputAsItArrives(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	creds := addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	c := serveChild(t, bin, dir)
	r := startWithOpenStdin(t, bin, "publish", "--server", c.httpURL, "--token", creds.Token, "-")

	io.WriteString(r.stdin, trainingEvent("s-1", "one")+"\n"+trainingEvent("s-2", "two")+"\n"+trainingEvent("s-3", "three")+"\n")
	waitFor(t, "the results of 3 JSON Lines on a standard input left open", func() bool { return resultLines(r.stdout.String()) == 3 })
	if last := streamLastSeq(t, c.httpURL); last != 3 {
		t.Fatalf("stream last seq %d after 3 results, want 3", last)
	}
	io.WriteString(r.stdin, "[\n"+trainingEvent("s-4", "four")+",\n"+trainingEvent("s-5", "five"))
	waitFor(t, "the results of the first 2 events of an array still open", func() bool { return resultLines(r.stdout.String()) == 5 })

	r.cmd.Process.Signal(syscall.SIGTERM)
	if !r.ended(30 * time.Second) {
		t.Fatalf("publish still running 30 s after SIGTERM; stderr %q", r.stderr.String())
	}
	if r.code != 1 || !strings.Contains(r.stderr.String(), "interrupted after reading 5 events") {
		t.Fatalf("after SIGTERM: exit %d, stderr %q; want exit 1 saying it was interrupted after 5 events", r.code, r.stderr.String())
	}
	if last := streamLastSeq(t, c.httpURL); last != 5 {
		t.Fatalf("stream last seq %d, want 5", last)
	}
}

// heldServer answers POST /v1/events only when the test releases it, telling the test of
// each request it gets.
type heldServer struct {
	*httptest.Server
	got     chan []json.RawMessage
	release chan struct{}
}

func newHeldServer(t *testing.T) *heldServer {
	s := &heldServer{got: make(chan []json.RawMessage, 16), release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var events []json.RawMessage
		json.Unmarshal(body, &events)
		s.got <- events
		select {
		case <-s.release:
		case <-r.Context().Done():
			return
		}
		replyStored(w, events)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *heldServer) nextRequest(t *testing.T) []json.RawMessage {
	t.Helper()
	select {
	case events := <-s.got:
		return events
	case <-time.After(30 * time.Second):
		t.Fatal("no request reached the server in 30 s")
		return nil
	}
}

// A signal while a request is on its way does not cut it short (its events' fate would be
// unknown): publish waits for the answer, prints the results, then stops with exit 1.
func TestPublishInterruptedFinishesTheRequestUnderWay(t *testing.T) {
	bin := compactBinary(t)
	srv := newHeldServer(t)
	r := startWithOpenStdin(t, bin, "publish", "--server", srv.URL, "--token", "x", "-")
	io.WriteString(r.stdin, trainingEvent("h-1", "one")+"\n")
	if got := srv.nextRequest(t); len(got) != 1 {
		t.Fatalf("request of %d events, want 1", len(got))
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	// Whether the answer comes before or after the signal is handled, it must be printed.
	time.Sleep(300 * time.Millisecond)
	close(srv.release)
	if !r.ended(30 * time.Second) {
		t.Fatalf("publish still running 30 s after SIGTERM and the answer; stderr %q", r.stderr.String())
	}
	if r.code != 1 || resultLines(r.stdout.String()) != 1 || !strings.Contains(r.stderr.String(), "interrupted after reading 1 event;") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1, the one result, and the interruption", r.code, r.stdout.String(), r.stderr.String())
	}
}

// The first signal asks a command to stop cleanly; if it cannot (here publish waits for a
// server that never answers), a second one ends the process at once. Signals used to be
// caught for good, so nothing but SIGKILL ended a command stuck like this.
func TestSecondSignalEndsTheProcess(t *testing.T) {
	bin := compactBinary(t)
	srv := newHeldServer(t)
	r := startWithOpenStdin(t, bin, "publish", "--server", srv.URL, "--token", "x", "-")
	io.WriteString(r.stdin, trainingEvent("h-1", "one")+"\n")
	srv.nextRequest(t)
	// Signals are sent until it ends: the first may still be being handled when the second
	// arrives, and a signal that comes before the default action is back is only caught.
	for deadline := time.Now().Add(30 * time.Second); !r.ended(200 * time.Millisecond); {
		if time.Now().After(deadline) {
			t.Fatal("publish still running after 30 s of SIGTERMs")
		}
		r.cmd.Process.Signal(syscall.SIGTERM)
	}
	if !r.signaled {
		t.Fatalf("publish ended with exit %d (stderr %q); want it killed by the second SIGTERM, the first leaving the request under way to its answer", r.code, r.stderr.String())
	}
}

// The events before a malformed one are sent (results printed), then publish stops with
// exit 1 naming the malformed event.
func TestPublishSendsTheEventsBeforeAMalformedOne(t *testing.T) {
	bin := compactBinary(t)
	srv := newHeldServer(t)
	close(srv.release)
	file := filepath.Join(t.TempDir(), "events")
	os.WriteFile(file, []byte(trainingEvent("m-1", "one")+"\n"+trainingEvent("m-2", "two")+"\n{\"id\": oops}\n"+trainingEvent("m-4", "four")+"\n"), 0o644)
	stdout, stderr, code := runBin(t, bin, "publish", "--server", srv.URL, "--token", "x", file)
	if code != 1 || resultLines(stdout) != 2 || !strings.Contains(stderr, "reading events (event 3)") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1, 2 results and the error at event 3", code, stdout, stderr)
	}
}

// streamLastSeq is the ledger stream's last sequence, as GET /v1/status tells it.
func streamLastSeq(t *testing.T, base string) uint64 {
	t.Helper()
	resp, err := http.Get(base + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		StreamLastSeq uint64 `json:"stream_last_seq"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("status %s: %v", b, err)
	}
	return st.StreamLastSeq
}

// What publish says of input it cannot read names the event and what to do: a file saved
// with a byte order mark, or as UTF-16 (as Windows tools write them), is told so (it was
// "invalid character 'ï' looking for beginning of value"); input that ends inside an event
// says so and that the events before it were sent. Blank lines and CRLF line ends are
// white space between events.
func TestPublishSaysWhatIsWrongWithItsInput(t *testing.T) {
	bin := compactBinary(t)
	srv := newHeldServer(t)
	close(srv.release)
	one, two := trainingEvent("i-1", "one"), trainingEvent("i-2", "two")
	utf16 := []byte{0xff, 0xfe}
	for _, r := range one {
		utf16 = append(utf16, byte(r), 0)
	}
	for _, c := range []struct {
		name, input string
		code, sent  int
		stderr      []string
	}{
		{"blank lines and CRLF", one + "\r\n\r\n\n" + two + "\r\n", 0, 2, nil},
		{"a UTF-8 byte order mark", "\ufeff" + one + "\n" + two + "\n", 1, 0, []string{"byte order mark", "save it as UTF-8 without one"}},
		{"UTF-16", string(utf16), 1, 0, []string{"UTF-16", "convert it to UTF-8"}},
		{"a partial last line", one + "\n" + two[:40], 1, 1, []string{"event 2", "the input ends inside it", "publish the input again"}},
		{"a malformed event", one + "\n{\"id\":,}\n" + two, 1, 1, []string{"event 2", "invalid character ','", "publish the input again"}},
	} {
		file := filepath.Join(t.TempDir(), "events")
		os.WriteFile(file, []byte(c.input), 0o644)
		stdout, stderr, code := runBin(t, bin, "publish", "--server", srv.URL, "--token", "x", file)
		if code != c.code || resultLines(stdout) != c.sent {
			t.Errorf("%s: exit %d, %d results, stderr %q; want exit %d and %d results", c.name, code, resultLines(stdout), stderr, c.code, c.sent)
		}
		for _, s := range c.stderr {
			if !strings.Contains(stderr, s) {
				t.Errorf("%s: stderr %q does not say %q", c.name, stderr, s)
			}
		}
	}
}
