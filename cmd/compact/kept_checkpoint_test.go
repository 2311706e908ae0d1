package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"compact/ledger/audit"
)

// TestSavedCheckpointSurvivesACutWrite: `compact verify --save-checkpoint FILE` replaces the
// checkpoint an auditor kept, which is what catches a re-signed rewrite of history. A verify
// whose write of FILE stops part-way (here a file size limit stops it, as a kill or a full
// disk would) must leave the checkpoint kept before, not a part of the new one.
func TestSavedCheckpointSurvivesACutWrite(t *testing.T) {
	bin := compactBinary(t)
	dataDir := t.TempDir()
	pub := addEntityCLI(t, bin, dataDir, "UNODC", "publisher")
	aud := addEntityCLI(t, bin, dataDir, "AUDITOR", "auditor")
	c := serveChild(t, bin, dataDir)
	kept := filepath.Join(t.TempDir(), "seen.ckpt")
	fillLedger(t, c.httpURL, pub.Token, "a", 1000)
	waitCheckpoint := func(size int) {
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(verifyCLI(t, bin, c.httpURL, dataDir, aud.Token), strconv.Itoa(size)) {
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint of size %d", size)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitCheckpoint(1000)
	verifyCLI(t, bin, c.httpURL, dataDir, aud.Token, "--save-checkpoint", kept)
	before, err := os.ReadFile(kept)
	if err != nil || len(before) < 100 {
		t.Fatalf("kept checkpoint %q: %v", before, err)
	}
	fillLedger(t, c.httpURL, pub.Token, "b", 1000)
	waitCheckpoint(2000)
	// A file size limit of 0: the write of FILE fails as a kill or a full disk would cut it.
	out, err := exec.Command("sh", "-c", `ulimit -f 0 && exec "$0" "$@"`, bin, "verify", "--server", c.httpURL, "--token", aud.Token,
		"--key", filepath.Join(dataDir, audit.VerifierKeyFile), "--save-checkpoint", kept).CombinedOutput()
	if err == nil {
		t.Fatalf("verify with its write cut short exited 0:\n%s", out)
	}
	after, _ := os.ReadFile(kept)
	if !bytes.Equal(after, before) {
		t.Fatalf("the kept checkpoint was destroyed by a verify whose write was cut short:\nbefore: %q\nafter: %q", before, after)
	}
	verifyCLI(t, bin, c.httpURL, dataDir, aud.Token, "--checkpoint", kept)
	// The write that was cut short was of a newer checkpoint: the test tried a real replacement.
	newer := filepath.Join(t.TempDir(), "newer.ckpt")
	verifyCLI(t, bin, c.httpURL, dataDir, aud.Token, "--save-checkpoint", newer)
	if b, _ := os.ReadFile(newer); bytes.Equal(b, before) {
		t.Fatal("no newer checkpoint to save: the test proved nothing")
	}
}
