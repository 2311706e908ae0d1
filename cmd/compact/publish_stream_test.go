package main

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
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
	code           int // valid once done is closed; -1 when ended by a signal
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
