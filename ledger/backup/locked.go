package backup

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// What a backup, a save or a verify keeps while it works (a copy of the streams, a partial
// file, a restored ledger) holds entities' credential hashes, and one that is killed leaves
// it. Each is locked (flock) by its process while it works, so that the next one can tell
// what a killed process left from what a running one holds, and remove the first.

// lockedTemp makes a temporary file or directory with make, opens it with flag and locks it.
// Another process's removeUnheld may find it in the instant between its making and its lock,
// and take the lock or remove it: that one is left to it, and another made.
func lockedTemp(make func() (string, error), flag int) (*os.File, error) {
	for range 10 {
		name, err := make()
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(name, flag, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed already
		}
		if err != nil {
			return nil, err
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			held, herr := f.Stat()
			named, nerr := os.Lstat(name)
			if herr == nil && nerr == nil && os.SameFile(held, named) {
				return f, nil
			}
		}
		f.Close()
		if err != nil && !errors.Is(err, syscall.EWOULDBLOCK) {
			os.RemoveAll(name)
			return nil, err
		}
	}
	return nil, errors.New("every temporary file made was removed or locked by another process at once")
}

// removeUnheld removes the entries of dir that match and that no process holds a lock on:
// what a killed Save or Verify left, where a running one holds its own.
func removeUnheld(dir string, match func(os.DirEntry) bool) {
	// Read, not globbed: dir is a path, and one holding [ or \ is no pattern.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !match(e) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(p)
		}
		f.Close()
	}
}
