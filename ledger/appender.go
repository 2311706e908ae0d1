package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"compact/schemas"
)

// JetStream headers of the atomic batch publish and the conditional append.
const (
	hdrBatchID      = "Nats-Batch-Id"
	hdrBatchSeq     = "Nats-Batch-Sequence"
	hdrBatchCommit  = "Nats-Batch-Commit"
	hdrExpectedLast = "Nats-Expected-Last-Sequence"
	// hdrWriter names the writer that appended an event outside an atomic batch (whose
	// Nats-Batch-Id names it otherwise): see Appender.wrote.
	hdrWriter = "Compact-Writer"
)

// Result is the outcome of appending one event.
type Result struct {
	ID        string      `json:"id"`
	Seq       uint64      `json:"seq,omitempty"`
	Duplicate bool        `json:"duplicate"`
	Error     *FieldError `json:"error,omitempty"`
}

// AppenderConfig configures an Appender.
type AppenderConfig struct {
	// Conn is a connection of the ledger's own account. Required.
	Conn *nats.Conn
	// Index is the dedup index. Required.
	Index *Index
	// Validator validates the replacement data of corrections. Default schemas.Default().
	Validator *schemas.Validator
	// MaxBatch is the most events in one atomic batch. Default 1000, JetStream's limit.
	MaxBatch int
	// MinAtomicBatch is the fewest events sent as an atomic batch; fewer go as pipelined
	// conditional publishes. On a single-node file store each atomic batch stages in a
	// store of its own, a fixed cost of about 5 ms measured here, while each pipelined
	// publish costs one fsync (about 0.35 ms): below ~15 events pipelining is faster.
	// Default 16.
	MinAtomicBatch int
	// Timeout bounds one append round trip to JetStream. Default 10s.
	Timeout time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Metrics, if set, counts appends and duplicates.
	Metrics *Metrics
}

// EnsureDefaults fills zero fields with their documented defaults.
func (c *AppenderConfig) EnsureDefaults() {
	if c.Validator == nil {
		c.Validator = schemas.Default()
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1000
	}
	if c.MinAtomicBatch == 0 {
		c.MinAtomicBatch = 16
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem of the configuration at once.
func (c *AppenderConfig) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("AppenderConfig.Conn is required"))
	}
	if c.Index == nil {
		errs = append(errs, errors.New("AppenderConfig.Index is required"))
	}
	if c.MaxBatch < 1 || c.MaxBatch > 1000 {
		errs = append(errs, fmt.Errorf("AppenderConfig.MaxBatch %d: must be 1..1000 (JetStream's atomic batch limit)", c.MaxBatch))
	}
	if c.MinAtomicBatch < 1 || c.MinAtomicBatch > c.MaxBatch {
		errs = append(errs, fmt.Errorf("AppenderConfig.MinAtomicBatch %d: must be 1..MaxBatch (%d)", c.MinAtomicBatch, c.MaxBatch))
	}
	return errors.Join(errs...)
}

// Appender is the single writer of the COMPACT stream in this process.
//
// Append may be called from any number of goroutines. One goroutine, owned by the
// Appender, takes whatever events are waiting (up to MaxBatch), checks them against the
// index, and appends the new ones in one JetStream atomic batch conditional on the
// stream's last sequence: one fsync for the batch, and no other writer can slip between
// the index check and the append. A lone publisher does not wait for a timer: its event
// goes out at once; under load, events queue while a batch is in flight and go out
// together in the next one, so throughput grows with load.
//
// While a batch is in flight, the writer takes the events that arrive and checks them as the
// next batch, against the index and against the batch in flight (as if it had landed, which
// it will whole or not at all): when the acknowledgement comes, the next batch goes out at
// once and the index learns of the last one after, so that the stream's loop, which stages
// and commits one batch at a time, does not sit idle through the writer's bookkeeping. If the
// batch in flight fails, the next one is checked again from scratch.
//
// One batch is in flight at a time. Sending the next before the last is acknowledged,
// conditional on the sequence the last will leave, looks free but is not safe with a
// second writer: when the last is refused because the other writer appended exactly as
// many events, the next one's condition holds, and it lands without having been checked
// against what the other writer stored.
//
// Fewer events than MinAtomicBatch go as pipelined conditional publishes, all in flight at
// once, for the same reason made safe another way: event i expects the stream's last
// sequence to be last+i and, for i > 0, the last message stored to be event i-1 itself
// (JetStream's expected last message id; every event followed by another carries a
// Nats-Msg-Id of its own, <writer>-<n>). The sequence alone is not enough: if another
// writer appends k events just before, events 0..k-1 are refused and event k's sequence
// condition holds, so it would land unchecked against what the other wrote (the same
// source+id twice, a retraction before the event it retracts).
type Appender struct {
	cfg  AppenderConfig
	js   jetstream.JetStream
	last uint64 // the stream's last sequence as the index knows it; writer goroutine only

	// writer names this Appender in what it appends: its batch ids are writer-<n>, its other
	// appends carry hdrWriter. ids counts the batch and message ids handed out, so that none
	// is ever given twice within JetStream's duplicate window (a repeated Nats-Msg-Id would be
	// dropped as a duplicate of a different event).
	writer string
	ids    uint64
	// others, during a retry, holds the sequences after othersAfter that the catch-up found
	// appended by another writer (writer goroutine only; nil outside a retry).
	others      map[uint64]bool
	othersAfter uint64
	// loseAcks makes the writer ignore the next acknowledgements of its atomic batches, as if
	// they were lost on the way (tests only, see export_test.go).
	loseAcks atomic.Int32

	queue  chan *pendingEvent
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// the acknowledgements of atomic batches sent with send: a subscription of the writer's
	// own on inbox.*, each batch answered on inbox.<batch id>
	inbox  string
	acks   chan *nats.Msg
	ackSub *nats.Subscription
}

type pendingEvent struct {
	c       *Candidate
	res     Result
	done    chan struct{}
	firstOf *pendingEvent // set when the same source+id comes earlier in the batch
}

// NewAppender catches the index up with the stream and starts the writer.
func NewAppender(ctx context.Context, cfg AppenderConfig) (*Appender, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.Conn, jetstream.WithPublishAsyncMaxPending(cfg.MaxBatch))
	if err != nil {
		return nil, err
	}
	a := &Appender{cfg: cfg, js: js, queue: make(chan *pendingEvent, 4*cfg.MaxBatch),
		inbox: cfg.Conn.NewInbox(), acks: make(chan *nats.Msg, 16), writer: nuid.Next()}
	if a.last, err = cfg.Index.Last(); err != nil {
		return nil, err
	}
	if err := a.catchUp(ctx, 0); err != nil {
		return nil, err
	}
	if a.ackSub, err = cfg.Conn.ChanSubscribe(a.inbox+".*", a.acks); err != nil {
		return nil, fmt.Errorf("subscribe to the append acknowledgements: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() { _ = a.ackSub.Unsubscribe() }()
		a.run(runCtx)
	}()
	return a, nil
}

// Close stops the writer after the batch in flight and waits for it. Events still queued
// are answered with ErrUnavailable (not stored).
func (a *Appender) Close(ctx context.Context) error {
	a.cancel()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Append appends the candidates and returns one result each, in order. A candidate whose
// source+id the ledger already holds is not stored again: its result is a duplicate with
// the original sequence. If ctx ends first, the results not yet known carry ErrUnavailable
// with "outcome unknown": re-sending the same events is safe.
func (a *Appender) Append(ctx context.Context, cands []*Candidate) []Result {
	ps := make([]*pendingEvent, len(cands))
	for i, c := range cands {
		ps[i] = &pendingEvent{c: c, res: Result{ID: c.Event.ID}, done: make(chan struct{})}
		select {
		case a.queue <- ps[i]:
		case <-ctx.Done():
			ps[i].res.Error = unavailable("not stored: %v", ctx.Err())
			close(ps[i].done)
		}
	}
	out := make([]Result, len(cands))
	for i, p := range ps {
		select {
		case <-p.done:
			out[i] = p.res
		case <-ctx.Done():
			out[i] = Result{ID: p.c.Event.ID, Error: unavailable("outcome unknown (%v): re-send the same event, it is stored once", ctx.Err())}
		}
	}
	return out
}

func unavailable(format string, args ...any) *FieldError {
	return &FieldError{Message: fmt.Sprintf(format, args...), Kind: ErrUnavailable}
}

func (a *Appender) run(ctx context.Context) {
	next := newPrepared(a.cfg.MaxBatch)
	var fl *flight // the atomic batch in flight
	for {
		if fl == nil {
			if len(next.batch) == 0 {
				select {
				case p := <-a.queue:
					a.take(next, p, nil)
				case <-ctx.Done():
					a.drain()
					return
				}
			}
			a.takeQueued(next, nil)
			pr := next
			next = newPrepared(a.cfg.MaxBatch)
			fl = a.start(ctx, pr)
			continue
		}
		if fl.sendErr != nil {
			fl, next = a.landed(ctx, fl, next, 0, fl.sendErr)
			continue
		}
		var queue <-chan *pendingEvent
		if len(next.batch) < a.cfg.MaxBatch {
			queue = a.queue
		}
		select {
		case p := <-queue:
			a.take(next, p, fl.inBatch)
		case m := <-a.acks:
			if a.lost() {
				continue
			}
			if lastSeq, ok, err := fl.answer(m); ok {
				fl, next = a.landed(ctx, fl, next, lastSeq, err)
			}
		case <-fl.timer.C:
			fl, next = a.landed(ctx, fl, next, 0, fl.noAnswer(a.cfg.Timeout))
		case <-ctx.Done():
			a.landed(ctx, fl, nil, 0, ctx.Err())
			for _, p := range next.batch {
				if p.res.Seq == 0 && p.res.Error == nil && p.firstOf == nil {
					p.res.Error = unavailable("not stored: the ledger is shutting down")
				}
			}
			a.finish(next.batch)
			a.drain()
			return
		}
	}
}

func (a *Appender) drain() {
	for {
		select {
		case p := <-a.queue:
			p.res.Error = unavailable("not stored: the ledger is shutting down")
			close(p.done)
		default:
			return
		}
	}
}

// finish answers every event of batch: its result is settled.
func (a *Appender) finish(batch []*pendingEvent) {
	a.resolveInBatchDuplicates(batch)
	for _, p := range batch {
		close(p.done)
	}
}

// prepared is a batch being taken from the queue and checked: its events, those to store,
// and those by source+id.
type prepared struct {
	batch   []*pendingEvent
	toStore []*pendingEvent
	inBatch map[string]*pendingEvent
}

func newPrepared(n int) *prepared {
	return &prepared{batch: make([]*pendingEvent, 0, n), inBatch: make(map[string]*pendingEvent, n)}
}

// flight is an atomic batch sent and not acknowledged yet.
type flight struct {
	*prepared
	id         string
	first      uint64 // the sequence its first event gets if it lands
	lastBefore uint64 // the stream's last sequence when it was checked and sent
	reply      string // the inbox subject its commit is answered on
	sendErr    error  // sending failed part way: nothing was committed
	timer      *time.Timer
	sentAt     time.Time // for compact_ingest_append_duration_seconds
}

// take adds p to pr and checks it, with the events of the batch in flight, if any, counted as
// stored.
func (a *Appender) take(pr *prepared, p *pendingEvent, inFlight map[string]*pendingEvent) {
	pr.batch = append(pr.batch, p)
	a.judge(pr, p, a.last, inFlight)
}

// takeQueued takes what is waiting in the queue into pr, up to MaxBatch, without waiting.
func (a *Appender) takeQueued(pr *prepared, inFlight map[string]*pendingEvent) {
	for len(pr.batch) < a.cfg.MaxBatch {
		select {
		case p := <-a.queue:
			a.take(pr, p, inFlight)
		default:
			return
		}
	}
}

// start appends a checked batch: an atomic batch is sent and returned in flight; fewer
// events than MinAtomicBatch (or none to store) are settled before start returns, nil.
func (a *Appender) start(ctx context.Context, pr *prepared) *flight {
	if len(pr.toStore) >= a.cfg.MinAtomicBatch {
		return a.send(pr)
	}
	if len(pr.toStore) > 0 {
		lastBefore, first := a.last, a.last+1
		lastSeq, err := a.publish(ctx, pr.toStore)
		if err == nil {
			a.stored(pr.toStore, first, lastSeq)
		} else {
			a.retry(ctx, pr.batch, lastBefore, err)
		}
	}
	a.finish(pr.batch)
	return nil
}

// landed settles the batch in flight with the outcome of its append (lastSeq, or err) and
// returns the batch now in flight and the one to prepare next. On success the next batch
// goes out before the index learns of the last one: the stream's loop waits for nothing
// else. next may be nil (shutting down): nothing more is sent.
func (a *Appender) landed(ctx context.Context, fl *flight, next *prepared, lastSeq uint64, err error) (*flight, *prepared) {
	fl.timer.Stop()
	a.cfg.Metrics.appendDone(fl.sentAt, err)
	if err != nil {
		a.retry(ctx, fl.batch, fl.lastBefore, err)
		a.finish(fl.batch)
		if next != nil {
			a.rejudge(next) // it was checked as if the failed batch had landed
		}
		return nil, next
	}
	a.last = lastSeq
	var nf *flight
	if next != nil {
		a.takeQueued(next, fl.inBatch)
		if len(next.toStore) >= a.cfg.MinAtomicBatch {
			nf, next = a.send(next), newPrepared(a.cfg.MaxBatch)
		}
	}
	a.stored(fl.toStore, fl.first, lastSeq)
	a.finish(fl.batch)
	return nf, next
}

// rejudge checks every event of pr again from the start.
func (a *Appender) rejudge(pr *prepared) {
	pr.toStore = pr.toStore[:0]
	clear(pr.inBatch)
	for _, p := range pr.batch {
		p.res, p.firstOf = Result{ID: p.c.Event.ID}, nil
	}
	for _, p := range pr.batch {
		a.judge(pr, p, a.last, nil)
	}
}

// stored records a successful append of ps at sequences first..last.
func (a *Appender) stored(ps []*pendingEvent, first, last uint64) {
	if want := first + uint64(len(ps)) - 1; last != want {
		// The stream did not assign what the conditional append promised; the index
		// cannot trust its own arithmetic, so it relearns from the stream.
		a.cfg.Logger.Error("append acknowledged at an unexpected sequence; re-reading the stream", "want", want, "got", last)
	}
	b := a.cfg.Index.newBatch()
	for i, p := range ps {
		p.res.Seq = first + uint64(i)
		b.add(p.c.Event.Source, p.c.Event.ID, p.res.Seq, p.c.Event.Type)
		if target := retractionTarget(p.c.Event); target != "" {
			b.retracted(p.c.Event.Source, target, p.res.Seq)
		}
	}
	if err := b.commit(last); err != nil {
		a.cfg.Logger.Error("dedup index write failed; it will catch up from the stream", "err", err)
	}
	a.last = last
	if a.cfg.Metrics != nil {
		a.cfg.Metrics.appended(ps)
	}
}
