package ledger_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"compact/ledger"
)

// The registry reloads when the entities file's content changes, and only then: each reload
// reloads every NATS account, and a spurious one (the file's access time changing because it
// was read) once left a just-added entity's publishers without a responder for a moment.
func TestRegistryReloadsOnContentOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher); err != nil {
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
	if _, err := ledger.AddEntity(t.Context(), dir, "CTED", "Counter-Terrorism Committee Executive Directorate", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	if changed, err := reg.Reload(); err != nil || !changed {
		t.Fatalf("Reload after adding an entity = %v, %v; want a change", changed, err)
	}
	if _, err := reg.Lookup("CTED"); err != nil {
		t.Fatal(err)
	}
}

// A change whose application fails (onChange: rewriting nats.conf and reloading the server,
// which a full disk can fail) is applied again on the next ticks until it succeeds. The
// registry had already taken the new file, so every later tick saw no change: the new
// entity's HTTP token worked while its NATS account never came, until another edit or a
// restart.
func TestRegistryWatchRetriesAFailedApply(t *testing.T) {
	dir := t.TempDir()
	reg, err := ledger.OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	applied := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reg.Watch(ctx, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), func() error {
			n := calls.Add(1)
			if n <= 2 {
				return errors.New("no space left on device (writing nats.conf)")
			}
			if _, err := reg.Lookup("UNODC"); err != nil {
				return err
			}
			if n == 3 {
				close(applied)
			}
			return nil
		})
	}()
	defer func() { cancel(); <-done }()
	if _, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	select {
	case <-applied:
	case <-time.After(5 * time.Second):
		t.Fatalf("UNODC is in the registry but was never applied: onChange called %d time(s), the failures not retried", calls.Load())
	}
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 3 {
		t.Errorf("onChange called %d times, want 3 (two failures, one success, then nothing: no change left)", n)
	}
}

// AddEntity waits while another process holds the entities lock, but only until its context
// is done: the flock it waited in could not be interrupted, so 'compact entities add' behind
// a stuck holder ignored Ctrl-C.
func TestAddEntityStopsWaitingForTheLockWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	// Another open file description: flock conflicts between two in one process too.
	held, err := os.OpenFile(filepath.Join(dir, "entities.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := ledger.AddEntity(ctx, dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("AddEntity cancelled while the lock is held: %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("AddEntity still waiting for the lock 20 s after its context was cancelled")
	}
	if _, err := os.Stat(filepath.Join(dir, ledger.EntitiesFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("entities file after a cancelled AddEntity: %v, want none", err)
	}

	// Released, the lock is taken as before.
	syscall.Flock(int(held.Fd()), syscall.LOCK_UN)
	if _, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
}

// ReissueCredentials replaces an entity's token and nkey: the new ones authenticate, the old
// ones no longer do, and the rest of its record stays. An entity not registered is refused.
func TestReissueCredentials(t *testing.T) {
	dir := t.TempDir()
	old, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UN Office on Drugs and Crime", ledger.RoleSecretariat)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := mustRegistry(t, dir).Record("UNODC")
	creds, err := ledger.ReissueCredentials(t.Context(), dir, "UNODC")
	if err != nil {
		t.Fatal(err)
	}
	reg := mustRegistry(t, dir)
	after, _ := reg.Record("UNODC")
	if creds.Entity != "UNODC" || creds.Role != ledger.RoleSecretariat || creds.Token == old.Token || creds.NKeySeed == old.NKeySeed {
		t.Fatalf("reissued %+v after %+v: want UNODC's role and new secrets", creds, old)
	}
	if after.Name != before.Name || after.Role != before.Role || !after.Created.Equal(before.Created) || after.NKey == before.NKey {
		t.Fatalf("record %+v after reissuing, %+v before: want the same but for the keys", after, before)
	}
	if !after.Holds(creds) || after.Holds(old) {
		t.Fatalf("the record holds the new credentials %v, the old %v; want true, false", after.Holds(creds), after.Holds(old))
	}
	if p, err := reg.Authenticate(creds.Token); err != nil || p.Entity != "UNODC" {
		t.Fatalf("new token: %+v, %v", p, err)
	}
	if _, err := reg.Authenticate(old.Token); !errors.Is(err, ledger.ErrUnauthenticated) {
		t.Fatalf("old token: %v, want ErrUnauthenticated", err)
	}
	if _, err := ledger.ReissueCredentials(t.Context(), dir, "CTED"); !errors.Is(err, ledger.ErrUnknownEntity) {
		t.Fatalf("reissuing an entity not registered: %v, want ErrUnknownEntity", err)
	}
}

func mustRegistry(t *testing.T, dir string) *ledger.Registry {
	t.Helper()
	reg, err := ledger.OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// Revoking an entity that is revoked already changes nothing: its record keeps the time it
// lost its credentials, which 'entities list' shows as "since" (a second revoke once moved
// it to the second's time, as if the credentials had worked until then).
func TestRevokingTwiceKeepsTheFirstRevocation(t *testing.T) {
	dir := t.TempDir()
	if _, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.RevokeCredentials(t.Context(), dir, "UNODC"); err != nil {
		t.Fatal(err)
	}
	first := "2025-06-01T10:00:00Z" // revoked long ago: a second revoke now cannot land on the same second
	editEntities(t, dir, func(_ map[string]any, recs []map[string]any) []map[string]any {
		recs[0]["revoked"] = first
		return recs
	})
	at, err := ledger.RevokeCredentials(t.Context(), dir, "UNODC")
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := mustRegistry(t, dir).Record("UNODC")
	if rec.Revoked == nil || rec.Revoked.Format(time.RFC3339) != first || at.Format(time.RFC3339) != first {
		t.Fatalf("revoked again: the record says %v, RevokeCredentials %v; want the first revocation, %s", rec.Revoked, at, first)
	}
}

// Two reloads at once never leave the registry on the older file: one that read the file
// before it changed could install it after one that read the new content, and a revoked
// entity was let in again until the next reload (seen once in a few hundred tries of the
// file watch beside a demo's set-up). The file goes from active to revoked while a reload
// runs; the reload started after the change must leave the registry revoked.
func TestConcurrentReloadsEndOnTheLatestFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ledger.EntitiesFile)
	active, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.RevokeCredentials(t.Context(), dir, "UNODC"); err != nil {
		t.Fatal(err)
	}
	revoked, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(active)
	reg := mustRegistry(t, dir)
	for i := range 3000 {
		write(active)
		if _, err := reg.Reload(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := reg.Reload(); done <- err }()
		write(revoked)
		if _, err := reg.Reload(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Lookup("UNODC"); err == nil {
			t.Fatalf("try %d: the file says UNODC is revoked, and the registry lets it in after a reload started after the change", i)
		}
	}
}
