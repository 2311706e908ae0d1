package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/perf"
)

// Two writers on one stream (two ingest processes), each with small batches so that their
// conditional appends collide all the time, publish overlapping ids from many goroutines,
// with retractions of earlier ids among them. Whatever the interleaving: every id is stored
// once, every result names the message that holds its id, exactly one result per id says
// "stored" (the others "duplicate"), no event is refused for the other writer's sake, and
// every retraction follows what it retracts in the stream.
func TestTwoBusyWriters(t *testing.T) {
	twoBusyWriters(t, ledger.AppenderConfig{MaxBatch: 24, MinAtomicBatch: 2})
}

// TestTwoBusyWriters with the configuration compact serve runs: most requests (1..13 events)
// go as pipelined conditional publishes, whose collisions with the other writer are the
// ones to survive here. A run hits the race that stored an id twice about one time in three
// (a pipelined event landing after the one before it was refused): a few runs, each on a
// fresh ledger, hit it most of the time.
func TestTwoBusyWritersDefaultConfig(t *testing.T) {
	for run := range 4 {
		t.Run(fmt.Sprint("run-", run), func(t *testing.T) { twoBusyWriters(t, ledger.AppenderConfig{}) })
	}
}

func twoBusyWriters(t *testing.T, cfg ledger.AppenderConfig) {
	dir := t.TempDir()
	n := testNode(t, dir)
	ctx := context.Background()
	p := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	var writers []*ledger.Ingester
	for i := range 2 {
		writers = append(writers, secondWriter(t, n, fmt.Sprint("writer-", i), cfg))
	}

	const (
		goroutines = 32
		requests   = 24
		ids        = 400
	)
	type outcome struct {
		id  string
		res ledger.Result
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
	)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range requests {
				var events []string
				var names []string
				for range 1 + rng.IntN(12) {
					id := fmt.Sprintf("c-%03d", rng.IntN(ids))
					events = append(events, activity("UNODC", id, "title of "+id))
					names = append(names, id)
				}
				if rng.IntN(4) == 0 {
					// Retract an id of this very request: stored before it or with it.
					target := names[0]
					id := "r-" + target
					events = append(events, fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/UNODC","type":"compact.event.retracted","time":"2025-06-30T12:00:00Z","data":{"retracts":%q,"reason":"test"}}`, id, target))
					names = append(names, id)
				}
				w := writers[rng.IntN(len(writers))]
				rep := w.Ingest(ctx, p, []byte("["+strings.Join(events, ",")+"]"))
				if rep.Error != nil {
					t.Errorf("request refused: %v", rep.Error)
					return
				}
				mu.Lock()
				for i, r := range rep.Results {
					outcomes = append(outcomes, outcome{names[i], r})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	// The stream, id by sequence.
	stream, err := n.JS.Stream(ctx, ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	bySeq := map[uint64]string{}
	seqOf := map[string]uint64{}
	retracts := map[string]string{}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range last {
		msg, err := cons.Next()
		if err != nil {
			t.Fatal(err)
		}
		md, _ := msg.Metadata()
		var ev struct {
			ID   string `json:"id"`
			Data struct {
				Retracts string `json:"retracts"`
			} `json:"data"`
		}
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		if prev, ok := seqOf[ev.ID]; ok {
			t.Errorf("%s stored twice: at %d and %d", ev.ID, prev, md.Sequence.Stream)
		}
		seqOf[ev.ID], bySeq[md.Sequence.Stream] = md.Sequence.Stream, ev.ID
		if ev.Data.Retracts != "" {
			retracts[ev.ID] = ev.Data.Retracts
		}
	}
	stored := map[string]int{}
	for _, o := range outcomes {
		if o.res.Error != nil {
			t.Errorf("%s: %v", o.id, o.res.Error)
			continue
		}
		if bySeq[o.res.Seq] != o.id {
			t.Errorf("%s: result says seq %d, which holds %q", o.id, o.res.Seq, bySeq[o.res.Seq])
		}
		if !o.res.Duplicate {
			stored[o.id]++
		}
	}
	for id := range seqOf {
		if stored[id] != 1 {
			t.Errorf("%s: %d results say it was stored, want 1", id, stored[id])
		}
	}
	for id, target := range retracts {
		if seqOf[target] == 0 || seqOf[target] > seqOf[id] {
			t.Errorf("%s (at %d) retracts %s, stored at %d", id, seqOf[id], target, seqOf[target])
		}
	}
	t.Logf("%d results, %d events in the stream", len(outcomes), len(seqOf))
}

// After a bulk load straight into the stream (tens of thousands of events no appender saw),
// the next append catches up however long reading them takes, and is stored: the Timeout
// bounds a wait for the server, not the length of the stream.
func TestAppendAfterBulkLoad(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	ctx := context.Background()
	in := secondWriter(t, n, "bulk-writer", ledger.AppenderConfig{Timeout: 100 * time.Millisecond})

	const bulk = 40_000
	subject := ledger.EventSubject("UNODC", "compact.training.delivered")
	for done := 0; done < bulk; done += 1000 {
		if err := perf.AtomicBatch(ctx, n.Conn, subject, perf.Event("UNODC", fmt.Sprintf("bulk-%d", done)), 1000); err != nil {
			t.Fatal(err)
		}
	}
	p := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	start := time.Now()
	rep := in.Ingest(ctx, p, []byte(activity("UNODC", "after-bulk", "after the bulk load")))
	if rep.Error != nil || rep.Results[0].Error != nil || rep.Results[0].Seq != bulk+1 {
		t.Fatalf("after a bulk load of %d: %+v %+v", bulk, rep.Error, rep.Results)
	}
	t.Logf("caught up with %d events in %v (Timeout 100ms)", bulk, time.Since(start))
	rep = in.Ingest(ctx, p, []byte(perf.Event("UNODC", "bulk-0")))
	if r := rep.Results[0]; r.Error != nil || !r.Duplicate || r.Seq < 1 || r.Seq > 1000 {
		t.Fatalf("an id of the bulk load: %+v, want a duplicate of one of seqs 1..1000", r)
	}
}

// While a batch is in flight the writer checks the next one as if the batch had landed: an
// event that repeats one in flight is a duplicate with its sequence, and a retraction of an
// event in flight is accepted. Each round sends a batch and, while it may still be in flight,
// such a pair (again while the retraction's target is unknown, i.e. the pair came first);
// whenever the pair arrives, the outcome must be the same.
func TestNextBatchCheckedAgainstTheOneInFlight(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	ctx := context.Background()
	p := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	w := secondWriter(t, n, "writer", ledger.AppenderConfig{MinAtomicBatch: 2})
	for round := range 30 {
		var events []string
		for i := range 40 {
			events = append(events, activity("UNODC", fmt.Sprintf("f-%d-%d", round, i), "title"))
		}
		last := fmt.Sprintf("f-%d-39", round)
		retraction := fmt.Sprintf(`{"specversion":"1.0","id":"x-%d","source":"/entities/UNODC","type":"compact.event.retracted","time":"2025-06-30T12:00:00Z","data":{"retracts":"f-%d-0","reason":"test"}}`, round, round)
		batch := make(chan ledger.Reply, 1)
		go func() { batch <- w.Ingest(ctx, p, []byte("["+strings.Join(events, ",")+"]")) }()
		time.Sleep(time.Duration(round%6) * 200 * time.Microsecond)
		var copies []ledger.Result // every result for the event sent twice
		var x ledger.Result
		for {
			pair := w.Ingest(ctx, p, []byte("["+activity("UNODC", last, "title")+","+retraction+"]"))
			if pair.Error != nil {
				t.Fatalf("round %d: pair refused: %v", round, pair.Error)
			}
			copies = append(copies, pair.Results[0])
			if x = pair.Results[1]; x.Error == nil || !strings.Contains(x.Error.Message, "no event") {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		rep := <-batch
		if rep.Error != nil {
			t.Fatalf("round %d: batch refused: %v", round, rep.Error)
		}
		copies = append(copies, rep.Results[39])
		stored := 0
		for _, c := range copies {
			if c.Error != nil || c.Seq != copies[0].Seq {
				t.Fatalf("round %d: results for %s disagree: %+v", round, last, copies)
			}
			if !c.Duplicate {
				stored++
			}
		}
		if stored != 1 {
			t.Fatalf("round %d: %d results say %s was stored: %+v", round, stored, last, copies)
		}
		if first := rep.Results[0]; x.Error != nil || first.Error != nil || x.Seq <= first.Seq {
			t.Fatalf("round %d: retraction %+v of %+v", round, x, first)
		}
	}
}

// An append whose acknowledgement is lost is learnt from the stream, and each result says who
// stored the event: this writer (stored) or another (a duplicate), as the stored message's
// batch id or writer header tells. Writer B's index is behind the stream: A stores x-1, then
// B is asked for x-1 and x-2, sends them on its stale view, and never hears the refusal. B's
// catch-up finds x-1 after the sequence it checked against: A's, so a duplicate, not an
// attempt of B's whose answer was lost. Then B's own batch (y-1) lands and its answer is
// lost: the stream shows B's batch id, so y-1 is stored, not a duplicate.
func TestLostAckTellsWhoStored(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	ctx := context.Background()
	p := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	// Each lost acknowledgement costs a Timeout. Short, but not so short that a loaded
	// machine's fsync or B's catch-up outlasts it (300 ms failed once under -race with
	// every package's tests running).
	b := secondWriter(t, n, "b", ledger.AppenderConfig{MinAtomicBatch: 1, Timeout: time.Second})

	rep := n.Ingester.Ingest(ctx, p, []byte(activity("UNODC", "x-1", "stored by A")))
	if rep.Error != nil || rep.Results[0].Error != nil || rep.Results[0].Duplicate {
		t.Fatalf("A: %+v %+v", rep.Error, rep.Results)
	}
	first := rep.Results[0].Seq

	ledger.LoseAcks(b.Appender, 1)
	rep = b.Ingest(ctx, p, []byte("["+activity("UNODC", "x-1", "stored by A")+","+activity("UNODC", "x-2", "B's own")+"]"))
	if rep.Error != nil {
		t.Fatal(rep.Error)
	}
	x1, x2 := rep.Results[0], rep.Results[1]
	if x1.Error != nil || x1.Seq != first || !x1.Duplicate {
		t.Errorf("x-1 through B: %+v, want a duplicate of seq %d (A stored it)", x1, first)
	}
	if x2.Error != nil || x2.Seq <= first || x2.Duplicate {
		t.Errorf("x-2 through B: %+v, want stored after seq %d", x2, first)
	}

	ledger.LoseAcks(b.Appender, 1)
	rep = b.Ingest(ctx, p, []byte(activity("UNODC", "y-1", "B's, answer lost")))
	if rep.Error != nil {
		t.Fatal(rep.Error)
	}
	if y := rep.Results[0]; y.Error != nil || y.Seq <= x2.Seq || y.Duplicate {
		t.Errorf("y-1 through B, its acknowledgement lost: %+v, want stored after seq %d", y, x2.Seq)
	}
	if got := readLedger(t, n.JS); len(got) != 3 {
		t.Errorf("the stream holds %d events, want 3 (x-1, x-2, y-1)", len(got))
	}
}

// A pipelined event lands only right after the one before it. Writer B stores x; writer A,
// which has not seen it, is asked for [e1, x] and pipelines them expecting last sequences L
// and L+1. B's append makes e1's condition fail and, by the sequence alone, x's hold: x would
// land without ever being checked against B's copy, the same source+id stored twice.
func TestPipelinedEventAfterARefusedOneIsNotStoredTwice(t *testing.T) {
	n := testNode(t, t.TempDir())
	ctx := context.Background()
	p := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	a := secondWriter(t, n, "writer-a", ledger.AppenderConfig{})
	b := secondWriter(t, n, "writer-b", ledger.AppenderConfig{})

	rb := b.Ingest(ctx, p, []byte(activity("UNODC", "x", "stored by B")))
	if rb.Error != nil || rb.Results[0].Error != nil {
		t.Fatalf("B: %+v %+v", rb.Error, rb.Results)
	}
	ra := a.Ingest(ctx, p, []byte("["+activity("UNODC", "e1", "A's own")+","+activity("UNODC", "x", "stored by B")+"]"))
	if ra.Error != nil {
		t.Fatal(ra.Error)
	}
	e1, x := ra.Results[0], ra.Results[1]
	if e1.Error != nil || e1.Duplicate || e1.Seq <= rb.Results[0].Seq {
		t.Errorf("e1 through A: %+v, want stored after seq %d", e1, rb.Results[0].Seq)
	}
	if x.Error != nil || !x.Duplicate || x.Seq != rb.Results[0].Seq {
		t.Errorf("x through A: %+v, want a duplicate of seq %d (B stored it)", x, rb.Results[0].Seq)
	}
	seen := map[string]uint64{}
	for seq, id := range readLedger(t, n.JS) {
		if prev, ok := seen[id]; ok {
			t.Errorf("%s stored twice: at %d and %d", id, prev, seq)
		}
		seen[id] = seq
	}
}

// The same race without a shared id: B stores anything, A is asked for [e1, retraction of
// e1]. e1 is refused for B's append, and the retraction must not land before its target.
func TestPipelinedRetractionNeverPrecedesItsTarget(t *testing.T) {
	n := testNode(t, t.TempDir())
	ctx := context.Background()
	p := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	a := secondWriter(t, n, "writer-a", ledger.AppenderConfig{})
	b := secondWriter(t, n, "writer-b", ledger.AppenderConfig{})

	if rb := b.Ingest(ctx, p, []byte(activity("UNODC", "other", "stored by B"))); rb.Error != nil || rb.Results[0].Error != nil {
		t.Fatalf("B: %+v %+v", rb.Error, rb.Results)
	}
	retraction := `{"specversion":"1.0","id":"r-e1","source":"/entities/UNODC","type":"compact.event.retracted","time":"2025-06-30T12:00:00Z","data":{"retracts":"e1","reason":"test"}}`
	ra := a.Ingest(ctx, p, []byte("["+activity("UNODC", "e1", "A's own")+","+retraction+"]"))
	if ra.Error != nil {
		t.Fatal(ra.Error)
	}
	e1, r := ra.Results[0], ra.Results[1]
	if e1.Error != nil || r.Error != nil || r.Seq <= e1.Seq {
		t.Errorf("retraction %+v of %+v: want both stored, the retraction after", r, e1)
	}
	seqOf := map[string]uint64{}
	for seq, id := range readLedger(t, n.JS) {
		seqOf[id] = seq
	}
	if seqOf["/entities/UNODC r-e1"] <= seqOf["/entities/UNODC e1"] {
		t.Errorf("the stream holds the retraction at %d, e1 at %d", seqOf["/entities/UNODC r-e1"], seqOf["/entities/UNODC e1"])
	}
}
