package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/natstest"
	"compact/projections"
)

// viewsOver stores events in the ledger stream of a new in-process server, as the ingest
// stores them (or as it never would: nothing here checks them), and returns views that have
// applied them all; they are closed when the test ends.
func viewsOver(t *testing.T, ctx context.Context, events ...ledger.Event) (*projections.Views, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	s := natstest.Start(t)
	nc, js := natstest.Connect(t, s)
	if _, err := js.CreateStream(ctx, ledger.StreamConfig(ledger.StreamOptions{})); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for _, ev := range events {
		body, _ := json.Marshal(&ev)
		ack, err := js.Publish(ctx, ev.Subject(), body)
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	v, err := projections.Open(ctx, projections.Config{Dir: t.TempDir(), JS: js, BatchMaxWait: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close(context.Background()) })
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	return v, nc, js
}
