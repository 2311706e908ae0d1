package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"compact/ledger"
	"compact/projections"
)

// The read side's connection is a TCP client of the embedded server like any other, which the
// server may close (a slow consumer, a kick): it reconnects as the ledger, and views following
// the stream over it go on from where they were, with nothing lost or applied twice.
func TestReadSideResumesAfterTheServerDropsItsConnection(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	pub := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	nc, err := connectAs(n, pub)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := projections.Open(ctx, projections.Config{Dir: t.TempDir(), JS: n.ReadJS, NC: n.ReadConn})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(context.Background())
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) uint64 {
		var last uint64
		for i := from; i < to; i++ {
			id := fmt.Sprintf("drop-%d", i)
			r := natsPublish(t, nc, "UNODC", activity("UNODC", id, "Meeting "+id))
			if len(r.Results) != 1 || r.Results[0].Error != nil || r.Results[0].Seq == 0 {
				t.Fatalf("publish %s: %+v", id, r)
			}
			last = r.Results[0].Seq
		}
		return last
	}
	if err := v.WaitFor(ctx, publish(0, 5)); err != nil {
		t.Fatal(err)
	}

	before, err := n.ReadConn.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Server.NATS().DisconnectClientByID(before); err != nil {
		t.Fatalf("drop the read side's connection: %v", err)
	}
	last := publish(5, 10)
	if err := v.WaitFor(ctx, last); err != nil {
		t.Fatalf("the views did not catch up after their connection was dropped: %v", err)
	}
	after, err := n.ReadConn.GetClientID()
	if err != nil || after == before || n.ReadConn.Reconnects == 0 {
		t.Fatalf("the read side's connection was not made again (client %d, then %d, %d reconnects, %v)", before, after, n.ReadConn.Reconnects, err)
	}
	rev, err := v.Review(ctx, "2025-05")
	if err != nil {
		t.Fatal(err)
	}
	items := 0
	for _, sec := range rev.Sections {
		items += len(sec.Items)
	}
	if items != 10 {
		t.Fatalf("the review lists %d items, want the 10 published once each", items)
	}
}
