package backup_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"compact/ledger/audit"
	"compact/ledger/backup"
)

// splice returns a backup holding the entries of a whose names keep says, and b's others,
// with a manifest made to match: a file whose every byte checks, but whose parts come from
// two ledgers.
func splice(t *testing.T, a, b []byte, keep func(name string) bool) []byte {
	t.Helper()
	entries := func(file []byte) map[string][]byte {
		out := map[string][]byte{}
		tr := tar.NewReader(bytes.NewReader(file))
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out[hdr.Name], _ = io.ReadAll(tr)
		}
	}
	ea, eb := entries(a), entries(b)
	var m backup.Manifest
	if err := json.Unmarshal(ea[backup.ManifestFile], &m); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	files := m.Files
	m.Files = nil
	for _, f := range files {
		body := eb[f.Name]
		if keep(f.Name) {
			body = ea[f.Name]
		}
		sum := sha256.Sum256(body)
		m.Files = append(m.Files, backup.FileEntry{Name: f.Name, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
		tw.WriteHeader(&tar.Header{Name: f.Name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	var bm backup.Manifest // the streams as b's file describes them
	json.Unmarshal(eb[backup.ManifestFile], &bm)
	for i, s := range m.Streams {
		if !keep("streams/" + s.Name + "/stream.arc.s2") {
			m.Streams[i] = bm.Streams[i]
		}
	}
	mb, _ := json.Marshal(&m)
	tw.WriteHeader(&tar.Header{Name: backup.ManifestFile, Mode: 0o600, Size: int64(len(mb)), Typeflag: tar.TypeReg})
	tw.Write(mb)
	tw.Close()
	return out.Bytes()
}

// Verify of a backup restores it and checks its history against its signed checkpoints: a
// backup passes with the ledger's key and not with another; and a file that is whole by its
// manifest but whose events are not the ones the checkpoints signed (the checkpoints of one
// ledger beside the events of another signed with the same key) fails as a history that
// differs, not as a file that does not check.
func TestVerifyABackup(t *testing.T) {
	a := newLedger(t, 14)
	fa := backupOf(t, a)
	rep, m, err := backup.Verify(t.Context(), bytes.NewReader(fa), a.vkey, t.TempDir(), audit.VerifyOptions{})
	if err != nil || !rep.OK() || rep.Verified != 14 || m.Streams[1].LastSeq != 14 {
		t.Fatalf("verify of a good backup: %v %+v", err, rep)
	}
	other := newLedger(t, 1)
	var he *audit.HistoryError
	if _, _, err := backup.Verify(t.Context(), bytes.NewReader(fa), other.vkey, t.TempDir(), audit.VerifyOptions{}); !errors.As(err, &he) {
		t.Errorf("verify with another ledger's key: %v", err)
	}

	b := newLedgerFrom(t, 14, a.dir, "Forged workshop") // the same key, other events
	fb := backupOf(t, b)
	forged := splice(t, fa, fb, func(name string) bool { return !strings.HasPrefix(name, "streams/COMPACT/") })
	if _, err := backup.Check(bytes.NewReader(forged), nil); err != nil {
		t.Fatalf("the spliced file does not check: %v", err)
	}
	rep, _, err = backup.Verify(t.Context(), bytes.NewReader(forged), a.vkey, t.TempDir(), audit.VerifyOptions{})
	if !errors.As(err, &he) || rep.FirstBadSeq == 0 {
		t.Errorf("verify of events that are not the signed ones: %v %+v", err, rep)
	}
}

// A Verify killed while it ran leaves its directory, a whole restored ledger; the next Verify
// with the same temporary directory removes it, but not the directory of a Verify running;
// and a Verify that ends removes its own.
func TestVerifyRemovesTheKilledVerifiesDirectories(t *testing.T) {
	l := newLedger(t, 7)
	file := backupOf(t, l)
	tmp := t.TempDir()
	killed := filepath.Join(tmp, "compact-verify-backup-111")
	os.MkdirAll(filepath.Join(killed, "data", "nats"), 0o700)
	running := filepath.Join(tmp, "compact-verify-backup-222")
	os.MkdirAll(running, 0o700)
	held, err := os.Open(running)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, _, err := backup.Verify(t.Context(), bytes.NewReader(file), l.vkey, tmp, audit.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 1 || entries[0].Name() != filepath.Base(running) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("after a Verify the temporary directory holds %v, want only the running one's", names)
	}
}
