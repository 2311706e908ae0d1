package audit

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"compact/ledger"
	"compact/ledger/perf"
)

var readEvents = flag.Int("audit.events", 100_000, "BenchmarkReadStream: events in the stream")

// BenchmarkReadStream reads a stream of -audit.events events from sequence 1 to its end, as
// `compact verify --nats-url`, GET /v1/audit/messages and a proof's search do, over loopback
// TCP, and reports events/s and the process's CPU an event (user and system, the server's
// included). The stream is filled without SyncAlways: what is measured is the read.
func BenchmarkReadStream(b *testing.B) {
	n := *readEvents
	js := filledStream(b, n)
	ctx := context.Background()
	b.ResetTimer()
	var wall, cpu time.Duration
	for range b.N {
		start, cpu0 := time.Now(), perf.CPUTime()
		got := 0
		if err := readStream(ctx, js, ledger.StreamName, "", 1, 0, func(Message, nats.Header) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		wall, cpu = wall+time.Since(start), cpu+perf.CPUTime()-cpu0
		if got != n {
			b.Fatalf("read %d events, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/wall.Seconds(), "events/s")
	b.ReportMetric(cpu.Seconds()*1e6/float64(n*b.N), "cpu-µs/event")
}

// BenchmarkCheckpointerFold starts a checkpointer on a stream of -audit.events events and
// times it until a checkpoint covers them all: the read, the leaf hashes, the tree's Pebble
// writes and the checkpoints (one every 10,000 events). It reports events/s and the process's
// CPU an event, the server's included. In serve this runs beside the ingest, for every event.
func BenchmarkCheckpointerFold(b *testing.B) {
	n := *readEvents
	js := filledStream(b, n)
	signer, vkey := testKey(b)
	b.ResetTimer()
	var wall, cpu time.Duration
	for range b.N {
		start, cpu0 := time.Now(), perf.CPUTime()
		c := startCheckpointer(b, js, b.TempDir(), signer, vkey, 10_000)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		cp, err := c.Flush(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		wall, cpu = wall+time.Since(start), cpu+perf.CPUTime()-cpu0
		if cp.Size != uint64(n) {
			b.Fatalf("checkpoint of %d events, want %d", cp.Size, n)
		}
		b.StopTimer()
		if err := c.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/wall.Seconds(), "events/s")
	b.ReportMetric(cpu.Seconds()*1e6/float64(n*b.N), "cpu-µs/event")
}
