package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"compact/ledger/backup"
)

func runBackup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	out := fs.String("o", "", "write the backup to this `file` (- for stdout); it must not exist")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("backup takes no arguments, only flags; unexpected %q", fs.Arg(0))
	}
	if *out == "" {
		return usagef("backup: give -o FILE, the file to write (or -o - for stdout)")
	}
	if *out != "-" {
		if _, err := os.Lstat(*out); err == nil {
			return fmt.Errorf("backup: %s exists: choose another name (a backup never overwrites a file)", *out)
		}
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/admin/backup", "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("backup: %s: %s (an admin token is needed: --token or COMPACT_TOKEN)", resp.Status, serverError(resp.Body))
	default:
		return fmt.Errorf("backup: %s: %s", resp.Status, serverError(resp.Body))
	}
	m, size, err := saveBackup(resp.Body, *out)
	if err != nil {
		return err
	}
	where := *out
	if where == "-" {
		where = "stdout"
	}
	for _, s := range m.Streams {
		fmt.Fprintf(os.Stderr, "%s: %d messages, seq %d..%d\n", s.Name, s.Messages, s.FirstSeq, s.LastSeq)
	}
	fmt.Fprintf(os.Stderr, "backup of %s written to %s (%d bytes), checked against its manifest.\n"+
		"It holds no signing key: keep %s apart, and give it to 'compact restore --key'.\n",
		m.Created.Format("2006-01-02 15:04:05Z"), where, size, "ledger.key")
	return nil
}

// saveBackup writes the backup body carries to path and checks it as it goes: it appears
// under path, synced, only when it is whole and matches its manifest (a connection cut, or
// a server that failed half-way, leaves no file that looks like a backup).
func saveBackup(body io.Reader, path string) (*backup.Manifest, int64, error) {
	if path == "-" {
		cw := &countWriter{w: os.Stdout}
		m, err := backup.Check(io.TeeReader(body, cw), nil)
		if err != nil {
			return nil, cw.n, fmt.Errorf("backup: %w (what was written to stdout is not a usable backup)", err)
		}
		return m, cw.n, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	cw := &countWriter{w: f}
	m, err := backup.Check(io.TeeReader(body, cw), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	// Link, not rename: a file made at path meanwhile is not replaced.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, 0, fmt.Errorf("backup: %s was made while the backup was written: choose another name", path)
		}
		return nil, 0, fmt.Errorf("backup: %w", err)
	}
	os.Remove(tmp)
	done = true
	return m, cw.n, syncDir(filepath.Dir(path))
}

// syncDir makes the names made in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
