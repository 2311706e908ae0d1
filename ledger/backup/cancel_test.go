package backup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"compact/ledger/backup"
)

// cancellingReader gives r, and ends ctx once after bytes have been read from it; it counts
// the reads asked of it after that.
type cancellingReader struct {
	r           io.Reader
	after, read int
	cancel      func()
	cancelled   bool
	readsAfter  int
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.cancelled {
		c.readsAfter++
	}
	n, err := c.r.Read(p)
	c.read += n
	if !c.cancelled && c.read >= c.after {
		c.cancelled = true
		c.cancel()
	}
	return n, err
}

// A restore stops reading its file once its context ends. The file can be gigabytes, from
// a pipe, and reading and checking it is most of a restore: a Ctrl-C must not wait for all
// of it to be read, written out and hashed, nor be reported as a damaged file.
func TestRestoreStopsReadingWhenCancelled(t *testing.T) {
	l := newLedger(t, 200)
	file := backupOf(t, l)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &cancellingReader{r: bytes.NewReader(file), after: 1024, cancel: cancel}
	to := filepath.Join(t.TempDir(), "restored")
	_, err := backup.Restore(ctx, r, backup.RestoreConfig{DataDir: to})
	if !errors.Is(err, context.Canceled) || errors.Is(err, backup.ErrIncomplete) {
		t.Errorf("a cancelled restore: %v, want the cancellation, not a damaged file", err)
	}
	if r.readsAfter > 0 {
		t.Errorf("the restore went on reading the file after it was cancelled: %d reads more, %d of its %d bytes in all", r.readsAfter, r.read, len(file))
	}
	if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cancelled restore left %s: %v", to, err)
	}
}

// logLines is a slog handler that keeps the messages logged to it, and calls on with each.
type logLines struct {
	mu    *sync.Mutex
	lines *[]string
	on    func(msg string)
}

func (h logLines) Enabled(context.Context, slog.Level) bool { return true }
func (h logLines) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	*h.lines = append(*h.lines, r.Message)
	h.mu.Unlock()
	h.on(r.Message)
	return nil
}
func (h logLines) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logLines) WithGroup(string) slog.Handler      { return h }

// A restore cancelled while it sends a stream to the embedded server ends the server's
// restore of it before stopping the server. Left alone, the server's restore waits for the
// next chunk until its watchdog gives up (5 s without one), and the server's shutdown waits
// for that: a Ctrl-C took seconds to be done. The server's log shows which it was: its
// restore ended ("Restore failed") before it was told to shut down, or not.
func TestRestoreCancelledEndsTheServersRestore(t *testing.T) {
	l := newLedger(t, 50)
	file := backupOf(t, l)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	var lines []string
	log := slog.New(logLines{mu: &mu, lines: &lines, on: func(msg string) {
		if strings.HasPrefix(msg, "Starting restore for stream") { // the server has begun, before it answers
			cancel()
		}
	}})
	to := filepath.Join(t.TempDir(), "restored")
	_, err := backup.Restore(ctx, bytes.NewReader(file), backup.RestoreConfig{DataDir: to, Logger: log})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled restore: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	ended, shutdown := -1, -1
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "Restore failed") || strings.HasPrefix(l, "Completed restore"):
			ended = i
		case strings.HasPrefix(l, "Initiating Shutdown") && shutdown < 0:
			shutdown = i
		}
	}
	if ended < 0 || shutdown < 0 || ended > shutdown {
		t.Errorf("the server's restore ended at line %d of its log, its shutdown began at line %d: want it ended first\n%s", ended, shutdown, strings.Join(lines, "\n"))
	}
}
