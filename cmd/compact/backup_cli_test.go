package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/audit"
	"compact/ledger/backup"
)

// compact backup of a running ledger (the demo's, with its checkpoints), then compact restore
// into a new directory, is the same ledger served again: the same review and counters, the
// history verifies with the original verifier key, and the entities publish with the
// credentials they had. What is not a backup, or a directory in use, is refused (the package's
// tests show the restored ledger signing on, and a backup taken while writing).
func TestBackupAndRestoreFromTheCommandLine(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	adm := addEntityCLI(t, bin, dir, "ADMIN", "admin")
	aud := addEntityCLI(t, bin, dir, "AUDIT", "auditor")
	c := serveChild(t, bin, dir, "--demo")
	waitForDemo(t, c, dir)
	pub := readDemoCredentials(t, dir, "UNODC")
	// A checkpoint of the whole demo before the backup: the reviews compared below name the
	// latest signed checkpoint, and one signed by the original after the backup (the restored
	// ledger signs its own only 10 s later) made them differ.
	waitFor(t, "a checkpoint of every event", func() bool {
		out, _, code := runBin(t, bin, "verify", "--server", c.httpURL, "--token", aud.Token, "--key", filepath.Join(dir, audit.VerifierKeyFile))
		return code == 0 && strings.HasPrefix(out, "OK: ") && !strings.Contains(out, "not covered by a checkpoint yet")
	})

	file := filepath.Join(t.TempDir(), "ledger.tar")
	if _, stderr, code := runBin(t, bin, "backup", "-o", file, "--server", c.httpURL, "--token", aud.Token); code != 1 || !strings.Contains(stderr, "an admin token is needed") {
		t.Errorf("backup with an auditor's token: exit %d, %s", code, stderr)
	}
	_, stderr, code := runBin(t, bin, "backup", "-o", file, "--server", c.httpURL, "--token", adm.Token)
	if code != 0 || !strings.Contains(stderr, "COMPACT: ") || !strings.Contains(stderr, "checked against its manifest") {
		t.Fatalf("backup: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runBin(t, bin, "backup", "-o", file, "--server", c.httpURL, "--token", adm.Token); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("a second backup to the same file: exit %d, %s", code, stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".backup-*")); len(left) != 0 {
		t.Errorf("the server left %v", left)
	}
	if m := scrape(t, c.httpURL); m[`compact_backups_total{result="ok"}`] != 1 || m["compact_backup_last_bytes"] != float64(fileSize(t, file)) {
		t.Errorf("serve's backup metrics: ok %v, last bytes %v (the file has %d)", m[`compact_backups_total{result="ok"}`], m["compact_backup_last_bytes"], fileSize(t, file))
	}

	// an auditor checks the file itself: it restores, and its history is the signed one
	out, stderr, code := runBin(t, bin, "verify", "--backup", file, "--key", filepath.Join(dir, audit.VerifierKeyFile))
	if code != 0 || !strings.HasPrefix(out, "OK: ") {
		t.Errorf("verify --backup: exit %d, %s%s", code, out, stderr)
	}

	// a file cut short is refused, and leaves nothing
	b, _ := os.ReadFile(file)
	cut := filepath.Join(t.TempDir(), "cut.tar")
	os.WriteFile(cut, b[:len(b)/2], 0o600)
	to := filepath.Join(t.TempDir(), "restored")
	if _, stderr, code := runBin(t, bin, "restore", cut, "--data", to); code != 1 || !strings.Contains(stderr, "incomplete") {
		t.Errorf("restore of half a backup: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runBin(t, bin, "verify", "--backup", cut, "--key", filepath.Join(dir, audit.VerifierKeyFile)); code != 1 || !strings.Contains(stderr, "incomplete") {
		t.Errorf("verify --backup of half a backup: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(to); !os.IsNotExist(err) {
		t.Errorf("a refused restore left %s: %v", to, err)
	}
	if _, stderr, code := runBin(t, bin, "restore", file, "--data", dir); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Errorf("restore into the running ledger's directory: exit %d, %s", code, stderr)
	}
	began := time.Now()
	out, stderr, code = runBin(t, bin, "restore", file, "--data", to, "--key", filepath.Join(dir, audit.SignerKeyFile))
	if code != 0 || !strings.Contains(out, "compact serve --data "+to) {
		t.Fatalf("restore: exit %d\n%s%s", code, out, stderr)
	}
	killedRestores(t, bin, file, time.Since(began))

	r := serveChild(t, bin, to)
	waitCaughtUp(t, r.httpURL)
	waitCaughtUp(t, c.httpURL)
	for _, args := range [][]string{
		{"review", "2025-05", "--format", "md"},
		{"counters", "--as-of", "2025-06-30", "--json"},
	} {
		was, _, _ := runBin(t, bin, append(args, "--server", c.httpURL)...)
		is, stderr, code := runBin(t, bin, append(args, "--server", r.httpURL)...)
		if code != 0 || is != was || len(is) < 100 {
			t.Errorf("%v on the restored ledger (exit %d, %s):\n%.500s\nwant\n%.500s", args, code, stderr, is, was)
		}
	}
	out, stderr, code = runBin(t, bin, "verify", "--server", r.httpURL, "--token", aud.Token, "--key", filepath.Join(dir, audit.VerifierKeyFile))
	if code != 0 || !strings.HasPrefix(out, "OK") {
		t.Errorf("verify of the restored ledger with the original key: exit %d, %s%s", code, out, stderr)
	}
	// an entity publishes to the restored ledger with the credentials it had
	ev := `{"specversion":"1.0","id":"after-restore-1","source":"/entities/UNODC","type":"compact.document.shared","time":"2025-07-01T00:00:00Z",` +
		`"data":{"document":"d","title":"After the restore","shared_by":{"entity":"UNODC"},"date":"2025-07-01"}}`
	req, _ := http.NewRequest("POST", r.httpURL+"/v1/events", strings.NewReader(ev))
	req.Header.Set("Authorization", "Bearer "+pub.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Results []struct {
			Seq       uint64 `json:"seq"`
			Duplicate bool   `json:"duplicate"`
		} `json:"results"`
	}
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || len(res.Results) != 1 || res.Results[0].Seq == 0 || res.Results[0].Duplicate {
		t.Errorf("publishing to the restored ledger: %d %+v", resp.StatusCode, res)
	}
}

// killedRestores kills compact restore at random moments of its run: the data directory is
// then a whole ledger, or holds the killed restore's working directory, which serve refuses
// (never a half-restored ledger it would start on); the next restore takes the directory back
// when nothing was moved in yet, or asks for it to be emptied.
func killedRestores(t *testing.T, bin, file string, took time.Duration) {
	t.Helper()
	parent := t.TempDir()
	for i := range *crashRounds * 3 {
		to := filepath.Join(parent, fmt.Sprintf("r%d", i))
		cmd := exec.Command(bin, "restore", file, "--data", to)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(took) * 6 / 5)))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		left, _ := filepath.Glob(filepath.Join(to, ".restoring-*"))
		entries, _ := os.ReadDir(to)
		if len(left) == 0 {
			if len(entries) == 0 {
				continue // killed before it made anything, or with nothing made yet
			}
			for _, f := range []string{"entities.json", "ledger.pub", "nats"} {
				if _, err := os.Stat(filepath.Join(to, f)); err != nil {
					t.Errorf("round %d: %s has no restore's working directory but is half-restored: %v", i, to, err)
				}
			}
			continue
		}
		if _, stderr, code := runBin(t, bin, "serve", "--data", to, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"); code != 1 || !strings.Contains(stderr, left[0]) {
			t.Errorf("round %d: serve on the directory of a killed restore: exit %d, %s", i, code, stderr)
		}
		_, stderr, code := runBin(t, bin, "restore", file, "--data", to)
		if len(entries) > 1 { // entries were moved in: the operator empties the directory
			if code != 1 || !strings.Contains(stderr, "did not finish") {
				t.Errorf("round %d: restore over part of a killed one: exit %d, %s", i, code, stderr)
			}
			os.RemoveAll(to)
			_, stderr, code = runBin(t, bin, "restore", file, "--data", to)
		}
		if code != 0 {
			t.Errorf("round %d: restore after a killed one: exit %d, %s", i, code, stderr)
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// compact entities add, reissue and revoke refuse a data directory a restore is working in: the
// change would be replaced by the restored ledger's entities, or mixed with them.
func TestEntitiesRefuseADirectoryBeingRestored(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	addEntityCLI(t, bin, dir, "UNODC", "publisher")
	os.MkdirAll(filepath.Join(dir, ".restoring-0badf00d"), 0o700)
	for _, args := range [][]string{
		{"entities", "add", "CTED", "--name", "CTED", "--data", dir},
		{"entities", "reissue", "UNODC", "--data", dir},
		{"entities", "revoke", "UNODC", "--data", dir},
	} {
		if _, stderr, code := runBin(t, bin, args...); code != 1 || !strings.Contains(stderr, ".restoring-0badf00d") {
			t.Errorf("%v: exit %d, %s", args, code, stderr)
		}
	}
}

// verify --backup of a file whose events no signed checkpoint covers fails: such a file proves
// nothing of them (anyone could have written it), where a running ledger without a checkpoint
// is only a new one.
func TestVerifyABackupWithoutCheckpoints(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	if _, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UNODC", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	if _, _, err := audit.LoadOrCreateKey(dir); err != nil {
		t.Fatal(err)
	}
	reg, err := ledger.OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ledger.StartServer(ledger.ServerConfig{DataDir: dir, Host: "127.0.0.1", Port: -1, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := ledger.EnsureStreams(t.Context(), js, ledger.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := ledger.Event{SpecVersion: "1.0", ID: "unsigned-1", Source: "/entities/UNODC", Type: "compact.document.shared", Time: "2025-05-01T00:00:00Z",
		Data: json.RawMessage(`{"document":"d","title":"t","shared_by":{"entity":"UNODC"},"date":"2025-05-01"}`)}
	body, _ := json.Marshal(&ev)
	if _, err := js.Publish(t.Context(), ev.Subject(), body); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if _, err := backup.Write(t.Context(), backup.Source{Conn: nc, DataDir: dir}, &file); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "unsigned.tar")
	os.WriteFile(path, file.Bytes(), 0o600)
	out, stderr, code := runBin(t, bin, "verify", "--backup", path, "--key", filepath.Join(dir, audit.VerifierKeyFile))
	if code != 1 || !strings.Contains(stderr, "nothing in it is proven") {
		t.Errorf("verify --backup of a file without checkpoints: exit %d, %s%s", code, out, stderr)
	}
}
