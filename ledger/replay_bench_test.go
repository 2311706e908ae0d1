package ledger_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"compact/ledger"
	"compact/ledger/natstest"
	"compact/ledger/perf"
)

var replayEvents = flag.Int("ledger.replayevents", 100_000, "BenchmarkReplay: events in the stream")

// BenchmarkReplay replays a stream of -ledger.replayevents events from its start, as GET
// /v1/events does, over loopback TCP, each event made into its line (StoredLine), and reports
// events/s and the process's CPU an event (user and system, the server's included). The
// stream is filled without SyncAlways: what is measured is the read.
func BenchmarkReplay(b *testing.B) {
	_, js := natstest.Connect(b, natstest.Start(b))
	ctx := context.Background()
	if err := ledger.EnsureStreams(ctx, js, ledger.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	n := *replayEvents
	natstest.PublishAll(b, js, n, func(i int) (string, []byte) {
		return ledger.EventSubject("UNODC", "compact.training.delivered"), fmt.Appendf(nil, `{"specversion":"1.0","id":"evt-%07d","source":"https://compact.un.org/entities/UNODC","type":"compact.training.delivered","time":"2025-05-07T10:00:00Z","data":{"title":"Workshop on border security number %07d","start":"2025-05-06","format":"workshop"}}`, i, i)
	})
	b.ResetTimer()
	var wall, cpu time.Duration
	for range b.N {
		start, cpu0 := time.Now(), perf.CPUTime()
		got := 0
		err := ledger.Replay(ctx, js, ledger.ReplayFilter{}, func(seq uint64, t time.Time, body []byte) error {
			_ = ledger.StoredLine(seq, t, body)
			got++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		wall, cpu = wall+time.Since(start), cpu+perf.CPUTime()-cpu0
		if got != n {
			b.Fatalf("replayed %d events, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/wall.Seconds(), "events/s")
	b.ReportMetric(cpu.Seconds()*1e6/float64(n*b.N), "cpu-µs/event")
}
