package projections

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
)

// TestQuarantine: events a view cannot apply are recorded with their error and skipped, the
// view goes on, and status and metrics show them.
func TestQuarantine(t *testing.T) {
	h := newHarness(t)
	cfg := h.config(t.TempDir())
	cfg.Registry = prometheus.NewRegistry()
	v := h.open(cfg)
	h.publish(act("UNODC", "ok1", "compact.training.delivered", "2025-05-10", nil))
	h.publishRaw("compact.events.UNODC.meeting.held", []byte("{not json"))                                                               // all views
	h.publish(act("UNODC", "bad-date", "compact.meeting.held", "2025-02-30", nil))                                                       // review only
	h.publish(correct("UNODC", "ghost-fix", "ghost", obj{"title": "x"}))                                                                 // all views: unknown target
	h.publish(mkEvent("SECRETARIAT", "bad-counter", "compact.counter.opened", obj{"counter": "nope", "value": 1, "date": "2025-01-01"})) // counters only
	h.publish(mkEvent("SECRETARIAT", "bad-unit", typeStructure, obj{"unit": "x", "unit_kind": "club", "name": "x"}))                     // structure only
	last := h.publish(act("UNODC", "ok2", "compact.training.delivered", "2025-05-11", nil),
		mkEvent("UNOCT", "doc", "compact.document.shared", obj{"document": "d", "title": "t", "shared_by": obj{"entity": "UNOCT"}, "date": "2025-05-11"}))
	h.wait(v, last)

	r := review(t, v, "2025-05")
	if sec, _ := where(r, "UNODC", "ok2"); sec == "" {
		t.Error("the review did not go on after quarantined events")
	}
	if c, _ := v.Counters(t.Context(), "2025-12-31"); c.DocumentsShared != 1 {
		t.Errorf("the counters did not go on after quarantined events: %+v", c)
	}
	want := map[string][]string{
		ViewCounters:  {"", "ghost-fix", "bad-counter"},
		ViewReview:    {"", "bad-date", "ghost-fix"},
		ViewStructure: {"", "ghost-fix", "bad-unit"},
	}
	st, err := v.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.StreamLastSeq != last {
		t.Errorf("status stream last seq %d, want %d", st.StreamLastSeq, last)
	}
	for _, vs := range st.Views {
		q, err := v.Quarantine(t.Context(), vs.View, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range q {
			ids = append(ids, e.ID)
			if e.Error == "" || e.Seq == 0 {
				t.Errorf("quarantine entry without error or seq: %+v", e)
			}
		}
		if sprint(ids) != sprint(want[vs.View]) {
			t.Errorf("view %s quarantined %q, want %q", vs.View, ids, want[vs.View])
		}
		if vs.Quarantined != uint64(len(want[vs.View])) || vs.Checkpoint != last || vs.Lag != 0 || !vs.Running {
			t.Errorf("status of %s: %+v", vs.View, vs)
		}
		if m := waitMetric(t, cfg.Registry, "compact_view_quarantined_events", vs.View, float64(len(want[vs.View]))); m != float64(len(want[vs.View])) {
			t.Errorf("metric compact_view_quarantined_events{view=%s} = %v", vs.View, m)
		}
		if m := waitMetric(t, cfg.Registry, "compact_view_checkpoint", vs.View, float64(last)); m != float64(last) {
			t.Errorf("metric compact_view_checkpoint{view=%s} = %v", vs.View, m)
		}
	}
	q, _ := v.Quarantine(t.Context(), ViewReview, 0, 0)
	if !strings.Contains(q[1].Error, "data/start") {
		t.Errorf("the quarantine error names the field: %q", q[1].Error)
	}
	// every event but the quarantined ones is applied (a view applies and ignores what is not its concern)
	for view, q := range want {
		if n := waitMetric(t, cfg.Registry, "compact_view_applied_events_total", view, float64(last)-float64(len(q))); n != float64(last)-float64(len(q)) {
			t.Errorf("compact_view_applied_events_total{view=%s} = %v, want %d", view, n, int(last)-len(q))
		}
	}
}

// waitMetric reads a view's metric until it shows want or 5 s pass: the runtime updates its
// metrics just after the commit that makes the checkpoint visible, so a reader that saw the
// checkpoint may be a moment early.
func waitMetric(t *testing.T, reg *prometheus.Registry, name, view string, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, ok := findMetric(t, reg, name, view)
		if (ok && m == want) || time.Now().After(deadline) {
			return metricValue(t, reg, name, view)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func metricValue(t *testing.T, reg *prometheus.Registry, name, view string) float64 {
	t.Helper()
	v, ok := findMetric(t, reg, name, view)
	if !ok {
		t.Fatalf("metric %s{view=%q} not found", name, view)
	}
	return v
}

func findMetric(t *testing.T, reg *prometheus.Registry, name, view string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "view" && l.GetValue() == view {
					switch {
					case m.Gauge != nil:
						return m.Gauge.GetValue(), true
					case m.Counter != nil:
						return m.Counter.GetValue(), true
					}
				}
			}
		}
	}
	return 0, false
}

// TestMetamorphicBatchSizes: the same history applied with batches of 1, 7 and 1000 events
// gives identical views, key by key.
func TestMetamorphicBatchSizes(t *testing.T) {
	h := newHarness(t)
	g := newHistGen(42)
	last := h.publish(g.take(400)...)
	var views []*Views
	for _, n := range []int{1, 7, 1000} {
		cfg := h.config(t.TempDir())
		cfg.BatchMaxCount = n
		v := h.open(cfg)
		views = append(views, v)
	}
	for _, v := range views {
		h.wait(v, last)
	}
	sameViews(t, views[0], views[1])
	sameViews(t, views[0], views[2])
}

// TestCrashRecovery kills the projector at random points — after a batch is applied but before
// it is committed, and after the commit but before the change message — many times while events
// flow, restarting it on the same Pebble each time. The final views equal a rebuild from
// sequence 1, key by key.
func TestCrashRecovery(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 6))
	g := newHistGen(5)
	history := g.take(600)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // events flow all along
		defer wg.Done()
		for i := 0; i < len(history); i += 20 {
			h.publish(history[i:min(i+20, len(history))]...)
			time.Sleep(3 * time.Millisecond)
		}
	}()
	crashes := 0
	for round := 0; round < 25; round++ {
		view := ViewNames[r.IntN(len(ViewNames))]
		point := []string{"applied", "committed"}[r.IntN(2)]
		after := int64(1 + r.IntN(4))
		var calls atomic.Int64
		crashed := make(chan struct{})
		var once sync.Once
		cfg := h.config(dir)
		cfg.BatchMaxCount = 1 + r.IntN(30)
		cfg.testHook = func(v, p string, _ uint64) error {
			if v == view && p == point && calls.Add(1) >= after {
				once.Do(func() { close(crashed) })
				return errors.New("crash")
			}
			return nil
		}
		v, err := Open(h.ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Start(h.ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-crashed:
			crashes++
		case <-time.After(300 * time.Millisecond):
		}
		if err := v.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if crashes < 10 {
		t.Fatalf("only %d of 25 rounds crashed: the test did not exercise recovery", crashes)
	}
	last := h.seq.Load()
	v := h.open(h.config(dir))
	h.wait(v, last)
	fresh := h.open(h.config(t.TempDir()))
	h.wait(fresh, last)
	sameViews(t, v, fresh)
	checkCounters(t, v, history)
}

// TestBuildAsKnown builds the views from the events appended up to a ledger time.
func TestBuildAsKnown(t *testing.T) {
	h := newHarness(t)
	early := []ledger.Event{
		act("UNODC", "a", "compact.training.delivered", "2025-05-10", nil),
		mkEvent("UNOCT", "doc1", "compact.document.shared", obj{"document": "d", "title": "t", "shared_by": obj{"entity": "UNOCT"}, "date": "2025-05-11"}),
	}
	h.publish(early...)
	time.Sleep(20 * time.Millisecond)
	until := time.Now()
	time.Sleep(20 * time.Millisecond)
	late := []ledger.Event{
		act("UNODC", "b", "compact.training.delivered", "2025-05-12", nil),
		mkEvent("UNOCT", "doc2", "compact.document.shared", obj{"document": "d", "title": "t", "shared_by": obj{"entity": "UNOCT"}, "date": "2025-05-11"}),
		retract("UNODC", "a-r", "a"),
	}
	h.publish(late...)

	v, err := BuildAsKnown(h.ctx, h.js, until, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(context.Background())
	c, err := v.Counters(t.Context(), "2025-12-31")
	if err != nil {
		t.Fatal(err)
	}
	want := naiveCounters(early, "2025-12-31")
	want.Seq = uint64(len(early))
	if *c != want {
		t.Errorf("counters as known: %+v, want %+v", *c, want)
	}
	r := review(t, v, "2025-05")
	if sec, _ := where(r, "UNODC", "a"); sec == "" {
		t.Error("a, retracted only later, is missing from the review as known")
	}
	if sec, _ := where(r, "UNODC", "b"); sec != "" {
		t.Error("b, appended after until, is in the review as known")
	}
	all, err := BuildAsKnown(h.ctx, h.js, time.Now().Add(time.Hour), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close(context.Background())
	if c, _ := all.Counters(t.Context(), "2025-12-31"); c.DocumentsShared != 2 || c.Seq != uint64(len(early)+len(late)) {
		t.Errorf("as known now: %+v", c)
	}
	if _, err := BuildAsKnown(h.ctx, h.js, until, dirWithFile(t)); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("BuildAsKnown into a used directory: %v", err)
	}
}

// TestBuildAsKnownIndexesItsLastChunk: the messages a build as known has read when it meets
// the first one after until are handed over with the end, and are applied like any other: a
// duplicate among them is skipped, a correction of an event among them finds its target.
func TestBuildAsKnownIndexesItsLastChunk(t *testing.T) {
	h := newHarness(t)
	doc := mkEvent("UNOCT", "doc1", "compact.document.shared", obj{"document": "d", "title": "t", "shared_by": obj{"entity": "UNOCT"}, "date": "2025-05-11"})
	// one chunk: the stream holds more (pending > 0) until the message after until ends it
	h.publish(
		act("UNODC", "a", "compact.training.delivered", "2025-05-10", nil),
		doc,
		doc,
		correct("UNODC", "a-fix", "a", dataOf(act("UNODC", "a", "compact.training.delivered", "2025-05-20", obj{"title": "Fixed"}))),
	)
	time.Sleep(20 * time.Millisecond)
	until := time.Now()
	time.Sleep(20 * time.Millisecond)
	h.publish(act("UNODC", "b", "compact.training.delivered", "2025-05-12", nil))

	for _, at := range []time.Time{until, time.Now().Add(time.Hour)} {
		v, err := BuildAsKnown(h.ctx, h.js, at, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close(context.Background())
		c, err := v.Counters(t.Context(), "2025-12-31")
		if err != nil {
			t.Fatal(err)
		}
		if c.DocumentsShared != 1 {
			t.Errorf("as known at %s: documents_shared = %d, want 1 (the duplicate is counted)", at, c.DocumentsShared)
		}
		if _, it := where(review(t, v, "2025-05"), "UNODC", "a"); it == nil || it.Title != "Fixed" {
			q, _ := v.Quarantine(t.Context(), ViewReview, 0, 0)
			t.Errorf("as known at %s: the correction is not applied: item %+v; review quarantine %+v", at, it, q)
		}
	}
}

type noMetaMsg struct{ jetstream.Msg }

func (noMetaMsg) Reply() string                             { return "" }
func (noMetaMsg) Metadata() (*jetstream.MsgMetadata, error) { return nil, jetstream.ErrNotJSMessage }

// TestReaderIndexesWhatItHandsOverWithAReadError: when reading fails in the middle of a chunk,
// the messages read before are handed over with the error, and the members apply them: they
// must be in the ledger index first, a duplicate marked and a correction's target found.
func TestReaderIndexesWhatItHandsOverWithAReadError(t *testing.T) {
	h := newHarness(t)
	doc := mkEvent("UNOCT", "doc1", "compact.document.shared", obj{"document": "d", "title": "t", "shared_by": obj{"entity": "UNOCT"}, "date": "2025-05-11"})
	h.publish(
		act("UNODC", "a", "compact.training.delivered", "2025-05-10", nil),
		doc,
		doc,
		correct("UNODC", "a-fix", "a", obj{"title": "Fixed"}),
		act("UNODC", "b", "compact.training.delivered", "2025-05-12", nil), // read fails here
	)
	for _, noMeta := range []bool{false, true} {
		v, err := Open(h.ctx, Config{Dir: t.TempDir(), JS: h.js, DisableFeed: true}) // not started: this test is its only reader
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close(context.Background())
		cons, err := h.js.OrderedConsumer(h.ctx, ledger.StreamName, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := cons.Messages()
		if err != nil {
			t.Fatal(err)
		}
		out := make(chan chunk, readAhead)
		r := v.newGroup("test").newReader(h.ctx, out, newFirsts())
		for range 4 {
			m, err := msgs.Next()
			if err != nil {
				t.Fatal(err)
			}
			r.msg(m)
		}
		if noMeta {
			m, err := msgs.Next()
			if err != nil {
				t.Fatal(err)
			}
			r.msg(noMetaMsg{m})
		} else {
			r.consumeErr(nil, jetstream.ErrConnectionClosed) // as a lost connection reports it
			r.wait()
		}
		msgs.Stop()
		if len(out) != 1 {
			t.Fatalf("noMeta %v: %d chunks, want the 4 messages before the failure in one", noMeta, len(out))
		}
		c := <-out
		if c.err == nil || len(c.items) != 4 {
			t.Fatalf("noMeta %v: chunk of %d items, err %v: want 4 and the read error", noMeta, len(c.items), c.err)
		}
		if !c.items[2].prior {
			t.Errorf("noMeta %v: the duplicate at seq %d is handed over unmarked: it would be applied twice", noMeta, c.items[2].seq)
		}
		if _, ok, err := v.lookup("/entities/UNODC", "a", c.items[3].seq); !ok || err != nil {
			t.Errorf("noMeta %v: the target of the correction at seq %d is not in the index (%v): it would be quarantined", noMeta, c.items[3].seq, err)
		}
	}
}

func dirWithFile(t *testing.T) string {
	d := t.TempDir()
	v, err := Open(t.Context(), Config{Dir: d, JS: newHarness(t).js, DisableFeed: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = v.Close(context.Background())
	return d
}

func TestConfigValidate(t *testing.T) {
	h := newHarness(t)
	for _, c := range []Config{
		{JS: h.js},
		{Dir: "x"},
		{Dir: "x", JS: h.js, BatchMaxCount: -1},
		{Dir: "x", JS: h.js, FeedReplicas: 9},
	} {
		c.EnsureDefaults()
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c, err)
		}
	}
	c := Config{Dir: "x", JS: h.js}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil || c.BatchMaxCount != DefaultBatchMaxCount || c.BatchMaxWait != DefaultBatchMaxWait {
		t.Errorf("defaults: %+v %v", c, err)
	}
	_ = fmt.Sprint()
}

// TestSmallMemos: views whose memos keep forgetting (bounds of a few rows, so they drop what
// they hold in the middle of batches and read it again from Pebble) and whose reader knows no
// first events equal views built with the usual bounds, key by key.
func TestSmallMemos(t *testing.T) {
	h := newHarness(t)
	g := newHistGen(43)
	last := h.publish(g.take(400)...)
	normal := h.open(h.config(t.TempDir()))
	h.wait(normal, last)

	defer func(m, c, f int) { memoMaxRows, curationMemoMax, firstsMax = m, c, f }(memoMaxRows, curationMemoMax, firstsMax)
	memoMaxRows, curationMemoMax, firstsMax = 8, 2, 16
	cfg := h.config(t.TempDir())
	cfg.BatchMaxCount = 50
	small := h.open(cfg)
	h.wait(small, last)
	sameViews(t, small, normal)
	// nothing reads the bounds once the views are closed
	_ = small.Close(context.Background())
	_ = normal.Close(context.Background())
}

// A build as known leaves no consumer on the server once its views are closed: each used to
// stay there for the ordered consumer's five minutes of inactivity, one per
// `compact review --as-known` request.
func TestBuildAsKnownLeavesNoConsumer(t *testing.T) {
	h := newHarness(t)
	h.publish(act("UNODC", "a", "compact.training.delivered", "2025-05-10", nil))
	for range 2 {
		v, err := BuildAsKnown(h.ctx, h.js, time.Now().Add(time.Hour), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := h.js.Stream(h.ctx, ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for c := range st.ListConsumers(h.ctx).Info() {
		names = append(names, c.Name)
	}
	if len(names) > 0 {
		t.Errorf("consumers left after the builds as known were closed: %v", names)
	}
}

// The errors nats.go's ordered consumer mends itself (it makes its consumer again from the next
// sequence) do not stop the group's read; any other does, with the messages read so far.
func TestReaderLeavesWhatNATSMendsToIt(t *testing.T) {
	h := newHarness(t)
	v, err := Open(h.ctx, Config{Dir: t.TempDir(), JS: h.js, DisableFeed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(context.Background())
	out := make(chan chunk, readAhead)
	r := v.newGroup("test").newReader(h.ctx, out, newFirsts())
	for _, err := range []error{jetstream.ErrNoHeartbeat, jetstream.ErrConsumerDeleted, nats.ErrNoResponders,
		jetstream.ErrConsumerLeadershipChanged, fmt.Errorf("wrapped: %w", jetstream.ErrNoHeartbeat)} {
		r.consumeErr(nil, err)
	}
	r.wait()
	if len(out) != 0 {
		t.Fatalf("an error the consumer mends stopped the read: %+v", <-out)
	}
	r.consumeErr(nil, jetstream.ErrBadRequest) // stops the pull subscription, and nats.go does not make it again
	r.wait()
	if c := <-out; !errors.Is(c.err, jetstream.ErrBadRequest) {
		t.Fatalf("after a bad request the reader handed over %+v, want the error", c)
	}
}

// Closing the views while the reader's handler is in the middle of a chunk: the group waits the
// handler out before the store closes. nats.go's Closed waits for the handler of the consumer's
// current subscription only; after a reset of the ordered consumer (a missed heartbeat, which
// -race makes common) the last call of the one before may still be running, and it indexed its
// chunk in a closed Pebble: "pebble: closed", a panic in nats.go's goroutine, in 2 of 2 runs of
// go test -race ./projections. The reader's stop now waits for any handler (its mutex). Here
// the handler is held just before it indexes until Close has returned, or 2 s; a reset in that
// window is not forced, so this holds the plain case, and -race runs the other.
func TestClosingWhileReadingLeavesTheStoreAlone(t *testing.T) {
	h := newHarness(t)
	g := newHistGen(7)
	h.publish(g.take(2000)...)
	closed := make(chan struct{})
	var held atomic.Bool
	cfg := Config{Dir: t.TempDir(), JS: h.js, DisableFeed: true}
	inHandler := make(chan struct{})
	cfg.testIndexing = func() {
		if held.CompareAndSwap(false, true) {
			close(inHandler)
			select {
			case <-closed:
			case <-time.After(2 * time.Second):
			}
		}
	}
	v, err := Open(h.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	<-inHandler
	if err := v.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(closed)
	time.Sleep(200 * time.Millisecond) // the handler, if still running, indexes now
}
