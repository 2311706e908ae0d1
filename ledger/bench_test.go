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
	// The raw side writes to a stream configured like COMPACT, on the same server.
	raw := ledger.StreamConfig(ledger.StreamOptions{})
	raw.Name, raw.Subjects = "RAW", []string{"raw.>"}
	if _, err := n.JS.CreateStream(ctx, raw); err != nil {
		b.Fatal(err)
	}
	body := perf.Event("UNODC", "raw-0000000000")
	run := 0
	for _, c := range []struct{ publishers, perRequest int }{{1, 1}, {64, 1}, {64, 16}, {64, 32}, {64, 64}} {
		b.Run(fmt.Sprintf("ingest/publishers=%d/events-per-request=%d", c.publishers, c.perRequest), func(b *testing.B) {
			run++
			prefix := fmt.Sprintf("b%d-%d-", run, b.N)
			r, err := perf.Ingest(ctx, conns, "UNODC", func(dst []byte, i int) []byte {
				return perf.AppendEvent(dst, "UNODC", fmt.Sprintf("%s%010d", prefix, i))
			}, b.N, c.publishers, c.perRequest)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.PerSecond(), "events/s")
		})
	}
	b.Run("raw/durable-each", func(b *testing.B) {
		r, err := perf.RawDurableEach(ctx, n.JS, "raw.each", body, b.N)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.PerSecond(), "events/s")
	})
	b.Run("raw/durable-atomic-batch-1000", func(b *testing.B) {
		r, err := perf.RawAtomicBatches(ctx, n.Conn, "raw.batch", body, b.N, 1000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.PerSecond(), "events/s")
	})
	b.Run("raw/non-durable-async", func(b *testing.B) {
		js := nonDurableJetStream(b)
		r, err := perf.RawAsync(ctx, js, "raw.async", body, b.N)
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
	cfg := ledger.StreamConfig(ledger.StreamOptions{})
	cfg.Name, cfg.Subjects = "RAWASYNC", []string{"raw.>"}
	if _, err := js.CreateStream(context.Background(), cfg); err != nil {
		tb.Fatal(err)
	}
	return js
}
