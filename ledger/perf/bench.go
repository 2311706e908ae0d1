package perf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"compact/ledger"
	"compact/projections"
	"compact/projections/render"
	"compact/schemas/demo"
)

// Options size a bench run.
type Options struct {
	// Dir is a scratch directory; everything is written under it. Required.
	Dir string
	// Quick runs the smaller sizes (under two minutes on 2 cores).
	Quick bool
	// RebuildEvents overrides the size of the rebuilt ledger (1,000,000; 100,000 with Quick).
	RebuildEvents int
	// Progress, if set, receives a line as each measurement starts.
	Progress func(string)
}

// Report is the outcome of a bench run. Rates are events per second; latencies milliseconds.
type Report struct {
	RawDurableEachPerS float64 `json:"raw_durable_each_per_s"`
	// The raw atomic batches run in rounds alternating with the ingest at 64 publishers × 16
	// events (IngestEventsPerS), after half a round of each that is not measured, and each
	// side's rate is its rounds' events over their time;
	// the raw read runs once before the rebuild and once after (the views closed), and its
	// rate is both reads' events over both reads' time. A shared host's speed drifts within a
	// minute: a limit measured once, apart from what it is compared with, measures the drift.
	RawDurableBatchPerS float64 `json:"raw_durable_batch_per_s"`
	RawNonDurablePerS   float64 `json:"raw_nondurable_async_per_s"`
	// RawReadPerS is the read limit: the faster of an ordered-consumer read over the two ways
	// a client of the embedded server connects, in process and over loopback TCP (RawReadVia
	// says which; each is measured before and after the rebuild, and its rate is both reads'
	// events over both reads' time). The views read over the one serve gives the read side
	// (ledger.Server.ConnectReader: loopback TCP, unless the server requires TLS).
	RawReadPerS          float64 `json:"raw_read_per_s"`
	RawReadVia           string  `json:"raw_read_via"`
	RawReadInProcessPerS float64 `json:"raw_read_in_process_per_s"`
	RawReadTCPPerS       float64 `json:"raw_read_tcp_per_s"`
	RawPebbleSyncPerS    float64 `json:"raw_pebble_sync_batch_per_s"`
	Ingest1PerS          float64 `json:"ingest_1_publisher_per_s"`
	Ingest64SinglePerS   float64 `json:"ingest_64_publishers_single_per_s"`
	IngestEventsPerS     float64 `json:"ingest_events_per_s"`
	IngestRequestEvents  int     `json:"ingest_request_events"`
	IngestRatio          float64 `json:"ingest_ratio"`
	// IngestRoundRatios is each alternating round's ingest rate ÷ the same round's raw atomic
	// batches rate, in order: how far apart they are is this run's own noise, which
	// IngestRatio, taken over all the rounds, does not show.
	IngestRoundRatios []float64 `json:"ingest_round_ratios"`
	// The same 64 publishers sending 64 events per request: 4,096 events outstanding, enough to
	// fill atomic batches of 1,000 as the raw figure's are. With 16 events per request the one
	// batch in flight carries about half of the 1,024 outstanding, and the server's fixed cost
	// per batch is spread over half as many events (README → Performance).
	IngestLargeRequestEvents int     `json:"ingest_large_request_events"`
	IngestLargePerS          float64 `json:"ingest_large_requests_per_s"`
	IngestLargeRatio         float64 `json:"ingest_large_requests_ratio"`
	RebuildEvents            int     `json:"rebuild_events"`
	RebuildEventsPerS        float64 `json:"rebuild_events_per_s"`
	RebuildRatio             float64 `json:"rebuild_ratio"`
	// RebuildSettleS is how long the views' store went on flushing and compacting after the
	// rebuild caught up (to the last time it was seen at it, polling every 100 ms): work the
	// build left, done in the background while the views serve. The query latencies are
	// measured after it and a second with neither.
	RebuildSettleS float64 `json:"rebuild_settle_s"`
	// The process's CPU time per event (user and system, the embedded server's included) of
	// the raw atomic batches, the ingest at 64 publishers, the raw read and the rebuild, in
	// µs, and the raw figure ÷ the system's. The rates move by tens of percent from one run to
	// the next on a shared machine; the CPU an event costs moves far less. On a machine the
	// work keeps busy, a CPU ratio is the rate ratio it can reach.
	RawDurableBatchCPUUs  float64 `json:"raw_durable_batch_cpu_us"`
	IngestCPUUs           float64 `json:"ingest_cpu_us"`
	IngestCPURatio        float64 `json:"ingest_cpu_ratio"`
	RawReadCPUUs          float64 `json:"raw_read_cpu_us"` // of the read RawReadVia names
	RawReadInProcessCPUUs float64 `json:"raw_read_in_process_cpu_us"`
	RawReadTCPCPUUs       float64 `json:"raw_read_tcp_cpu_us"`
	RebuildCPUUs          float64 `json:"rebuild_cpu_us"`
	RebuildCPURatio       float64 `json:"rebuild_cpu_ratio"`
	// The cores each of those four measurements kept busy on average: its CPU time over its
	// wall time (CPU an event × events a second). Near the machine's cores, a figure is bound
	// by the CPU; well under, by something it waits for (the fsyncs and the stream's one
	// commit loop for the raw batches and the ingest, the slowest stage of the delivery for
	// the raw read).
	RawDurableBatchCores float64 `json:"raw_durable_batch_cores"`
	IngestCores          float64 `json:"ingest_cores"`
	RawReadCores         float64 `json:"raw_read_cores"`
	RebuildCores         float64 `json:"rebuild_cores"`
	// PageFaultUs is a raw limit of the host's memory: the time of a first write to a page of
	// new memory (a minor page fault), in µs, over 64 MiB written a byte a page. The faults an
	// event of those four measurements took (minor faults of the process ÷ its events) times
	// it is the part of their CPU an event that went into faults: on a VM whose faults are
	// slow, a part the same work would not cost elsewhere. 0 where not measured (not Unix).
	PageFaultUs           float64 `json:"page_fault_us"`
	RawDurableBatchFaults float64 `json:"raw_durable_batch_faults"`
	IngestFaults          float64 `json:"ingest_faults"`
	RawReadFaults         float64 `json:"raw_read_faults"` // of the read RawReadVia names
	RebuildFaults         float64 `json:"rebuild_faults"`
	ReviewP50Ms           float64 `json:"review_p50_ms"`
	ReviewP99Ms           float64 `json:"review_p99_ms"`
	CountersP50Ms         float64 `json:"counters_p50_ms"`
	CountersP99Ms         float64 `json:"counters_p99_ms"`
	PeakRSSMB             float64 `json:"peak_rss_mb"`
	RebuildPeakRSSMB      float64 `json:"rebuild_peak_rss_mb"`
	Cores                 int     `json:"cores"`
	ReviewItemsInPeriod   int     `json:"review_items_in_period"`
	MeasuredAt            string  `json:"measured_at"`
	DurabilityStatement   string  `json:"durability"`
	// Goals is CheckGoals of the figures above, filled at the end of Run.
	Goals []Goal `json:"goals,omitempty"`
}

type sizes struct {
	each, batch, async, ingest1, ingest64, rebuild, queries int
}

// Run measures the raw limits and the system in one process, one run.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Dir == "" {
		return nil, errors.New("perf: Options.Dir is required")
	}
	sz := sizes{each: 5000, batch: 200_000, async: 200_000, ingest1: 5000, ingest64: 200_000, rebuild: 1_000_000, queries: 2000}
	if o.Quick {
		sz = sizes{each: 1500, batch: 50_000, async: 50_000, ingest1: 1500, ingest64: 50_000, rebuild: 100_000, queries: 1000}
	}
	if o.RebuildEvents > 0 {
		sz.rebuild = o.RebuildEvents
	}
	say := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	rep := &Report{Cores: numCPU(), MeasuredAt: time.Now().UTC().Format(time.RFC3339),
		DurabilityStatement: "every durable figure is acknowledged after fsync (server SyncAlways; Pebble Sync)"}
	say("a first write to each page of new memory")
	rep.PageFaultUs = pageFaultUs()
	rg, err := newRig(ctx, filepath.Join(o.Dir, "node"), 64, false)
	if err != nil {
		return nil, err
	}
	defer rg.Close()
	node, conns := rg.node, rg.conns
	if _, err := node.JS.CreateStream(ctx, RawStreamConfig("RAW")); err != nil {
		return nil, err
	}
	body := RawBody()

	say("raw durable append, one at a time")
	r, err := RawDurableEach(ctx, node.JS, RawSubject, body, sz.each)
	if err != nil {
		return nil, err
	}
	rep.RawDurableEachPerS = r.PerSecond()
	say("raw non-durable async publish")
	if r, err = rawAsyncOnNonDurableServer(ctx, filepath.Join(o.Dir, "nondurable"), body, sz.async); err != nil {
		return nil, err
	}
	rep.RawNonDurablePerS = r.PerSecond()

	run := 0
	ingest := func(n, publishers, per int) (Result, error) {
		run++
		return Ingest(ctx, conns, "UNODC", benchEvents(run), n, publishers, per)
	}
	say("ingest end to end, 1 publisher")
	if r, err = ingest(sz.ingest1, 1, 1); err != nil {
		return nil, err
	}
	rep.Ingest1PerS = r.PerSecond()
	say("ingest end to end, 64 publishers, 1 event per request")
	if r, err = ingest(sz.ingest64/4, 64, 1); err != nil {
		return nil, err
	}
	rep.Ingest64SinglePerS = r.PerSecond()
	// The ratio's two sides in alternating rounds, each side's rounds summed (Report).
	rep.IngestRequestEvents = 16
	say(fmt.Sprintf("raw atomic batches of 1,000 and ingest with 64 publishers × 16 events: half a round of each, then %d rounds alternating", ratioRounds))
	var rawN, ingN int
	var rawT, ingT, rawCPU, ingCPU time.Duration
	var rawFaults, ingFaults int64
	// Half a round of each side first, not measured: the raw side's batches of 1,000 run here
	// for the first time, and its first round measured up to a quarter slower than the three
	// after it, the ingest's ~10% (four runs' rounds, ledger/perf/NOTES.md, fourteenth round).
	if _, err := RawAtomicBatches(ctx, node.Conn, RawSubject, body, part(sz.batch, 0)/2, 1000); err != nil {
		return nil, err
	}
	if _, err := ingest(part(sz.ingest64, 0)/2, 64, rep.IngestRequestEvents); err != nil {
		return nil, err
	}
	for round := range ratioRounds {
		cpu, faults := CPUTime(), minorFaults()
		raw, err := RawAtomicBatches(ctx, node.Conn, RawSubject, body, part(sz.batch, round), 1000)
		if err != nil {
			return nil, err
		}
		rawCPU, rawFaults = rawCPU+CPUTime()-cpu, rawFaults+minorFaults()-faults
		rawN, rawT = rawN+raw.Events, rawT+raw.Duration
		cpu, faults = CPUTime(), minorFaults()
		if r, err = ingest(part(sz.ingest64, round), 64, rep.IngestRequestEvents); err != nil {
			return nil, err
		}
		ingCPU, ingFaults = ingCPU+CPUTime()-cpu, ingFaults+minorFaults()-faults
		ingN, ingT = ingN+r.Events, ingT+r.Duration
		rep.IngestRoundRatios = append(rep.IngestRoundRatios, r.PerSecond()/raw.PerSecond())
	}
	rep.RawDurableBatchFaults = float64(rawFaults) / float64(rawN)
	rep.IngestFaults = float64(ingFaults) / float64(ingN)
	rep.RawDurableBatchPerS = Result{Events: rawN, Duration: rawT}.PerSecond()
	rep.RawDurableBatchCPUUs = rawCPU.Seconds() * 1e6 / float64(rawN)
	rep.IngestEventsPerS = Result{Events: ingN, Duration: ingT}.PerSecond()
	rep.IngestCPUUs = ingCPU.Seconds() * 1e6 / float64(ingN)
	rep.IngestRatio = rep.IngestEventsPerS / rep.RawDurableBatchPerS
	rep.IngestCPURatio = cpuRatio(rep.RawDurableBatchCPUUs, rep.IngestCPUUs)
	rep.IngestLargeRequestEvents = 64
	say("ingest end to end, 64 publishers, 64 events per request")
	if r, err = ingest(sz.ingest64, 64, rep.IngestLargeRequestEvents); err != nil {
		return nil, err
	}
	rep.IngestLargePerS = r.PerSecond()
	rep.IngestLargeRatio = rep.IngestLargePerS / rep.RawDurableBatchPerS

	// The read side: a ledger of sz.rebuild synthetic events on a server of its own. The
	// ingest's node is closed first, so that the read side runs alone in the process: the CPU
	// figures are the process's, and the rebuild uses every core. (Two pairs of runs with and
	// without this measured no difference beyond the noise; it is the cleaner measurement.)
	rg.Close()
	if err := benchReadSide(ctx, o, sz, rep, say); err != nil {
		return nil, err
	}
	rep.RawDurableBatchCores = coresBusy(rep.RawDurableBatchCPUUs, rep.RawDurableBatchPerS)
	rep.IngestCores = coresBusy(rep.IngestCPUUs, rep.IngestEventsPerS)
	rep.RawReadCores = coresBusy(rep.RawReadCPUUs, rep.RawReadPerS)
	rep.RebuildCores = coresBusy(rep.RebuildCPUUs, rep.RebuildEventsPerS)
	rep.PeakRSSMB = peakRSSMB()
	rep.Goals = rep.CheckGoals()
	return rep, nil
}

// benchEvents is the event function of the ingest's run-th measurement: Event("UNODC",
// BenchID(run, i)), as long as the raw side's RawBody.
// It is called by every publisher at once: it shares no buffer.
func benchEvents(run int) func(dst []byte, i int) []byte {
	return func(dst []byte, i int) []byte { return AppendEvent(dst, "UNODC", BenchID(run, i)) }
}

// coresBusy is how many cores a measurement kept busy on average, from its CPU time an event
// (µs) and its rate (events a second).
func coresBusy(cpuUs, perS float64) float64 { return cpuUs * perS / 1e6 }

func benchReadSide(ctx context.Context, o Options, sz sizes, rep *Report, say func(string)) error {
	s, js, nc, err := plainServer(filepath.Join(o.Dir, "readside"), true)
	if err != nil {
		return err
	}
	defer func() { nc.Close(); s.Shutdown(); s.WaitForShutdown() }()
	if _, err := js.CreateStream(ctx, ledger.StreamConfig(ledger.StreamOptions{})); err != nil {
		return err
	}
	say(fmt.Sprintf("filling a ledger of %d events: the demo's, then a synthetic history", sz.rebuild))
	nDemo, err := fillDemo(ctx, nc)
	if err != nil {
		return err
	}
	// The stream holds at least the demo's events: every figure below is of all it holds.
	n := max(sz.rebuild, nDemo)
	h := NewHistory(1)
	if err := fill(ctx, nc, h, n-nDemo); err != nil {
		return err
	}
	rep.RebuildEvents = n

	// The read side's connection, as serve's (loopback TCP), beside the in-process one.
	tcp, err := nats.Connect(s.ClientURL())
	if err != nil {
		return err
	}
	defer tcp.Close()
	jsTCP, err := jetstream.New(tcp)
	if err != nil {
		return err
	}
	// Both reads, in the order given, and the faster as the limit: before the rebuild in
	// process first, after it over TCP first, so that neither always reads second.
	var inProc, overTCP readRate
	readBoth := func(a *readRate, ja jetstream.JetStream, b *readRate, jb jetstream.JetStream) error {
		if err := a.read(ctx, ja, n); err != nil {
			return err
		}
		if err := b.read(ctx, jb, n); err != nil {
			return err
		}
		rep.setRawRead(inProc, overTCP)
		return nil
	}
	say("raw ordered-consumer reads of the whole stream, in process and over loopback TCP")
	if err := readBoth(&inProc, js, &overTCP, jsTCP); err != nil {
		return err
	}
	say("raw Pebble writes, Sync batches of 1,000")
	if rep.RawPebbleSyncPerS, err = rawPebble(filepath.Join(o.Dir, "pebble"), min(n, 200_000), 600); err != nil {
		return err
	}

	say(fmt.Sprintf("rebuild of every view from %d events", n))
	before := peakRSSMB()
	start, cpu, faults := time.Now(), CPUTime(), minorFaults()
	views, err := projections.Open(ctx, projections.Config{Dir: filepath.Join(o.Dir, "views"), JS: jsTCP, NC: tcp, DisableFeed: true})
	if err != nil {
		return err
	}
	defer views.Close(context.Background())
	if err := views.Start(ctx); err != nil {
		return err
	}
	if err := views.WaitFor(ctx, uint64(n)); err != nil {
		return err
	}
	rep.RebuildEventsPerS = float64(n) / time.Since(start).Seconds()
	rep.RebuildCPUUs = cpuPerEvent(cpu, n)
	rep.RebuildFaults = float64(minorFaults()-faults) / float64(n)
	rep.RebuildCPURatio = cpuRatio(rep.RawReadCPUUs, rep.RebuildCPUUs)
	rep.RebuildRatio = rep.RebuildEventsPerS / min(rep.RawReadPerS, rep.RawPebbleSyncPerS)
	rep.RebuildPeakRSSMB = max(before, peakRSSMB())

	// The build leaves Pebble compacting what it wrote (most of a second after 1M events):
	// measured here, not counted in the rebuild (whose views are at the last event and read),
	// and waited out before the queries, as the scaling measurement does, so that their
	// latency is of the queries, not of the queries beside a compaction.
	busy, err := settle(ctx, views.Compacting)
	if err != nil {
		return err
	}
	rep.RebuildSettleS = busy.Seconds()
	say("review and counters queries over HTTP")
	mux := http.NewServeMux()
	views.Routes(mux, nil)
	render.Routes(mux, views, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	rev, err := views.Review(ctx, "2025-05")
	if err != nil {
		return err
	}
	for _, sec := range rev.Sections {
		rep.ReviewItemsInPeriod += len(sec.Items)
	}
	if rep.ReviewP50Ms, rep.ReviewP99Ms, err = latency(ctx, srv.URL+"/v1/reviews/2025-05", sz.queries); err != nil {
		return err
	}
	if rep.CountersP50Ms, rep.CountersP99Ms, err = latency(ctx, srv.URL+"/v1/counters?as_of=2025-06-30", sz.queries); err != nil {
		return err
	}

	// The raw read again, the views closed: the rebuild ratio's limit is both reads' rate, so
	// that the host's drift between the first read and the rebuild counts on both sides.
	if err := views.Close(ctx); err != nil {
		return err
	}
	say("raw ordered-consumer reads of the whole stream, again")
	if err := readBoth(&overTCP, jsTCP, &inProc, js); err != nil {
		return err
	}
	rep.RebuildCPURatio = cpuRatio(rep.RawReadCPUUs, rep.RebuildCPUUs)
	rep.RebuildRatio = rep.RebuildEventsPerS / min(rep.RawReadPerS, rep.RawPebbleSyncPerS)
	return nil
}

// readRate accumulates the raw reads over one connection.
type readRate struct {
	events int
	wall   time.Duration
	cpu    time.Duration
	faults int64
}

func (r *readRate) read(ctx context.Context, js jetstream.JetStream, n int) error {
	cpu, faults := CPUTime(), minorFaults()
	took, err := rawRead(ctx, js, n)
	if err != nil {
		return err
	}
	r.events, r.wall, r.cpu = r.events+n, r.wall+took, r.cpu+CPUTime()-cpu
	r.faults += minorFaults() - faults
	return nil
}

func (r readRate) perS() float64           { return float64(r.events) / r.wall.Seconds() }
func (r readRate) cpuUs() float64          { return r.cpu.Seconds() * 1e6 / float64(r.events) }
func (r readRate) faultsPerEvent() float64 { return float64(r.faults) / float64(r.events) }

// setRawRead takes the faster of the two reads as the read limit.
func (rep *Report) setRawRead(inProc, overTCP readRate) {
	rep.RawReadInProcessPerS, rep.RawReadInProcessCPUUs = inProc.perS(), inProc.cpuUs()
	rep.RawReadTCPPerS, rep.RawReadTCPCPUUs = overTCP.perS(), overTCP.cpuUs()
	rep.RawReadVia, rep.RawReadPerS, rep.RawReadCPUUs = "tcp", rep.RawReadTCPPerS, rep.RawReadTCPCPUUs
	rep.RawReadFaults = overTCP.faultsPerEvent()
	if rep.RawReadInProcessPerS > rep.RawReadTCPPerS {
		rep.RawReadVia, rep.RawReadPerS, rep.RawReadCPUUs = "in-process", rep.RawReadInProcessPerS, rep.RawReadInProcessCPUUs
		rep.RawReadFaults = inProc.faultsPerEvent()
	}
}

// fillDemo appends the demo dataset (the May–June 2025 review's events) to COMPACT in
// atomic batches of 1,000, and returns how many it appended.
func fillDemo(ctx context.Context, nc *nats.Conn) (int, error) {
	evs, err := demo.Events()
	if err != nil {
		return 0, err
	}
	for start := 0; start < len(evs); start += 1000 {
		var msgs []*nats.Msg
		for _, ev := range evs[start:min(start+1000, len(evs))] {
			e, err := ledger.DecodeStored(ev)
			if err != nil {
				return 0, err
			}
			msgs = append(msgs, &nats.Msg{Subject: e.Subject(), Data: ev})
		}
		if err := appendAtomic(ctx, nc, msgs); err != nil {
			return 0, err
		}
	}
	return len(evs), nil
}

// fill appends n generated events to COMPACT in atomic batches of 1,000.
func fill(ctx context.Context, nc *nats.Conn, h *History, n int) error {
	for done := 0; done < n; {
		msgs := make([]*nats.Msg, min(1000, n-done))
		for i := range msgs {
			entity, ev := h.Next()
			msgs[i] = &nats.Msg{Subject: ledger.EventSubject(entity, typeOf(ev)), Data: ev}
		}
		if err := appendAtomic(ctx, nc, msgs); err != nil {
			return err
		}
		done += len(msgs)
	}
	return nil
}

func typeOf(ev []byte) string {
	s := string(ev)
	i := strings.Index(s, `"type":"`)
	s = s[i+8:]
	return s[:strings.IndexByte(s, '"')]
}

// rawRead reads COMPACT, which must hold exactly n messages, from its start as the views'
// reader does (an ordered consumer, the same pull size, projections/runtime.go) with the least
// a reader does with a message: its metadata, whose stream sequence must be the next. It
// returns the time from making the consumer to the last message (not its teardown).
func rawRead(ctx context.Context, js jetstream.JetStream, n int) (time.Duration, error) {
	st, err := js.Stream(ctx, ledger.StreamName)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, err
	}
	// As the views' reader reads (projections/streamreader.go): a handler, each message's
	// metadata read and its sequence checked.
	done := make(chan error, 1)
	finish := func(err error) {
		select {
		case done <- err:
		default:
		}
	}
	// The handler takes a lock, as the views' reader does: around a reset of the ordered
	// consumer the last call of one subscription may overlap the first of the next.
	var mu sync.Mutex
	i := 0
	cc, err := cons.Consume(func(m jetstream.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if i >= n {
			return
		}
		i++
		md, err := m.Metadata()
		switch {
		case err != nil:
			finish(err)
		case md.Sequence.Stream != uint64(i):
			finish(fmt.Errorf("raw read: message %d has stream sequence %d", i, md.Sequence.Stream))
		case i == n && md.NumPending != 0:
			finish(fmt.Errorf("raw read: %d messages after the %d expected", md.NumPending, n))
		case i == n:
			finish(nil)
		}
	}, jetstream.PullMaxMessages(readPullMessages))
	if err != nil {
		return 0, err
	}
	defer func() { cc.Stop(); <-cc.Closed() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// readPullMessages is the views' reader's pull size (projections/streamreader.go).
const readPullMessages = 2000

func rawPebble(dir string, n, valueSize int) (float64, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: silentLogger{}})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	val := make([]byte, valueSize)
	start := time.Now()
	for done := 0; done < n; {
		b := db.NewBatch()
		for i := 0; i < 1000 && done < n; i++ {
			b.Set(fmt.Appendf(nil, "k%012d", done), val, nil)
			done++
		}
		if err := b.Commit(pebble.Sync); err != nil {
			return 0, err
		}
		b.Close()
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// latency GETs url n times, one after the other over one kept-alive connection, and returns
// the p50 and p99 (nearest rank) of the n round trips, the body read whole. One request
// before them opens the connection and is not counted: the figure is a query's, not a TCP
// handshake's.
func latency(ctx context.Context, url string, n int) (p50, p99 float64, err error) {
	get := func() (time.Duration, error) {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return time.Since(start), nil
	}
	if _, err := get(); err != nil {
		return 0, 0, err
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		d, err := get()
		if err != nil {
			return 0, 0, err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return pct(ds, 50), pct(ds, 99), nil
}

func rawAsyncOnNonDurableServer(ctx context.Context, dir string, body []byte, n int) (Result, error) {
	s, js, nc, err := plainServer(dir, false)
	if err != nil {
		return Result{}, err
	}
	defer func() { nc.Close(); s.Shutdown(); s.WaitForShutdown() }()
	if _, err := js.CreateStream(ctx, RawStreamConfig("RAWASYNC")); err != nil {
		return Result{}, err
	}
	return RawAsync(ctx, js, RawSubject, body, n)
}

// plainServer starts an in-process nats-server with JetStream in dir.
func plainServer(dir string, syncAlways bool) (*server.Server, jetstream.JetStream, *nats.Conn, error) {
	s, err := server.NewServer(&server.Options{JetStream: true, StoreDir: dir, Port: -1, Host: "127.0.0.1",
		SyncAlways: syncAlways, NoSigs: true, NoLog: true, MaxPayload: ledger.MaxRequestBytes})
	if err != nil {
		return nil, nil, nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		return nil, nil, nil, errors.New("bench nats-server did not start")
	}
	nc, err := nats.Connect("", nats.InProcessServer(s))
	if err != nil {
		return nil, nil, nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	return s, js, nc, err
}

func entityConns(url, seed string, n int) ([]*nats.Conn, error) {
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	var conns []*nats.Conn
	for range n {
		nc, err := nats.Connect(url, nats.Nkey(pub, kp.Sign))
		if err != nil {
			return nil, err
		}
		conns = append(conns, nc)
	}
	return conns, nil
}

// ratioRounds is how many alternating rounds the two sides of ingest_ratio run in.
const ratioRounds = 4

// part is the i-th of ratioRounds near-equal parts of n.
func part(n, i int) int { return n*(i+1)/ratioRounds - n*i/ratioRounds }

// cpuPerEvent is the CPU time used since since, in µs per event of n.
func cpuPerEvent(since time.Duration, n int) float64 {
	return (CPUTime() - since).Seconds() * 1e6 / float64(n)
}

// cpuRatio is raw ÷ system, 0 when either was not measured.
func cpuRatio(raw, system float64) float64 {
	if raw <= 0 || system <= 0 {
		return 0
	}
	return raw / system
}

// peakRSSMB is the process's peak resident set (VmHWM), in MiB.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

type silentLogger struct{}

func (silentLogger) Infof(string, ...any)  {}
func (silentLogger) Errorf(string, ...any) {}
func (silentLogger) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}
