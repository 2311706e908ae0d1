package backup

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger/audit"
	"compact/ledger/tmpfiles"
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
	// A killed Verify leaves a whole restored ledger: the next one removes it.
	tmpfiles.RemoveUnheldDirs(tmpDir, verifyPrefix)
	work, done, err := tmpfiles.Dir(tmpDir, verifyPrefix)
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
