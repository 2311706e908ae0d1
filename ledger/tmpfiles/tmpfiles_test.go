package tmpfiles

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// RemoveUnheldDirs removes what Dir made and nobody holds, and nothing else: not a directory
// Dir made that is still held (a lock taken through another open file counts, as another
// process's would), not a name that only shares the prefix, not a file.
func TestRemoveUnheldDirs(t *testing.T) {
	parent := t.TempDir()
	held, done, err := Dir(parent, "x-")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	// What a killed process leaves: made the same way, its lock gone with it.
	left, err := os.MkdirTemp(parent, "x-*")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(left, "data"), []byte("gigabytes"), 0o600)
	for _, name := range []string{"x-notes", "x-"} {
		if err := os.Mkdir(filepath.Join(parent, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(parent, "x-123"), nil, 0o600) // a file, not a directory

	RemoveUnheldDirs(parent, "x-")
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("an unheld directory is still there: %v", err)
	}
	for _, p := range []string{held, filepath.Join(parent, "x-notes"), filepath.Join(parent, "x-"), filepath.Join(parent, "x-123")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}

	// The lock is the directory's own: another open file of it cannot take it.
	f, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != syscall.EWOULDBLOCK {
		t.Errorf("flock of a held directory: %v, want EWOULDBLOCK", err)
	}
	done()
	if _, err := os.Stat(held); !os.IsNotExist(err) {
		t.Errorf("done left the directory: %v", err)
	}
}

func TestIsTempName(t *testing.T) {
	for name, want := range map[string]bool{
		"compact-bench-4093": true, "compact-bench-": false, "compact-bench-12a": false,
		"compact-bench": false, "other-123": false,
	} {
		if got := IsTempName(name, "compact-bench-"); got != want {
			t.Errorf("IsTempName(%q) = %v, want %v", name, got, want)
		}
	}
}
