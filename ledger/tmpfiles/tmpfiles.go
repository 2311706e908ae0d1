package tmpfiles

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Locked makes a temporary file or directory with make, opens it with flag and locks it. The
// lock lasts until the returned file is closed or the process ends.
//
// Another process's RemoveUnheld may find the name in the instant between its making and its
// lock, and take the lock or remove it: that one is left to it, and another made.
func Locked(make func() (string, error), flag int) (*os.File, error) {
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

// Dir makes a directory in parent named prefix and os.MkdirTemp's random digits, locked for
// as long as the caller works in it. done removes it and lets the lock go.
func Dir(parent, prefix string) (dir string, done func(), err error) {
	d, err := Locked(func() (string, error) { return os.MkdirTemp(parent, prefix+"*") }, os.O_RDONLY)
	if err != nil {
		return "", nil, fmt.Errorf("a working directory in %s: %w", orTempDir(parent), err)
	}
	return d.Name(), func() {
		os.RemoveAll(d.Name())
		d.Close()
	}, nil
}

func orTempDir(parent string) string {
	if parent == "" {
		return os.TempDir()
	}
	return parent
}

// RemoveUnheld removes the entries of dir that match and that no process holds a lock on:
// what a killed process left, where a running one holds its own.
func RemoveUnheld(dir string, match func(os.DirEntry) bool) {
	// Read, not globbed: dir is a path, and one holding [ or \ is no pattern.
	entries, _ := os.ReadDir(orTempDir(dir))
	for _, e := range entries {
		if !match(e) {
			continue
		}
		p := filepath.Join(orTempDir(dir), e.Name())
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

// RemoveUnheldDirs removes the directories of dir that Dir(dir, prefix) made and no process
// holds: the name is prefix and digits only, so that other programs' directories that happen
// to share the prefix are left alone.
func RemoveUnheldDirs(dir, prefix string) {
	RemoveUnheld(dir, func(e os.DirEntry) bool { return e.IsDir() && IsTempName(e.Name(), prefix) })
}

// IsTempName says whether name is prefix followed by the digits os.CreateTemp and
// os.MkdirTemp put for their *.
func IsTempName(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
