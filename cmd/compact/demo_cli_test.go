package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"compact/ledger"
)

// waitForDemo waits for the marker serve --demo writes once every demo event is stored.
func waitForDemo(t *testing.T, c *child, dir string) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "demo.loaded")); err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.logMu.Lock()
			defer c.logMu.Unlock()
			t.Fatalf("demo not loaded after 90 s; serve's log:\n%s", c.logs.String())
		}
	}
}

func readDemoCredentials(t *testing.T, dir, entity string) ledger.Credentials {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ledger.DemoCredentialsDir, entity+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var c ledger.Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s's demo credentials %q: %v", entity, b, err)
	}
	return c
}

// serve --demo on a data directory where a demo entity is already registered without its
// demo credentials (`compact entities add UNOCT` first, or a crash between registering it
// and writing its file), or with a file whose credentials are not the entity's: the entity
// is issued new credentials, written to demo-credentials/, and the demo loads. It used to
// stop at "entity UNOCT already exists", only logged, and never load the demo.
func TestDemoLoadsWhereADemoEntityIsAlreadyRegistered(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	added := addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	addEntityCLI(t, bin, dir, "CTED", "publisher")
	// CTED's file holds credentials of another ledger's CTED: well formed, not this one's.
	stale := addEntityCLI(t, bin, t.TempDir(), "CTED", "publisher")
	os.MkdirAll(filepath.Join(dir, ledger.DemoCredentialsDir), 0o700)
	b, _ := json.Marshal(stale)
	os.WriteFile(filepath.Join(dir, ledger.DemoCredentialsDir, "CTED.json"), b, 0o600)

	c := serveChild(t, bin, dir, "--demo")
	waitForDemo(t, c, dir) // CTED's events among them, published with its new nkey

	unoct := readDemoCredentials(t, dir, "UNOCT")
	if cted := readDemoCredentials(t, dir, "CTED"); cted.Token == stale.Token || cted.NKeySeed == stale.NKeySeed {
		t.Fatal("CTED's demo credentials file still holds the stale credentials")
	}
	if unoct.Token == added.Token || unoct.NKeySeed == added.NKeySeed || unoct.Role != ledger.RolePublisher {
		t.Fatalf("UNOCT's demo credentials %+v: want new publisher credentials", unoct)
	}
	fi, err := os.Stat(filepath.Join(dir, ledger.DemoCredentialsDir, "UNOCT.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("UNOCT's demo credentials file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if res, stderr, code := publishCLI(t, bin, c, unoct, trainingEvent("demo-new-creds", "with the demo credentials")); code != 0 || len(res) != 1 || res[0].Error != nil {
		t.Fatalf("publishing with UNOCT's demo credentials: exit %d, %+v, stderr %q", code, res, stderr)
	}
	// The credentials issued before are replaced: the ledger had no other way to publish
	// as UNOCT, and keeps no secret it could have written to the file instead.
	if _, stderr, code := publishCLI(t, bin, c, added, trainingEvent("demo-old-creds", "with the replaced token")); code != 1 || !strings.Contains(stderr, "401") {
		t.Fatalf("publishing with UNOCT's replaced token: exit %d, stderr %q; want 401", code, stderr)
	}
	c.logMu.Lock()
	logs := c.logs.String()
	c.logMu.Unlock()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "entity=UNOCT") {
		t.Fatalf("no warning that UNOCT's credentials were replaced in serve's log:\n%s", logs)
	}
}

// A demo entity registered with another role than the demo gives it cannot publish the
// demo's events: serve --demo refuses the data directory before it listens (exit 1, naming
// the entity), instead of serving without the demo.
func TestDemoRefusesADemoEntityRegisteredWithAnotherRole(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	addEntityCLI(t, bin, dir, "UNOCT", "auditor")
	httpPort, natsPort := httpAndNATSPorts(t)
	r := startWithOpenStdin(t, bin, "serve", "--demo", "--data", dir,
		"--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--listen", fmt.Sprintf("127.0.0.1:%d", natsPort))
	if !r.ended(60 * time.Second) {
		t.Fatalf("serve --demo still running 60 s later; its log:\n%s", r.stderr.String())
	}
	if r.code != 1 || !strings.Contains(r.stderr.String(), "UNOCT is registered as auditor") || strings.Contains(r.stderr.String(), "HTTP listening") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 before listening, naming UNOCT and its role", r.code, r.stderr.String())
	}
}
