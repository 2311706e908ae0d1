package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"compact/ledger"
)

// openedFile reports whether process pid has path open (Linux's /proc).
func openedFile(pid int, path string) bool {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && l == path {
			return true
		}
	}
	return false
}

// `compact entities add` waiting for entities.lock, which another process holds, stops at
// the first Ctrl-C (exit 1, naming the lock) and adds nothing: it used to wait in a flock
// that no signal interrupted.
func TestEntitiesAddStopsWaitingForTheLockOnCtrlC(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	lock := filepath.Join(dir, "entities.lock")
	held, err := os.OpenFile(lock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	r := startWithOpenStdin(t, bin, "entities", "add", "UNOCT", "--name", "UN Office of Counter-Terrorism", "--data", dir)
	// It opens the lock after its signal handling is set up: a Ctrl-C before would only
	// test the default action.
	waitFor(t, "entities add to open "+lock, func() bool { return openedFile(r.cmd.Process.Pid, lock) })
	r.cmd.Process.Signal(os.Interrupt)
	if !r.ended(20 * time.Second) {
		t.Fatal("entities add still waiting for the lock 20 s after a Ctrl-C")
	}
	if r.code != 1 || !strings.Contains(r.stderr.String(), "entities.lock") {
		t.Fatalf("exit %d, stderr %q; want exit 1 naming the lock it waited for", r.code, r.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, ledger.EntitiesFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("entities file after an interrupted entities add: %v, want none", err)
	}
}

// `compact entities add` shows how the new credentials are used, for their role only: an
// auditor and an admin were shown how to publish, which their tokens are refused.
func TestEntitiesAddHintsForTheRole(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	for role, want := range map[string]string{
		"publisher":   "compact publish events.json",
		"secretariat": "compact publish events.json",
		"auditor":     "compact replay",
		"admin":       "compact status",
	} {
		out, errOut, code := runBin(t, bin, "entities", "add", "E"+strings.ToUpper(role[:3]), "--name", role, "--role", role, "--data", dir)
		if code != 0 || !strings.Contains(out, want) || (!ledger.Role(role).CanPublish() && strings.Contains(out, "Publish")) {
			t.Errorf("entities add --role %s: exit %d, want a hint with %q and none to publish unless it may:\n%s%s", role, code, want, out, errOut)
		}
	}
}
