package backup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// renameNoReplace never replaces what is at its target, and renames when nothing is.
func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "from"), filepath.Join(dir, "to")
	os.WriteFile(from, []byte("restored"), 0o600)
	os.WriteFile(to, []byte("appeared meanwhile"), 0o600)
	if err := renameNoReplace(from, to); !errors.Is(err, os.ErrExist) {
		t.Errorf("onto a file: %v, want os.ErrExist", err)
	}
	if b, _ := os.ReadFile(to); string(b) != "appeared meanwhile" {
		t.Errorf("the file at the target became %q", b)
	}
	os.Remove(to)
	if err := renameNoReplace(from, to); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(to); string(b) != "restored" {
		t.Errorf("renamed: %q", b)
	}
	if err := checkThenRename(to, to+"2"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(to, nil, 0o600)
	if err := checkThenRename(to, to+"2"); !errors.Is(err, os.ErrExist) {
		t.Errorf("checkThenRename onto a file: %v", err)
	}
}
