package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"compact/ledger/audit"
)

// A signing key that other users of the machine can read (copied with a 0644 umask) is said
// at start, with what to do; one kept 0600, as serve makes it, is not.
func TestServeWarnsOfASigningKeyOthersCanRead(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	r := newRestartable(t, bin, dir)
	c := r.start()
	c.kill()
	key := filepath.Join(dir, audit.SignerKeyFile)
	const warning = "the ledger's signing key can be read by other users"
	r.logMu.Lock()
	first := r.logs.String()
	r.logMu.Unlock()
	if strings.Contains(first, warning) {
		t.Fatalf("warned of the key serve made itself:\n%s", first)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	c = r.start()
	c.kill()
	r.logMu.Lock()
	defer r.logMu.Unlock()
	if said := r.logs.String()[len(first):]; !strings.Contains(said, warning) || !strings.Contains(said, "mode=0644") {
		t.Fatalf("a start with the key 0644 said:\n%s", said)
	}
}
