package demo

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// generated are the files ./gen writes; the hand-written ones are its input.
var generated = []string{
	"members.jsonl", "openings.jsonl", "focal_points.jsonl", "documents.jsonl",
	"platform_visits.jsonl", "cted.jsonl", "entities.json",
}

// TestGeneratedFilesAreUpToDate regenerates the bulk into a temporary directory and compares it
// byte for byte with the checked-in files, so neither the generator nor the data can drift.
func TestGeneratedFilesAreUpToDate(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run ./gen: %v", err)
	}
	out := t.TempDir()
	cmd := exec.Command(goBin, "run", "./gen", "-in", ".", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./gen: %v\n%s", err, b)
	}
	for _, name := range generated {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("gen did not write %s: %v", name, err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("checked-in %s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what ./gen writes: run `go generate ./schemas/demo` and check the result in", name)
		}
	}
	// Every embedded event file is either generated or hand-written, and published.
	for _, name := range Files {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("Files lists %s, which does not exist", name)
		}
	}
}
