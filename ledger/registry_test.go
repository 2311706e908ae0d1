package ledger_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"compact/ledger"
)

// The registry reloads when the entities file's content changes, and only then: each reload
// reloads every NATS account, and a spurious one (the file's access time changing because it
// was read) once left a just-added entity's publishers without a responder for a moment.
func TestRegistryReloadsOnContentOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := ledger.AddEntity(dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	reg, err := ledger.OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ledger.EntitiesFile)
	later := time.Now().Add(time.Hour)
	for _, touch := range []func() error{
		func() error { _, err := os.ReadFile(path); return err },
		func() error { return os.Chtimes(path, later, later) },
		func() error { return os.Chmod(path, 0o600) },
	} {
		if err := touch(); err != nil {
			t.Fatal(err)
		}
		if changed, err := reg.Reload(); err != nil || changed {
			t.Fatalf("Reload after touching the file = %v, %v; want no change", changed, err)
		}
	}
	if _, err := ledger.AddEntity(dir, "CTED", "Counter-Terrorism Committee Executive Directorate", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	if changed, err := reg.Reload(); err != nil || !changed {
		t.Fatalf("Reload after adding an entity = %v, %v; want a change", changed, err)
	}
	if _, err := reg.Lookup("CTED"); err != nil {
		t.Fatal(err)
	}
}
