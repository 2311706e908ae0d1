package projections

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"compact/ledger"
)

var benchEvents = flag.Int("projections.events", 2000, "events in the ledger for BenchmarkRebuild and BenchmarkReviewQuery")

// BenchmarkRebuild measures building every view from sequence 1 over -projections.events
// events (a random mixed history); it reports events/s.
func BenchmarkRebuild(b *testing.B) {
	ledger.TuneGC() // as compact bench measures
	h := newHarness(b)
	g := newHistGen(1)
	n := *benchEvents
	for i := 0; i < n; i += 1000 {
		h.publish(g.take(min(1000, n-i))...)
	}
	last := h.seq.Load()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		v, err := BuildAsKnown(h.ctx, h.js, time.Now().Add(time.Hour), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		if ck, _ := v.Checkpoint(h.ctx, ViewReview); ck != last {
			b.Fatalf("built to %d, want %d", ck, last)
		}
		_ = v.Close(context.Background())
	}
	b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkReviewQuery measures reading one period's review (sections, counters and history,
// structure) from a ledger of -projections.events events.
func BenchmarkReviewQuery(b *testing.B) {
	ledger.TuneGC() // as compact bench measures
	h := newHarness(b)
	g := newHistGen(2)
	n := *benchEvents
	for i := 0; i < n; i += 1000 {
		h.publish(g.take(min(1000, n-i))...)
	}
	v := h.open(h.config(b.TempDir()))
	h.wait(v, h.seq.Load())
	ctx := context.Background()
	r, err := v.Review(ctx, "2025-05")
	if err != nil {
		b.Fatal(err)
	}
	items := 0
	for _, s := range r.Sections {
		items += len(s.Items)
	}
	b.Logf("period 2025-05 lists %d items of a ledger of %d events", items, n)
	// again: the parts of the review are in memory, as long as the views do not change
	b.Run("again", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Review(ctx, "2025-05"); err != nil {
				b.Fatal(err)
			}
		}
	})
	// cold: every part read from Pebble, as after a change of the period, the counters and the
	// structure
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if _, err := (&Views{cfg: v.cfg, db: v.db, log: v.log, projs: v.projs}).Review(ctx, "2025-05"); err != nil {
				b.Fatal(err)
			}
		}
	})
	_ = fmt.Sprint()
}
