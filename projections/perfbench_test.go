package projections_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/natstest"
	"compact/ledger/perf"
	"compact/projections"
)

var buildBatch = flag.Int("projections.batch", 0, "BenchmarkRebuildPerfHistory: the views' BatchMaxCount (0: the default)")

var buildProfile = flag.String("projections.buildprofile", "", "write a CPU profile of the build only (not the filling) of BenchmarkRebuildPerfHistory to this file")

// BenchmarkRebuildPerfHistory builds every view from a ledger of the bench's own synthetic
// history (ledger/perf: the demo's mix over 26 years, what `compact bench` measures), sized by
// -projections.events, through Open, Start and WaitFor as the bench does. It reports, from
// opening an empty store to every view caught up, events/s, the process's CPU an event and
// the cores it kept busy (CPU time ÷ wall time).
func BenchmarkRebuildPerfHistory(b *testing.B) {
	ledger.TuneGC() // as compact bench measures
	n := perfEvents(b)
	js, nc := perfServer(b)
	ctx := b.Context()
	h := perf.NewHistory(1)
	for done := 0; done < n; {
		k := min(1000, n-done)
		id := fmt.Sprintf("fill-%d", done)
		for i := 1; i <= k; i++ {
			entity, ev := h.Next()
			s := string(ev)
			t := s[strings.Index(s, `"type":"`)+8:]
			m := nats.NewMsg(ledger.EventSubject(entity, t[:strings.IndexByte(t, '"')]))
			m.Data = ev
			m.Header.Set("Nats-Batch-Id", id)
			m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i))
			if i < k {
				if err := nc.PublishMsg(m); err != nil {
					b.Fatal(err)
				}
				continue
			}
			m.Header.Set("Nats-Batch-Commit", "1")
			if _, err := nc.RequestMsgWithContext(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		done += k
	}
	runtime.GC()
	var prof *os.File
	if *buildProfile != "" {
		f, err := os.Create(*buildProfile)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		prof = f
		defer func() { _ = f.Close() }()
	}
	b.ResetTimer()
	var wall, cpu time.Duration
	for range b.N {
		start, cpu0 := time.Now(), perf.CPUTime()
		v, err := projections.Open(ctx, projections.Config{Dir: b.TempDir(), JS: js, NC: nc, DisableFeed: true, BatchMaxCount: *buildBatch})
		if err != nil {
			b.Fatal(err)
		}
		if err := v.Start(ctx); err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		if err := v.WaitFor(wctx, uint64(n)); err != nil {
			b.Fatal(err)
		}
		cancel()
		// Caught up: what compact bench times. Close waits for the flush or compaction Pebble
		// is running, which the bench reports apart (rebuild_settle_s); timed, it made the same
		// build measure up to a microsecond an event more when a compaction had just started.
		wall, cpu = wall+time.Since(start), cpu+perf.CPUTime()-cpu0
		b.StopTimer()
		if prof != nil {
			pprof.StopCPUProfile()
			prof = nil
		}
		_ = v.Close(context.Background())
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/wall.Seconds(), "events/s")
	b.ReportMetric(cpu.Seconds()*1e6/float64(n*b.N), "cpu-µs/event")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
}

// perfEvents reads -projections.events, which the package's own tests define.
func perfEvents(b *testing.B) int {
	f := flag.Lookup("projections.events")
	if f == nil {
		b.Fatal("flag -projections.events is not defined")
	}
	return f.Value.(flag.Getter).Get().(int)
}

func perfServer(b *testing.B) (jetstream.JetStream, *nats.Conn) {
	s := natstest.Start(b, func(o *server.Options) { o.MaxPayload = ledger.MaxRequestBytes })
	// Over loopback TCP, as serve's read side connects (ledger.Server.ConnectReader).
	nc, js := natstest.Connect(b, s)
	if _, err := js.CreateStream(b.Context(), ledger.StreamConfig(ledger.StreamOptions{})); err != nil {
		b.Fatal(err)
	}
	return js, nc
}
