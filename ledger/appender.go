package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
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

// JetStream API error codes the Appender reacts to.
const (
	errCodeWrongLastSeq         = 10071
	errCodeWrongLastSeqConstant = 10164
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

// retry learns from the stream what became of a failed append of batch and stores what
// is still missing, judging the events again each time. lastBefore is the stream's last
// sequence the batch was first checked against; err is why the append failed.
func (a *Appender) retry(ctx context.Context, batch []*pendingEvent, lastBefore uint64, err error) {
	// A refusal for another writer's append is definite and cheap to retry: it is retried
	// for Timeout (not counting the catch-ups), after a growing random pause so that two
	// busy writers do not keep colliding. Any other failure counts towards maxFailures.
	const maxFailures = 5
	deadline := time.Now().Add(a.cfg.Timeout)
	uncertain := false // an earlier attempt may have stored the batch without our knowing
	failures := 0
	// What the catch-ups find after lastBefore that another writer appended (check).
	a.others, a.othersAfter = map[uint64]bool{}, lastBefore
	defer func() { a.others = nil }()
	for attempt := 1; ; attempt++ {
		var apiErr *jetstream.APIError
		conflict := errors.As(err, &apiErr) && (apiErr.ErrorCode == errCodeWrongLastSeq || apiErr.ErrorCode == errCodeWrongLastSeqConstant)
		if !conflict {
			failures++
			a.cfg.Logger.Warn("append failed; reading the stream to learn the outcome", "events", len(batch), "err", err)
		}
		// Someone else wrote, or we do not know whether our batch landed: either way the
		// stream is the truth. Catch up, then judge the same events again.
		var atLeast uint64
		if conflict {
			// The stream holds more than we knew (the refused append expected a.last):
			// wait for a view that shows it.
			atLeast = max(a.last+1, conflictSeq(apiErr))
		}
		caughtUp := time.Now()
		cerr := a.catchUp(ctx, atLeast)
		// Reading what the others wrote is not contention: a long catch-up (after a
		// bulk load straight into the stream, say) does not use up the deadline.
		deadline = deadline.Add(time.Since(caughtUp))
		if conflict && !uncertain {
			// A refused conditional append stored nothing: whatever the catch-up found
			// was written by someone else, and a match is a true duplicate.
			lastBefore = a.last
		}
		uncertain = uncertain || !conflict
		if cerr != nil || failures == maxFailures || time.Now().After(deadline) {
			reason := err
			if cerr != nil {
				reason = cerr
			}
			for _, p := range batch {
				if p.res.Seq != 0 || p.res.Error != nil || p.firstOf != nil {
					continue // known: stored, refused, or answered with the event it repeats
				}
				if uncertain || cerr != nil {
					p.res.Error = unavailable("outcome unknown (%v): re-send the same event, it is stored once", reason)
				} else {
					p.res.Error = unavailable("not stored: other writers kept appending to the stream for %v (%v); re-send it", a.cfg.Timeout, reason)
				}
			}
			return
		}
		if conflict && attempt > 1 {
			pause := time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond)))
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
		}
		toStore := a.check(batch, lastBefore)
		if len(toStore) == 0 {
			return
		}
		first := a.last + 1
		var lastSeq uint64
		if lastSeq, err = a.publish(ctx, toStore); err == nil {
			a.stored(toStore, first, lastSeq)
			return
		}
	}
}

// check fills the results of events already in the ledger, of events that break a
// reference rule, and returns the events to store. lastBefore is the stream's last
// sequence when the batch was taken: an event found in the index above it was stored by
// this very batch in an attempt whose acknowledgement was lost, and is no duplicate,
// unless the stored message names another writer (a.others): then that writer stored it
// while this one did not know.
func (a *Appender) check(batch []*pendingEvent, lastBefore uint64) []*pendingEvent {
	pr := &prepared{inBatch: make(map[string]*pendingEvent, len(batch))}
	for _, p := range batch {
		a.judge(pr, p, lastBefore, nil)
		if p.res.Seq > lastBefore && a.others[p.res.Seq] {
			p.res.Duplicate = true
		}
	}
	return pr.toStore
}

// wrote reports whether this Appender appended the stream message with headers h: its batch
// id, or its writer header, names this writer.
func (a *Appender) wrote(h nats.Header) bool {
	if id := h.Get(hdrBatchID); id != "" {
		return strings.HasPrefix(id, a.writer+"-")
	}
	return h.Get(hdrWriter) == a.writer
}

// lost reports whether an acknowledgement is to be ignored (loseAcks, tests only).
func (a *Appender) lost() bool {
	for {
		n := a.loseAcks.Load()
		if n <= 0 {
			return false
		}
		if a.loseAcks.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// judge checks one event as check does, p coming after the events of pr; the events of
// inFlight (a batch sent and not acknowledged yet) count as stored.
func (a *Appender) judge(pr *prepared, p *pendingEvent, lastBefore uint64, inFlight map[string]*pendingEvent) {
	if p.res.Error != nil || p.res.Seq != 0 {
		return
	}
	ev := p.c.Event
	key := ev.Source + "\x00" + ev.ID
	if first, ok := inFlight[key]; ok {
		p.res.Duplicate = true
		p.dupOf(first)
		return
	}
	if e, ok, err := a.cfg.Index.Lookup(ev.Source, ev.ID); err != nil {
		p.res.Error = unavailable("not stored: dedup index: %v", err)
		return
	} else if ok {
		p.res.Seq, p.res.Duplicate = e.Seq, e.Seq <= lastBefore
		return
	}
	if first, ok := pr.inBatch[key]; ok {
		p.res.Duplicate = true
		p.res.Error = nil
		p.dupOf(first)
		return
	}
	if fe := a.checkReferences(ev, p.c.Role, pr.inBatch, inFlight); fe != nil {
		p.res.Error = fe
		return
	}
	pr.inBatch[key] = p
	if target := retractionTarget(ev); target != "" {
		pr.inBatch[retractionKey(ev.Source, target)] = p
	}
	pr.toStore = append(pr.toStore, p)
}

const typeRetracted = "compact.event.retracted"

// retractionTarget is the id a retraction retracts; "" for any other event.
func retractionTarget(ev *Event) string {
	if ev.Type != typeRetracted {
		return ""
	}
	var r struct {
		Retracts string `json:"retracts"`
	}
	if json.Unmarshal(ev.Data, &r) != nil {
		return ""
	}
	return r.Retracts
}

// retractionKey is where a batch notes, beside its events by source+id, the retraction of
// source+id it holds (sources start with '/', so the two never meet).
func retractionKey(source, id string) string { return "r\x00" + source + "\x00" + id }

// dupOf marks p as a duplicate of an event earlier in the same batch; its result is
// filled from that event's once it is settled.
func (p *pendingEvent) dupOf(first *pendingEvent) { p.res.Seq = 0; p.firstOf = first }

func (a *Appender) resolveInBatchDuplicates(batch []*pendingEvent) {
	for _, p := range batch {
		if p.firstOf != nil {
			p.res.Seq, p.res.Error = p.firstOf.res.Seq, p.firstOf.res.Error
			p.res.Duplicate = p.res.Error == nil
			p.firstOf = nil
		}
	}
}

// references is what lifecycle and editorial events point at.
type references struct {
	Corrects string          `json:"corrects"`
	Retracts string          `json:"retracts"`
	Data     json.RawMessage `json:"data"`
	Item     *struct {
		Source string `json:"source"`
		ID     string `json:"id"`
	} `json:"item"`
}

// lifecycleTypes may not be corrected or retracted themselves. A curation (an editorial
// decision) may: the review view applies a corrected curation, and takes a retracted one's
// decision back (README, Contract changes).
var lifecycleTypes = map[string]bool{
	"compact.event.corrected": true,
	"compact.event.retracted": true,
}

// activityTypes are the types whose events are items of the review, the only ones a
// curation may place or omit.
var activityTypes = map[string]bool{
	"compact.meeting.held": true, "compact.training.delivered": true, "compact.visit.conducted": true,
	"compact.agreement.signed": true, "compact.assistance.provided": true,
	"compact.publication.released": true, "compact.statement.made": true, "compact.announcement.made": true,
}

// checkReferences checks that a correction, retraction or curation points at an event
// the ledger holds (or that comes earlier in the same batch), and that a correction's
// replacement data is valid for the original's type.
func (a *Appender) checkReferences(ev *Event, role Role, inBatch, inFlight map[string]*pendingEvent) *FieldError {
	switch ev.Type {
	case "compact.event.corrected", "compact.event.retracted", "compact.review.curated":
	default:
		return nil
	}
	var r references
	if err := json.Unmarshal(ev.Data, &r); err != nil {
		return invalid("/data", "%v", err)
	}
	source, id, field := ev.Source, r.Corrects, "/data/corrects"
	switch ev.Type {
	case "compact.event.retracted":
		id, field = r.Retracts, "/data/retracts"
	case "compact.review.curated":
		if r.Item == nil {
			return invalid("/data/item", "required")
		}
		source, id, field = r.Item.Source, r.Item.ID, "/data/item"
	}
	typ, ok, err := a.lookupType(source, id, inBatch, inFlight)
	if err != nil {
		return unavailable("not stored: dedup index: %v", err)
	}
	if !ok {
		return invalid(field, "no event %q from %s in the ledger (only an event already stored, or earlier in the same request, can be referred to)", id, source)
	}
	if ev.Type == "compact.review.curated" {
		if !activityTypes[typ] {
			return invalid(field, "%q is a %s event: only activities are items of a review", id, typ)
		}
		return a.notRetractedItem(field, source, id, inBatch, inFlight)
	}
	if lifecycleTypes[typ] {
		return invalid(field, "%q is a %s event: only an activity, a counter event or a curation can be corrected or retracted", id, typ)
	}
	if secretariatTypes[typ] && role != RoleSecretariat {
		// As publishing one: an entity that was the Secretariat and is no longer keeps
		// its events' source, not the right to rewrite its opening balances or curations.
		return forbidden(field, "%q is a %s event: only the Secretariat may correct or retract it", id, typ)
	}
	// The views never apply a correction of a retracted event, nor a second retraction:
	// refused here, neither enters the ledger to be acknowledged and then ignored.
	retracted, err := a.retracted(source, id, inBatch, inFlight)
	if err != nil {
		return unavailable("not stored: dedup index: %v", err)
	}
	if retracted && ev.Type == "compact.event.retracted" {
		return invalid(field, "%q was retracted already: a retracted event stays retracted, and a second retraction would change nothing", id)
	}
	if ev.Type == "compact.event.corrected" {
		if retracted {
			return invalid(field, "%q was retracted: a retracted event stays retracted; publish a new event instead", id)
		}
		if err := a.cfg.Validator.Validate(typ, r.Data); err != nil {
			fe := dataError(err)
			fe.Field = "/data/data" + fe.Field[len("/data"):]
			fe.Message = fmt.Sprintf("%s (the replacement must be valid %s data)", fe.Message, typ)
			return fe
		}
		if typ == "compact.review.curated" {
			// the replacement curation's item, as a curation's own
			var c references
			if err := json.Unmarshal(r.Data, &c); err != nil || c.Item == nil {
				return invalid("/data/data/item", "required")
			}
			itemTyp, ok, err := a.lookupType(c.Item.Source, c.Item.ID, inBatch, inFlight)
			switch {
			case err != nil:
				return unavailable("not stored: dedup index: %v", err)
			case !ok:
				return invalid("/data/data/item", "no event %q from %s in the ledger (only an event already stored, or earlier in the same request, can be referred to)", c.Item.ID, c.Item.Source)
			case !activityTypes[itemTyp]:
				return invalid("/data/data/item", "%q is a %s event: only activities are items of a review", c.Item.ID, itemTyp)
			}
			return a.notRetractedItem("/data/data/item", c.Item.Source, c.Item.ID, inBatch, inFlight)
		}
	}
	return nil
}

// retracted reports whether a retraction of source+id is stored, or comes earlier in the
// batch or in the batch in flight.
func (a *Appender) retracted(source, id string, inBatch, inFlight map[string]*pendingEvent) (bool, error) {
	if _, ok := inBatch[retractionKey(source, id)]; ok {
		return true, nil
	}
	if _, ok := inFlight[retractionKey(source, id)]; ok {
		return true, nil
	}
	_, ok, err := a.cfg.Index.Retracted(source, id)
	return ok, err
}

// notRetractedItem refuses a curation whose item is retracted: a retracted activity is in no
// review, so the curation would be stored and change nothing.
func (a *Appender) notRetractedItem(field, source, id string, inBatch, inFlight map[string]*pendingEvent) *FieldError {
	retracted, err := a.retracted(source, id, inBatch, inFlight)
	if err != nil {
		return unavailable("not stored: dedup index: %v", err)
	}
	if retracted {
		return invalid(field, "%q was retracted: a retracted activity is in no review, and a curation of it would change nothing", id)
	}
	return nil
}

func (a *Appender) lookupType(source, id string, inBatch, inFlight map[string]*pendingEvent) (string, bool, error) {
	if p, ok := inBatch[source+"\x00"+id]; ok {
		return p.c.Event.Type, true, nil
	}
	if p, ok := inFlight[source+"\x00"+id]; ok {
		return p.c.Event.Type, true, nil
	}
	e, ok, err := a.cfg.Index.Lookup(source, id)
	return e.Type, ok, err
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

// publish appends ps at the end of the stream, conditional on the stream's last sequence
// being a.last, and returns the sequence of the last one. A few events go as pipelined
// conditional publishes; more as one atomic batch: JetStream stores all or none, with one
// fsync for all of them under SyncAlways.
func (a *Appender) publish(ctx context.Context, ps []*pendingEvent) (lastSeq uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	defer func(start time.Time) { a.cfg.Metrics.appendDone(start, err) }(time.Now())
	if len(ps) < a.cfg.MinAtomicBatch {
		return a.publishPipelined(ctx, ps)
	}
	fl := a.send(&prepared{toStore: ps})
	defer fl.timer.Stop()
	if fl.sendErr != nil {
		return 0, fl.sendErr
	}
	for {
		select {
		case m := <-a.acks:
			if a.lost() {
				continue
			}
			if lastSeq, ok, err := fl.answer(m); ok {
				return lastSeq, err
			}
		case <-fl.timer.C:
			return 0, fl.noAnswer(a.cfg.Timeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// send sends pr as one atomic batch conditional on the stream's last sequence being a.last,
// without waiting: the acknowledgement comes on a.acks (flight.answer).
func (a *Appender) send(pr *prepared) *flight {
	fl := &flight{prepared: pr, id: a.nextID(), first: a.last + 1, lastBefore: a.last, timer: time.NewTimer(a.cfg.Timeout), sentAt: time.Now()}
	fl.reply = a.inbox + "." + fl.id
	// One message and one header, rewritten for each event: PublishMsg encodes them into the
	// connection's buffer before it returns. The header names are canonical already: a
	// literal saves canonicalizing them on every message of every batch.
	seq := []string{""}
	m := &nats.Msg{Header: nats.Header{
		hdrBatchID:      {fl.id},
		hdrBatchSeq:     seq,
		hdrExpectedLast: {strconv.FormatUint(a.last, 10)},
	}}
	for i, p := range pr.toStore {
		m.Subject, m.Data = p.c.Event.Subject(), p.c.Body
		seq[0] = batchSeqText(i + 1)
		if i == 1 {
			delete(m.Header, hdrExpectedLast) // the first message carries the condition
		}
		if i == len(pr.toStore)-1 {
			m.Header[hdrBatchCommit] = []string{"1"}
			m.Reply = fl.reply
		}
		if err := a.cfg.Conn.PublishMsg(m); err != nil {
			// never committed: the server drops the partial batch when it times out
			fl.sendErr = fmt.Errorf("%w: %v", errUncertain, err)
			break
		}
	}
	return fl
}

// nextID returns an id for a batch or a message that names this writer and was never
// given before.
func (a *Appender) nextID() string {
	a.ids++
	return a.writer + "-" + strconv.FormatUint(a.ids, 36)
}

// batchSeqTexts holds the Nats-Batch-Sequence values of a batch, written once.
var batchSeqTexts = func() []string {
	t := make([]string, 1001)
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func batchSeqText(i int) string {
	if i < len(batchSeqTexts) {
		return batchSeqTexts[i]
	}
	return strconv.Itoa(i)
}

// answer reads m if it answers fl's commit (ok): the server's PubAck, or a "no responders"
// status when no stream listens on the subjects. Any other message on the inbox is the late
// answer to a batch given up on, settled from the stream since.
func (fl *flight) answer(m *nats.Msg) (lastSeq uint64, ok bool, err error) {
	if m.Subject != fl.reply {
		return 0, false, nil
	}
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return 0, true, nats.ErrNoResponders
	}
	lastSeq, err = parsePubAck(m.Data)
	return lastSeq, true, err
}

func (fl *flight) noAnswer(after time.Duration) error {
	return fmt.Errorf("no acknowledgement of the atomic batch in %v: %w", after, context.DeadlineExceeded)
}

type pubAckResponse struct {
	Seq   uint64              `json:"seq"`
	Error *jetstream.APIError `json:"error"`
}

func parsePubAck(b []byte) (uint64, error) {
	var r pubAckResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("unexpected JetStream reply %q: %w", b, err)
	}
	if r.Error != nil {
		return 0, r.Error
	}
	if r.Seq == 0 {
		return 0, fmt.Errorf("unexpected JetStream reply %q", b)
	}
	return r.Seq, nil
}

// errUncertain says an append ended without telling which events landed: the stream
// will tell.
var errUncertain = errors.New("append outcome unknown")

// publishPipelined sends each event as its own conditional publish, all in flight at once,
// each expecting the sequence of the one before it and that the one before it is the last
// message stored (see Appender). Events acknowledged get their sequence at once: they are
// ours whatever happens to the rest. A refusal of the rest is returned as the server's
// error (a conflict), anything less definite as errUncertain.
func (a *Appender) publishPipelined(ctx context.Context, ps []*pendingEvent) (uint64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(ps))
	var sendErr error
	prevID := ""
	for i, p := range ps {
		m := nats.NewMsg(p.c.Event.Subject())
		m.Data = p.c.Body
		m.Header[hdrWriter] = []string{a.writer}
		opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequence(a.last + uint64(i))}
		if prevID != "" {
			opts = append(opts, jetstream.WithExpectLastMsgID(prevID))
		}
		// Only an event that another follows needs an id: the last of a group, and so a
		// lone event, costs the server no entry in its duplicate window.
		prevID = ""
		if i < len(ps)-1 {
			prevID = a.nextID()
			opts = append(opts, jetstream.WithMsgID(prevID))
		}
		f, err := a.js.PublishMsgAsync(m, opts...)
		if err != nil {
			sendErr = err
			break
		}
		futures = append(futures, f)
	}
	var (
		last      uint64
		refused   error // a definite refusal: that event did not land
		uncertain error // no answer: that event may have landed
	)
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			// Acknowledged: it landed at ack.Sequence, whatever happened to the others.
			ps[i].res.Seq, last = ack.Sequence, ack.Sequence
		case err := <-f.Err():
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) {
				refused = cmp.Or(refused, err)
			} else {
				uncertain = cmp.Or(uncertain, err)
			}
		case <-ctx.Done():
			uncertain = ctx.Err()
		}
	}
	uncertain = cmp.Or(uncertain, sendErr)
	switch {
	case uncertain != nil:
		return 0, fmt.Errorf("%w: %v", errUncertain, uncertain)
	case refused != nil:
		return 0, refused
	}
	for _, p := range ps {
		p.res.Seq = 0 // stored() assigns them with the index entries
	}
	return last, nil
}

// conflictSeq is the stream's last sequence as a refused conditional append reports it
// ("wrong last sequence: 96"), 0 when it does not say.
func conflictSeq(e *jetstream.APIError) uint64 {
	if e == nil || e.ErrorCode != errCodeWrongLastSeq {
		return 0
	}
	_, n, _ := strings.Cut(e.Description, ": ")
	seq, _ := strconv.ParseUint(n, 10, 64)
	return seq
}

// catchUp folds every message after a.last into the index, up to at least atLeast.
//
// On a cluster, a replica that is a step behind may answer the stream info while the stream
// elects a leader or takes on a new member; a conditional append refused with "wrong last
// sequence: N" says how far the stream really goes, and catchUp waits for a view that far.
func (a *Appender) catchUp(ctx context.Context, atLeast uint64) error {
	// 5×Timeout bounds learning where the stream ends; the fold itself takes as long as
	// the stream is long (a bulk load of a million events straight into the stream), as
	// long as messages keep coming.
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, 5*a.cfg.Timeout)
	defer cancel()
	var (
		stream jetstream.Stream
		end    uint64
	)
	for {
		s, info, err := a.streamInfo(ctx)
		if err != nil {
			return fmt.Errorf("dedup index catch-up: %w", err)
		}
		stream, end = s, info.State.LastSeq
		if end < a.last {
			return fmt.Errorf("the stream ends at %d but the dedup index has seen %d: the stream was replaced or truncated; refusing to append (run compact verify)", end, a.last)
		}
		if end >= atLeast {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dedup index catch-up: the stream reports last sequence %d, the append was refused for one past %d: %w", end, atLeast-1, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if end == a.last {
		return nil
	}
	n, err := a.foldRange(parent, stream, a.last+1, end)
	if err != nil {
		return fmt.Errorf("dedup index catch-up: %w", err)
	}
	a.cfg.Logger.Info("dedup index caught up with the stream", "events", n, "last_seq", end)
	return nil
}

// streamInfo asks for the stream's state (see askAgain).
func (a *Appender) streamInfo(ctx context.Context) (stream jetstream.Stream, info *jetstream.StreamInfo, err error) {
	err = askAgain(ctx, 2*time.Second, func(ctx context.Context) error {
		if stream, err = a.js.Stream(ctx, StreamName); err != nil {
			return err
		}
		info, err = stream.Info(ctx)
		return err
	})
	return stream, info, err
}

// foldWaitMin is the least a catch-up waits for a message: the first comes only once the
// ordered consumer exists and its first pull is answered, which a Timeout meant for one
// append (a test's 100 ms, say) does not always cover on a busy machine.
const foldWaitMin = time.Second

// foldRange folds messages from..to into the index. No message may take longer than
// Timeout (at least foldWaitMin) to come, however long the whole fold takes.
func (a *Appender) foldRange(ctx context.Context, stream jetstream.Stream, from, to uint64) (int, error) {
	setup, cancel := context.WithTimeout(ctx, 5*a.cfg.Timeout)
	defer cancel()
	var cons jetstream.Consumer
	err := askAgain(setup, 2*time.Second, func(ctx context.Context) (err error) {
		cons, err = stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   from,
		})
		return err
	})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	var head struct {
		ID     string `json:"id"`
		Source string `json:"source"`
		Type   string `json:"type"`
		Data   struct {
			Retracts string `json:"retracts"`
		} `json:"data"`
	}
	n := 0
	b := a.cfg.Index.newBatch()
	flush := func(last uint64) error {
		err := b.commit(last)
		a.last = last
		b = a.cfg.Index.newBatch()
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			b.b.Close()
			return n, err
		}
		msg, err := it.Next(jetstream.NextMaxWait(max(a.cfg.Timeout, foldWaitMin)))
		if err != nil {
			b.b.Close()
			return n, err
		}
		md, err := msg.Metadata()
		if err != nil {
			b.b.Close()
			return n, err
		}
		head.ID, head.Source, head.Type, head.Data.Retracts = "", "", "", ""
		if err := json.Unmarshal(msg.Data(), &head); err != nil {
			b.b.Close()
			return n, fmt.Errorf("stream message %d is not an event: %w", md.Sequence.Stream, err)
		}
		b.add(head.Source, head.ID, md.Sequence.Stream, head.Type)
		if head.Type == typeRetracted && head.Data.Retracts != "" {
			b.retracted(head.Source, head.Data.Retracts, md.Sequence.Stream)
		}
		if a.others != nil && md.Sequence.Stream > a.othersAfter && !a.wrote(msg.Headers()) {
			a.others[md.Sequence.Stream] = true
		}
		n++
		if md.Sequence.Stream >= to {
			return n, flush(md.Sequence.Stream)
		}
		if n%10000 == 0 {
			if err := flush(md.Sequence.Stream); err != nil {
				return n, err
			}
		}
	}
}
