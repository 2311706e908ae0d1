package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/natstest"
	"compact/ledger/perf"
)

// BenchmarkIngest: appends through the whole ingest path (NATS request as an entity,
// validate, authorize, dedupe, group commit, acknowledge) beside raw JetStream appends of
// the same bytes on the same server, in the same run. Compare events/s:
//
//	go test ./ledger -run '^$' -bench . -benchtime 20000x
func BenchmarkIngest(b *testing.B) {
	ledger.TuneGC() // as compact bench measures
	dir := b.TempDir()
	n := testNode(b, dir)
	creds := addEntity(b, n, dir, "UNODC", ledger.RolePublisher)
	conns := make([]*nats.Conn, 64)
	for i := range conns {
		nc, err := connectAs(n, creds)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		conns[i] = nc
	}
	ctx := context.Background()
	// The raw side writes to a stream configured like COMPACT, on the same server, messages of
	// the system's size and shape (perf.RawSubject).
	if _, err := n.JS.CreateStream(ctx, perf.RawStreamConfig("RAW")); err != nil {
		b.Fatal(err)
	}
	body := perf.RawBody()
	run := 0
	for _, c := range []struct{ publishers, perRequest int }{{1, 1}, {64, 1}, {64, 16}, {64, 32}, {64, 64}} {
		b.Run(fmt.Sprintf("ingest/publishers=%d/events-per-request=%d", c.publishers, c.perRequest), func(b *testing.B) {
			base := run * 1_000_000_000 // b.Run runs its function more than once: ids stay unique
			run++
			r, err := perf.Ingest(ctx, conns, "UNODC", func(dst []byte, i int) []byte {
				return perf.AppendEvent(dst, "UNODC", perf.BenchID(1, base+i))
			}, b.N, c.publishers, c.perRequest)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.PerSecond(), "events/s")
		})
	}
	b.Run("raw/durable-each", func(b *testing.B) {
		r, err := perf.RawDurableEach(ctx, n.JS, perf.RawSubject, body, b.N)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.PerSecond(), "events/s")
	})
	b.Run("raw/durable-atomic-batch-1000", func(b *testing.B) {
		r, err := perf.RawAtomicBatches(ctx, n.Conn, perf.RawSubject, body, b.N, 1000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.PerSecond(), "events/s")
	})
	b.Run("raw/non-durable-async", func(b *testing.B) {
		js := nonDurableJetStream(b)
		r, err := perf.RawAsync(ctx, js, perf.RawSubject, body, b.N)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.PerSecond(), "events/s")
	})
}

// nonDurableJetStream is a server with JetStream's default (periodic) fsync, for the
// non-durable ceiling.
func nonDurableJetStream(tb testing.TB) jetstream.JetStream {
	s := natstest.Start(tb)
	nc, _ := natstest.Connect(tb, s, nats.InProcessServer(s))
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if _, err := js.CreateStream(context.Background(), perf.RawStreamConfig("RAWASYNC")); err != nil {
		tb.Fatal(err)
	}
	return js
}
