package ledger_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"compact/ledger"
)

// Reissuing an entity's credentials (a leaked seed) revokes the old nkey on the running
// server: a new connection with it is refused, and a connection opened before can publish
// nothing more.
func TestReissuedNKeyIsRevokedOnTheRunningServer(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	old := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	held, err := connectAs(n, old, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if r := natsPublish(t, held, "UNODC", activity("UNODC", "before", "before the reissue")); r.Results[0].Error != nil {
		t.Fatal(r.Results[0].Error)
	}
	creds, err := ledger.ReissueCredentials(t.Context(), dir, "UNODC")
	if err != nil {
		t.Fatal(err)
	}
	// the running server picks the new key up: wait until it serves it
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := connectAs(n, creds)
		if err == nil {
			_, err = nc.Request("compact.ingest.UNODC", []byte("[]"), time.Second)
			nc.Close()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reissued key is not served: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if nc, err := connectAs(n, old); err == nil {
		nc.Close()
		t.Fatal("a new connection with the revoked nkey was accepted")
	}
	before := streamMsgs(t, n)
	if m, err := held.Request("compact.ingest.UNODC", []byte(activity("UNODC", "after", "with the revoked key")), 2*time.Second); err == nil {
		t.Fatalf("a connection with the revoked nkey still publishes: %s", m.Data)
	}
	if got := streamMsgs(t, n); got != before {
		t.Fatalf("stream grew from %d to %d through the revoked key", before, got)
	}
}
