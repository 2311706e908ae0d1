package backup_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"compact/ledger/audit"
	"compact/ledger/backup"
)

// A --key that is not the backup's ledger's signing key is refused with an error that says
// so and names the file given. It used to be the one of loading the key in the directory
// being restored: it named files in a temporary directory already removed, and advised
// deleting the verifier key so that it be written again from the wrong key. A file that
// is no signing key at all (ledger.pub given for ledger.key) is refused before the backup
// is read.
func TestRestoreRefusesAnotherKey(t *testing.T) {
	l := newLedger(t, 5)
	file := backupOf(t, l)
	other := t.TempDir()
	if _, _, err := audit.LoadOrCreateKey(other); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key, says string
		readsFile       bool
	}{
		{"another ledger's key", filepath.Join(other, audit.SignerKeyFile), "is not the signing key of the backup's ledger", true},
		{"the verifier key", filepath.Join(l.dir, audit.VerifierKeyFile), "is not a signing key", false},
	} {
		to := filepath.Join(t.TempDir(), "restored")
		r := &countingReader{r: bytes.NewReader(file)}
		_, err := backup.Restore(t.Context(), r, backup.RestoreConfig{DataDir: to, KeyFile: tc.key})
		if err == nil || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), tc.key) || strings.Contains(err.Error(), ".restoring-") || strings.Contains(err.Error(), "delete") {
			t.Errorf("%s: %v, want it to say the key %s %s, and name no temporary file", tc.name, err, tc.key, tc.says)
		}
		if !tc.readsFile && r.n > 0 {
			t.Errorf("%s: refused after reading %d bytes of the backup, want before", tc.name, r.n)
		}
		if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the refused restore left %s: %v", tc.name, to, err)
		}
	}
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
