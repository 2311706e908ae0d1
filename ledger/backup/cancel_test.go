package backup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
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
	var file bytes.Buffer
	if _, err := backup.Write(t.Context(), backup.Source{Conn: connect(t, l.srv), DataDir: l.dir}, &file); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &cancellingReader{r: bytes.NewReader(file.Bytes()), after: 1024, cancel: cancel}
	to := filepath.Join(t.TempDir(), "restored")
	_, err := backup.Restore(ctx, r, backup.RestoreConfig{DataDir: to})
	if !errors.Is(err, context.Canceled) || errors.Is(err, backup.ErrIncomplete) {
		t.Errorf("a cancelled restore: %v, want the cancellation, not a damaged file", err)
	}
	if r.readsAfter > 0 {
		t.Errorf("the restore went on reading the file after it was cancelled: %d reads more, %d of its %d bytes in all", r.readsAfter, r.read, file.Len())
	}
	if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cancelled restore left %s: %v", to, err)
	}
}
