package backup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"compact/ledger/tmpfiles"
)

// Save writes the backup file r carries to path ("-": standard output), checking it against
// its manifest as it goes, and returns the manifest and the bytes written. The file appears
// under path, synced, only once it is whole and checked: a connection cut, or a server that
// failed half-way, leaves nothing there that looks like a backup. It never replaces a file.
func Save(r io.Reader, path string) (*Manifest, int64, error) {
	if path == "-" {
		cw := &countWriter{w: os.Stdout}
		m, err := Check(io.TeeReader(r, cw), nil)
		if cw.err != nil {
			err = cw.err // the write's, naming where it went
		}
		if err != nil {
			return nil, cw.n, fmt.Errorf("%w (what was written to standard output is not a usable backup)", err)
		}
		return m, cw.n, nil
	}
	f, err := createPartial(path)
	if err != nil {
		return nil, 0, err
	}
	tmp := f.Name()
	removeKilledPartials(filepath.Dir(path))
	defer func() {
		f.Close()
		os.Remove(tmp) // once linked under path, only the temporary name goes
	}()
	cw := &countWriter{w: f}
	m, err := Check(io.TeeReader(r, cw), nil)
	if cw.err != nil {
		return nil, 0, cw.err // the write's, naming the file
	}
	if err != nil {
		return nil, 0, err
	}
	if err := f.Sync(); err != nil {
		return nil, 0, err
	}
	// Linked, not renamed: a file made at path meanwhile is not replaced.
	if err := link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, 0, fmt.Errorf("%s was made while the backup was written: choose another name", path)
		}
		// A file system without hard links (FAT, exFAT, some network mounts): renamed, once
		// nothing is found at path, rather than the whole download thrown away.
		if _, lerr := os.Lstat(path); lerr == nil {
			return nil, 0, fmt.Errorf("%s was made while the backup was written: choose another name", path)
		}
		if rerr := os.Rename(tmp, path); rerr != nil {
			return nil, 0, fmt.Errorf("%w (and renaming: %v)", err, rerr)
		}
	}
	return m, cw.n, syncDir(filepath.Dir(path))
}

// createPartial makes path's partial file, locked while it is written: a later Save can tell
// the partial files of saves that were killed (they hold what a backup holds, entities'
// credential hashes included) from those being written, and removes the first.
func createPartial(path string) (*os.File, error) {
	f, err := tmpfiles.Locked(func() (string, error) {
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+partialInfix+"*")
		if err != nil {
			return "", err
		}
		createdPartial(f.Name())
		return f.Name(), f.Close()
	}, os.O_RDWR)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// partialInfix marks the temporary name of a backup file being saved: .NAME.partial-RANDOM.
const partialInfix = ".partial-"

// removeKilledPartials removes the partial files in dir that no Save holds: those of saves
// that were killed.
func removeKilledPartials(dir string) {
	tmpfiles.RemoveUnheld(dir, func(e os.DirEntry) bool { return !e.IsDir() && isPartialName(e.Name()) })
}

// isPartialName says whether name is one Save gives its partial files: .NAME.partial- and
// the digits os.CreateTemp puts for its *, so that other programs' files are left alone.
func isPartialName(name string) bool {
	i := strings.LastIndex(name, partialInfix)
	return strings.HasPrefix(name, ".") && i >= 2 && tmpfiles.IsTempName(name[i:], partialInfix)
}

// createdPartial is called between the making of a partial file and its lock: a test runs
// another Save there.
var createdPartial = func(string) {}

// link is os.Link; a test makes it fail as a file system without hard links does.
var link = os.Link

// countWriter counts what it writes, and keeps the error a write failed with: Check reports
// it as a read of the backup failing, which would blame the file for the disk.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
