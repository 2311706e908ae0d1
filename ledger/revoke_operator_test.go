package ledger_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"compact/ledger"
	"compact/ledger/natstest"
)

// On an operator's NATS the accounts are the operator's: revoking an entity in
// entities.json cannot take its nkey away there, so the ingest service itself refuses a
// revoked entity's requests (and the ledger's own account, which reaches every ingest
// subject, cannot publish as one either). Its HTTP token stops too.
func TestARevokedEntityIsRefusedOnAnOperatorsNATS(t *testing.T) {
	dir := t.TempDir()
	creds, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher)
	if err != nil {
		t.Fatal(err)
	}
	ledgerKP, _ := nkeys.CreateUser()
	ledgerPub, _ := ledgerKP.PublicKey()
	ledgerSeed, _ := ledgerKP.Seed()
	seedFile := filepath.Join(t.TempDir(), "ledger.nk")
	if err := os.WriteFile(seedFile, ledgerSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	entityKP, _ := nkeys.FromSeed([]byte(creds.NKeySeed))
	entityPub, _ := entityKP.PublicKey()
	// the operator's configuration, as the README's cluster section describes it
	conf := filepath.Join(t.TempDir(), "operator.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `accounts: {
  LEDGER: {
    jetstream: enabled
    users: [{nkey: %q}]
    exports: [{service: "compact.ingest.*", account_token_position: 3}]
  }
  UNODC: {
    users: [{nkey: %q, permissions: {publish: {allow: ["compact.ingest.UNODC"]}, subscribe: {allow: ["_INBOX.>"]}}}]
    imports: [{service: {account: LEDGER, subject: "compact.ingest.UNODC"}}]
  }
}
`, ledgerPub, entityPub), 0o600); err != nil {
		t.Fatal(err)
	}
	parsed, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	ns := natstest.Start(t, natstest.SyncAlways, func(o *server.Options) {
		o.Accounts, o.Nkeys = parsed.Accounts, parsed.Nkeys
	})
	n := testNode(t, dir, func(c *ledger.NodeConfig) { c.NATSURL, c.NATSNKey = ns.ClientURL(), seedFile })
	o, err := nkeyOption(creds.NKeySeed)
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := natstest.Connect(t, ns, o)
	if r := natsPublish(t, nc, "UNODC", activity("UNODC", "before", "before the revocation")); r.Results[0].Error != nil {
		t.Fatalf("publishing before the revocation: %+v", r.Results[0].Error)
	}

	if _, err := ledger.RevokeCredentials(t.Context(), dir, "UNODC"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if rec, _ := n.Registry.Record("UNODC"); rec.Revoked != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation was not picked up")
		}
	}
	before := streamMsgs(t, n)
	for _, c := range []struct {
		who, id string
		nc      *nats.Conn
	}{{"the revoked entity", "after-1", nc}, {"the ledger's own account", "after-2", n.Conn}} {
		r := natsPublish(t, c.nc, "UNODC", activity("UNODC", c.id, "after the revocation"))
		if r.Error == nil || !strings.Contains(r.Error.Message, "revoked") {
			t.Errorf("%s published as UNODC after its revocation: %+v", c.who, r.Results)
		}
	}
	if got := streamMsgs(t, n); got != before {
		t.Fatalf("the stream grew from %d to %d after the revocation", before, got)
	}
	if _, err := n.Registry.Authenticate(creds.Token); err == nil {
		t.Fatal("the revoked token still authenticates")
	}
}
