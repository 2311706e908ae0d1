package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/schemas/demo"
)

// The raw atomic batches and the ingest store messages of the same size and shape: the same
// subject length and tokens, the same body length, the same headers (the system's condition
// on the first message of a batch aside), a batch id of the same form.
func TestRawStoresWhatTheSystemStores(t *testing.T) {
	ctx := context.Background()
	rg, err := newRig(ctx, filepath.Join(t.TempDir(), "node"), 4, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rg.Close()
	if _, err := rg.node.JS.CreateStream(ctx, RawStreamConfig("RAW")); err != nil {
		t.Fatal(err)
	}
	if _, err := RawAtomicBatches(ctx, rg.node.Conn, RawSubject, RawBody(), 32, 16); err != nil {
		t.Fatal(err)
	}
	if _, err := Ingest(ctx, rg.conns, "UNODC", benchEvents(7), 32, 1, 16); err != nil {
		t.Fatal(err)
	}
	get := func(stream string, seq uint64) *jetstream.RawStreamMsg {
		st, err := rg.node.JS.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	names := func(h nats.Header) []string {
		var ns []string
		for k := range h {
			if k != "Nats-Expected-Last-Sequence" && k != "Nats-Stream" && k != "Nats-Subject" && k != "Nats-Sequence" && k != "Nats-Time-Stamp" {
				ns = append(ns, k)
			}
		}
		slices.Sort(ns)
		return ns
	}
	atomic := 0
	for _, seq := range []uint64{1, 2, 16, 32} {
		raw, sys := get("RAW", seq), get(ledger.StreamName, seq)
		if sys.Header.Get("Nats-Batch-Id") == "" {
			// A group smaller than the Appender's MinAtomicBatch (the writer took part of a
			// request, on a slow machine) is pipelined, with the headers of that path; the bench
			// at its load sends atomic batches, which are what the raw side is compared with.
			if len(raw.Subject) != len(sys.Subject) || len(raw.Data) != len(sys.Data) {
				t.Errorf("seq %d: raw subject %q and body %d bytes, the system's %q and %d", seq, raw.Subject, len(raw.Data), sys.Subject, len(sys.Data))
			}
			continue
		}
		atomic++
		if len(raw.Subject) != len(sys.Subject) || strings.Count(raw.Subject, ".") != strings.Count(sys.Subject, ".") {
			t.Errorf("seq %d: raw subject %q, the system's %q: not the same length and tokens", seq, raw.Subject, sys.Subject)
		}
		if len(raw.Data) != len(sys.Data) {
			t.Errorf("seq %d: raw body %d bytes, the system's %d", seq, len(raw.Data), len(sys.Data))
		}
		if r, s := names(raw.Header), names(sys.Header); !slices.Equal(r, s) {
			t.Errorf("seq %d: raw headers %v, the system's %v", seq, r, s)
		}
		// <the writer's nuid>-<its batch count in base 36>: the counts differ with the batches sent
		rid, sid := raw.Header.Get("Nats-Batch-Id"), sys.Header.Get("Nats-Batch-Id")
		if !batchIDForm.MatchString(rid) || !batchIDForm.MatchString(sid) {
			t.Errorf("seq %d: raw batch id %q, the system's %q: not both of the form %s", seq, rid, sid, batchIDForm)
		}
	}
	if atomic == 0 {
		t.Error("the system stored none of the messages compared in an atomic batch")
	}
}

var batchIDForm = regexp.MustCompile(`^[0-9A-Za-z]{22}-[0-9a-z]+$`)

// An ingest whose events are refused ends with the refusal, at once: the publishers stop at
// the first error and so does the feeder, which used to wait for them forever.
func TestIngestRefusedEndsWithTheRefusal(t *testing.T) {
	rg, err := newRig(context.Background(), filepath.Join(t.TempDir(), "node"), 2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	invalid := func(dst []byte, i int) []byte {
		return fmt.Appendf(dst, `{"specversion":"1.0","id":"bad-%d","source":"/entities/UNODC","type":"compact.training.delivered"}`, i)
	}
	r, err := Ingest(ctx, rg.conns, "UNODC", invalid, 500, 2, 1)
	if ctx.Err() != nil {
		t.Fatalf("Ingest ended with the context (%v), not with the refusal", err)
	}
	if err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("Ingest of refused events: %+v, %v; want the refusal", r, err)
	}
}

// A reply counts only if it acknowledges every event of its request with a sequence.
func TestReplyErrorCountsTheResults(t *testing.T) {
	ok := []byte(`{"results":[{"id":"a","seq":1,"duplicate":false},{"id":"b","seq":2,"duplicate":false}]}`)
	if err := replyError(ok, 2); err != nil {
		t.Errorf("a reply acknowledging both events: %v", err)
	}
	for _, bad := range []string{
		`{"results":[{"id":"a","seq":1,"duplicate":false}]}`,
		`{"results":[]}`,
		`{"results":[{"id":"a","seq":1,"duplicate":false},{"id":"b","error":{"field":"data.title","message":"required"}}]}`,
		`{"results":[{"id":"a","seq":1,"duplicate":false},{"id":"b","seq":2,"duplicate":true}]}`,
		`{"results":null,"error":{"field":"","message":"rate limited"}}`,
	} {
		if err := replyError([]byte(bad), 2); err == nil {
			t.Errorf("reply %s to 2 events counted as 2 events appended", bad)
		}
	}
}

// An async publish that the server does not acknowledge is not throughput: here no stream
// listens on the subject, and every publish fails.
func TestRawAsyncCountsOnlyAcknowledged(t *testing.T) {
	s, js, nc, err := plainServer(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { nc.Close(); s.Shutdown(); s.WaitForShutdown() }()
	r, err := RawAsync(context.Background(), js, "nostream.events.UNODC.training.delivered", RawBody(), 200)
	if err == nil {
		t.Fatalf("200 publishes with no stream to store them measured as %+v", r)
	}
}

// A percentile is the nearest rank: p99 of 100 samples is the 99th smallest, not the largest;
// p50 of 1..100 is 50.
func TestPercentileIsTheNearestRank(t *testing.T) {
	samples := func(n int) []time.Duration {
		ds := make([]time.Duration, n)
		for i := range ds {
			ds[i] = time.Duration(i+1) * time.Millisecond
		}
		return ds
	}
	for _, c := range []struct {
		n, p int
		want float64
	}{{100, 99, 99}, {100, 50, 50}, {100, 90, 90}, {1000, 99, 990}, {2000, 99, 1980}, {500, 99, 495}, {1, 99, 1}, {3, 50, 2}} {
		if got := pct(samples(c.n), c.p); got != c.want {
			t.Errorf("p%d of 1..%d ms = %v ms, want %v", c.p, c.n, got, c.want)
		}
	}
}

// The read side reads and rebuilds the whole stream it filled: asked for fewer events than
// the demo's, it still holds every demo event, and every figure is of all of them.
func TestReadSideMeasuresTheWholeStream(t *testing.T) {
	evs, err := demo.Events()
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{}
	if err := benchReadSide(context.Background(), Options{Dir: t.TempDir()}, sizes{rebuild: 500, queries: 20}, rep, func(s string) { t.Log(s) }); err != nil {
		t.Fatal(err)
	}
	if rep.RebuildEvents != len(evs) {
		t.Errorf("rebuild of %d events measured, the stream holds the demo's %d", rep.RebuildEvents, len(evs))
	}
	if rep.ReviewItemsInPeriod != 52 {
		t.Errorf("the rebuilt review of 2025-05 has %d items, want the 52 of the demo", rep.ReviewItemsInPeriod)
	}
}

// --json has every key the issue asks for.
func TestReportHasTheRequiredKeys(t *testing.T) {
	b, err := json.Marshal(Report{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ingest_events_per_s", "raw_durable_batch_per_s", "ingest_ratio", "rebuild_events_per_s",
		"rebuild_ratio", "review_p99_ms", "counters_p99_ms", "peak_rss_mb"} {
		if _, ok := m[k]; !ok {
			t.Errorf("the report has no %q", k)
		}
	}
}
