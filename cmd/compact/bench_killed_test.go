package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// A bench that is killed cannot remove its scratch ledgers (gigabytes after a full run); the
// next bench removes them, and leaves alone those of a bench still running. Real binaries:
// A is killed once its directory holds something, B starts and removes A's, C starts while B
// runs and must not touch B's, then B and C are stopped with SIGINT and remove their own.
func TestKilledBenchLeavesNothingForTheNext(t *testing.T) {
	bin := compactBinary(t)
	tmp := t.TempDir()
	benchDirs := func() []string {
		entries, _ := os.ReadDir(tmp)
		var ds []string
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), benchDirPrefix) {
				ds = append(ds, e.Name())
			}
		}
		return ds
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "bench", "--quick", "--json")
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	// newDir waits for a bench directory not in before, with something in it.
	newDir := func(before []string) string {
		var d string
		waitFor(t, "a new bench directory with files in it", func() bool {
			for _, n := range benchDirs() {
				if !slices.Contains(before, n) {
					entries, _ := os.ReadDir(filepath.Join(tmp, n))
					if len(entries) > 0 {
						d = n
						return true
					}
				}
			}
			return false
		})
		return d
	}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(tmp, name))
		return err == nil
	}

	a := start()
	aDir := newDir(nil)
	a.Process.Kill()
	a.Wait()
	if !exists(aDir) {
		t.Fatalf("the killed bench's directory %s is gone before another bench ran: the test shows nothing", aDir)
	}
	// An unrelated directory that only shares the prefix is not the bench's to remove.
	other := filepath.Join(tmp, benchDirPrefix+"notes")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}

	b := start()
	bDir := newDir([]string{aDir})
	waitFor(t, "the killed bench's directory to be removed", func() bool { return !exists(aDir) })

	c := start()
	cDir := newDir([]string{aDir, bDir})
	if !exists(bDir) {
		t.Fatalf("a bench starting removed %s, the directory of a bench still running", bDir)
	}
	for _, cmd := range []*exec.Cmd{b, c} {
		cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatal(err)
			}
		}
	}
	if exists(bDir) || exists(cDir) {
		t.Errorf("benches stopped with SIGINT left %v", benchDirs())
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a directory that only shares the bench's prefix was removed: %v", err)
	}
}
