package ledger_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"compact/ledger"
)

// One entity's program gone wrong — opening connections it never closes, subscribing
// without end — is stopped at its account's limits, and only it: another entity connects
// and publishes, and the first one's connections within the limit keep working. The
// limits hold for an entity added while the server runs too.
func TestEntityLimits(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir, func(c *ledger.NodeConfig) {
		c.EntityMaxConnections, c.EntityMaxSubscriptions = 3, 5
	})
	unodc := addEntity(t, n, dir, "UNODC", ledger.RolePublisher) // added while running
	cted := addEntity(t, n, dir, "CTED", ledger.RolePublisher)

	var held []*nats.Conn
	t.Cleanup(func() {
		for _, nc := range held {
			nc.Close()
		}
	})
	for i := range 3 {
		nc, err := connectAs(n, unodc)
		if err != nil {
			t.Fatalf("connection %d of 3: %v", i+1, err)
		}
		held = append(held, nc)
	}
	if nc, err := connectAs(n, unodc); err == nil {
		nc.Close()
		t.Fatal("a 4th connection of UNODC was accepted with a limit of 3")
	} else if !strings.Contains(err.Error(), "maximum account active connections") {
		t.Fatalf("the 4th connection was refused with %v", err)
	}
	other, err := connectAs(n, cted)
	if err != nil {
		t.Fatalf("another entity's connection: %v", err)
	}
	defer other.Close()
	if r := natsPublish(t, other, "CTED", activity("CTED", "c-1", "another entity")); r.Results[0].Error != nil {
		t.Fatal(r.Results[0].Error)
	}
	if r := natsPublish(t, held[0], "UNODC", activity("UNODC", "u-1", "within the limit")); r.Results[0].Error != nil {
		t.Fatal(r.Results[0].Error)
	}

	// subscriptions: the reply mux holds one; four more fit, the next is refused
	errs := make(chan error, 16)
	nc, err := connectAs(n, cted, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Request("compact.ingest.CTED", []byte("[]"), 5*time.Second); err != nil {
		t.Fatal(err) // makes the reply subscription
	}
	for range 5 {
		if _, err := nc.SubscribeSync("compact.views.review.2025-05"); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrMaxSubscriptionsExceeded) && !strings.Contains(strings.ToLower(err.Error()), "maximum subscriptions exceeded") {
			t.Fatalf("the subscription over the limit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a 6th subscription was accepted with a limit of 5")
	}
}

// The limits are validated with the rest of the configuration.
func TestEntityLimitsValidated(t *testing.T) {
	cfg := ledger.ServerConfig{DataDir: t.TempDir(), Registry: mustRegistry(t, t.TempDir()), EntityMaxConnections: -2, EntityMaxSubscriptions: -5}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "EntityMaxConnections -2") || !strings.Contains(err.Error(), "EntityMaxSubscriptions -5") {
		t.Fatalf("Validate: %v", err)
	}
}
