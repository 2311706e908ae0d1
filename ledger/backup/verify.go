package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger/audit"
)

// Verify checks a backup file the way an auditor checks a ledger: it restores the file into
// a temporary directory under tmpDir ("" for the system's), replays the restored history and
// checks it against the signed checkpoints in it with verifierKey (audit.Verify), and removes
// the directory. A backup that passes restores, and holds a history that the ledger's key
// signed; one that has never been checked is not yet known to be either.
//
// The returned error is an *audit.HistoryError (with the report) when the history differs,
// another error when the file could not be restored or read.
func Verify(ctx context.Context, r io.Reader, verifierKey, tmpDir string, opts audit.VerifyOptions) (*audit.Report, *Manifest, error) {
	if tmpDir == "" {
		tmpDir = os.TempDir()
	}
	removeKilledVerifies(tmpDir)
	work, done, err := lockedWorkDir(tmpDir)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	dir := filepath.Join(work, "data")
	m, err := Restore(ctx, r, RestoreConfig{DataDir: dir})
	if err != nil {
		return nil, nil, err
	}
	srv, nc, err := openInProcess(dir, "compact-verify", false, nil)
	if err != nil {
		return nil, m, err
	}
	defer srv.Shutdown()
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, m, err
	}
	rep, err := audit.Verify(ctx, js, verifierKey, opts)
	return rep, m, err
}

// verifyPrefix starts the name of the directory a Verify restores into.
const verifyPrefix = "compact-verify-backup-"

// lockedWorkDir makes a directory for a Verify in tmpDir, locked for as long as the Verify
// runs (a killed one leaves a whole restored ledger: removeKilledVerifies removes it); done
// removes it.
func lockedWorkDir(tmpDir string) (dir string, done func(), err error) {
	d, err := lockedTemp(func() (string, error) { return os.MkdirTemp(tmpDir, verifyPrefix+"*") }, os.O_RDONLY)
	if err != nil {
		return "", nil, fmt.Errorf("a working directory in %s: %w", tmpDir, err)
	}
	return d.Name(), func() {
		os.RemoveAll(d.Name())
		d.Close()
	}, nil
}

// removeKilledVerifies removes the directories of Verifies that no process holds: those of
// Verifies that were killed.
func removeKilledVerifies(tmpDir string) {
	removeUnheld(tmpDir, func(e os.DirEntry) bool { return e.IsDir() && strings.HasPrefix(e.Name(), verifyPrefix) })
}
