package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
)

type followMode int32

const (
	modeLive     followMode = iota // the generation queries read: publishes the change feed
	modeBuilding                   // a rebuild: swaps itself in when it has caught up
	modeOnce                       // a build as known: stops at its end
)

// idleWait is how long a group waits for a first event before it looks around (a rebuild
// checks whether it has caught up, a build as known whether it is done).
const idleWait = 200 * time.Millisecond

// readAhead is how many chunks of decoded messages the reader of a group keeps ready while
// the members apply the current batch, and chunkMax how many messages a chunk holds.
const (
	readAhead = 16
	chunkMax  = 256
)

// A group reads the stream once for several generations (its members, one per view): one
// ordered consumer from the lowest checkpoint + 1 and one decoding of each message, handed to
// every member. Each member keeps its own checkpoint, skips what it applied already and
// commits its own batch, so the members of a group are as independent as if each read alone:
// a rebuild of one view runs in a group of its own beside the live group of all three.
//
// The group's goroutine collects batches and has the members apply them, in parallel; a
// second goroutine, owned by follow, reads and decodes ahead.
type group struct {
	v    *Views
	kind string // for logs: "live", "rebuild" or "as known"

	// build as known: the stream's last sequence when it started, and the time it stops at
	once   bool
	endSeq uint64
	until  time.Time

	mu      sync.Mutex
	members []*follower
	leaving []*follower // asked to leave; removed between batches
	wake    chan struct{}

	cancel context.CancelFunc
	done   chan struct{}

	// the goroutine's own: messages read but not applied yet (a batch ends at its bounds), the
	// reader's end (build as known) and error
	carry   []item
	ended   bool
	readErr error
	buf     []item // the room of the last batch, for the next
}

// follower is one member of a group: one generation of one view. Only the group's goroutine
// touches its unexported non-atomic fields.
type follower struct {
	v    *Views
	g    *group
	proj Projection
	view string
	gen  uint64
	base []byte

	mode   atomic.Int32
	ck     atomic.Uint64 // last committed sequence
	qcount atomic.Uint64
	errMsg atomic.Pointer[string]
	gone   chan struct{} // closed when it left its group or the group ended

	memo *memo // nil until the group's follow loads it
	tx   *Tx   // kept from batch to batch for its memory (batchTx)

	reconciled bool // modeLive: the change feed's bucket was brought up to the view (feed.reconcile)

	job         *rebuildJob // modeBuilding
	liveStopped bool        // modeBuilding: the old generation's follower was stopped
	target      uint64      // modeBuilding: swap once ck reaches it
}

// item is one stream message as the group's reader decoded it for every member.
type item struct {
	seq     uint64
	pending uint64
	size    int
	subject string
	ts      time.Time
	ev      *Event // nil when err is set
	err     error  // the envelope cannot be decoded: every view quarantines it
	prior   bool   // an earlier event of the stream had this source+id: a duplicate
}

// chunk is what the reader hands the group: messages, or the end of a build as known, or the
// error that stopped it.
type chunk struct {
	items []item
	end   bool
	err   error
}

func (f *follower) setErr(err error) {
	if err == nil {
		f.errMsg.Store(nil)
		return
	}
	s := err.Error()
	f.errMsg.Store(&s)
}

func (f *follower) lastErr() string {
	if p := f.errMsg.Load(); p != nil {
		return *p
	}
	return ""
}

// running reports whether the follower is still following the ledger.
func (f *follower) running() bool {
	select {
	case <-f.gone:
		return false
	default:
		return true
	}
}

// stop takes the follower out of its group and waits until the group no longer applies to it.
func (f *follower) stop() {
	g := f.g
	g.mu.Lock()
	select {
	case <-f.gone:
		g.mu.Unlock()
		return
	default:
	}
	g.leaving = append(g.leaving, f)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	select {
	case <-f.gone:
	case <-g.done:
	}
}

func (g *group) snapshot() []*follower {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*follower(nil), g.members...)
}

// removeLeaving takes out the members asked to leave; it runs between batches.
func (g *group) removeLeaving() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.leaving {
		for i, m := range g.members {
			if m == f {
				g.members = append(g.members[:i:i], g.members[i+1:]...)
				close(f.gone)
				break
			}
		}
	}
	g.leaving = nil
}

func (g *group) run(ctx context.Context) {
	defer close(g.done)
	defer func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, f := range g.members {
			close(f.gone)
			// a rebuild that ends without swapping in tells whoever waits for it
			if f.job != nil && followMode(f.mode.Load()) == modeBuilding {
				f.job.err = fmt.Errorf("rebuild of view %s (generation %d) stopped at seq %d before it caught up: %w; "+
					"it resumes at the next start", f.view, f.gen, f.ck.Load(), ErrClosed)
				close(f.job.done)
			}
		}
		g.members = nil
	}()
	backoff := 100 * time.Millisecond
	for {
		err := g.follow(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		var me *memberError
		if errors.As(err, &me) {
			me.f.setErr(err)
		} else {
			for _, f := range g.snapshot() {
				f.setErr(err)
			}
		}
		var abort *hookAbort
		if errors.As(err, &abort) {
			return
		}
		g.v.log.Error("views: following the ledger failed; retrying", "group", g.kind, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// memberError says which member an error of the group came from.
type memberError struct {
	f   *follower
	err error
}

func (e *memberError) Error() string { return e.err.Error() }
func (e *memberError) Unwrap() error { return e.err }

// follow reads the stream from the lowest checkpoint of the members + 1 until ctx ends, an
// error occurs, the group has no member left or (build as known) the end is reached.
func (g *group) follow(ctx context.Context) error {
	g.removeLeaving()
	g.carry, g.ended, g.readErr = nil, false, nil
	members := g.snapshot()
	if len(members) == 0 {
		return nil
	}
	from := uint64(0)
	for i, f := range members {
		ck, err := g.v.storedU64(g.v.db, sub(f.base, subCheckpoint))
		if err != nil {
			return &memberError{f, err}
		}
		qc, err := g.v.storedU64(g.v.db, sub(f.base, subQCount))
		if err != nil {
			return &memberError{f, err}
		}
		f.ck.Store(ck)
		f.qcount.Store(qc)
		// what the memo held may not have committed: start it again from the stored keys
		f.memo = newMemo(ck == 0 && qc == 0)
		g.v.m.observeCheckpoint(f, ck)
		if i == 0 || ck < from {
			from = ck
		}
	}
	// the reader indexes what it reads; it starts early enough to leave no hole in the index
	// (a store written before the index existed starts it from the beginning)
	g.v.index.mu.Lock()
	from = min(from, g.v.index.ck)
	g.v.index.mu.Unlock()
	if done, err := g.between(ctx); done || err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from+1
	}
	cons, err := g.v.cfg.JS.OrderedConsumer(ctx, g.v.cfg.Stream, cfg)
	if err != nil {
		return fmt.Errorf("ordered consumer on %s from seq %d: %w", g.v.cfg.Stream, from+1, err)
	}
	rctx, stopReader := context.WithCancel(ctx)
	in := make(chan chunk, readAhead)
	var fs *firsts
	if from == 0 {
		fs = newFirsts()
	}
	r := g.newReader(rctx, in, fs)
	cc, err := cons.Consume(r.msg, jetstream.PullMaxMessages(pullMessages), jetstream.ConsumeErrHandler(r.consumeErr))
	if err != nil {
		stopReader()
		ledger.DropConsumer(g.v.cfg.JS, g.v.cfg.Stream, cons)
		return fmt.Errorf("read %s from seq %d: %w", g.v.cfg.Stream, from+1, err)
	}
	defer func() {
		stopReader() // a handler waiting to hand a chunk over returns
		cc.Stop()
		<-cc.Closed()
		r.stop()
		// not left on the server for its five minutes: a build as known makes one a request
		ledger.DropConsumer(g.v.cfg.JS, g.v.cfg.Stream, cons)
	}()
	for _, f := range members {
		f.setErr(nil)
	}
	// After a start (or a swap) the bucket may miss what the last commit changed: a crash came
	// between the commit and its feed. Send it now rather than at the next change, which may
	// never come.
	if g.v.feed != nil {
		for _, f := range members {
			if !f.reconciled && followMode(f.mode.Load()) == modeLive {
				f.reconciled = true
				g.v.feed.reconcile(ctx, f)
			}
		}
	}
	for {
		if done, err := g.between(ctx); done || err != nil {
			return err
		}
		batch, err := g.collect(ctx, in)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			err := g.apply(ctx, batch)
			clear(batch) // the next batch reuses the room, not the events
			g.buf = batch[:0]
			if err != nil {
				return err
			}
		}
	}
}

// between runs between batches: members asked to leave go, a build as known says whether it
// is done, a rebuild whether it can swap itself in.
func (g *group) between(ctx context.Context) (done bool, err error) {
	g.removeLeaving()
	members := g.snapshot()
	if len(members) == 0 {
		return true, nil
	}
	if g.once {
		if g.ended && len(g.carry) == 0 {
			return true, nil
		}
		all := true
		for _, f := range members {
			all = all && f.ck.Load() >= g.endSeq
		}
		return all, nil
	}
	for _, f := range members {
		switch followMode(f.mode.Load()) {
		case modeBuilding:
			if err := g.v.maybeSwap(ctx, f); err != nil {
				return false, &memberError{f, err}
			}
		case modeLive:
			if g.v.feed != nil {
				g.v.feed.retry(ctx, f)
			}
		}
	}
	return false, nil
}

// collect gathers a batch: it waits up to idleWait for a first message, then takes messages
// until BatchMaxCount or BatchMaxBytes. While the stream has more pending (catching up) it
// fills the batch; at the head of the stream it waits at most BatchMaxWait after the first.
func (g *group) collect(ctx context.Context, in <-chan chunk) ([]item, error) {
	cfg := &g.v.cfg
	batch := append(g.buf[:0], g.carry...)
	g.carry = nil
	take := func(c chunk) {
		batch = append(batch, c.items...)
		g.ended = g.ended || c.end
		if c.err != nil {
			g.readErr = c.err
		}
	}
	if len(batch) == 0 {
		if err := g.readErr; err != nil {
			g.readErr = nil
			return nil, err
		}
		if g.ended {
			return nil, nil
		}
		t := time.NewTimer(idleWait)
		select {
		case c := <-in:
			take(c)
		case <-t.C:
		case <-g.wake:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
	}
	size := 0
	for _, it := range batch {
		size += it.size
	}
	var deadline *time.Timer
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	for len(batch) > 0 && len(batch) < cfg.BatchMaxCount && size < cfg.BatchMaxBytes && !g.ended && g.readErr == nil {
		var timeout <-chan time.Time
		if batch[len(batch)-1].pending == 0 {
			if deadline == nil {
				deadline = time.NewTimer(cfg.BatchMaxWait)
			}
			timeout = deadline.C
		}
		n := len(batch)
		select {
		case c := <-in:
			take(c)
		case <-timeout:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if len(batch) == n && g.readErr == nil && !g.ended {
			break // waited long enough
		}
		for _, it := range batch[n:] {
			size += it.size
		}
	}
	if len(batch) > cfg.BatchMaxCount {
		g.carry = append([]item(nil), batch[cfg.BatchMaxCount:]...)
		batch = batch[:cfg.BatchMaxCount]
	}
	if len(batch) == 0 && g.readErr != nil {
		err := g.readErr
		g.readErr = nil
		return nil, err
	}
	return batch, nil
}

// apply has every member apply the batch, each in its own goroutine, and waits for all.
func (g *group) apply(ctx context.Context, batch []item) error {
	members := g.snapshot()
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, f := range members[1:] {
		wg.Go(func() { errs[i+1] = f.applyBatch(ctx, batch) })
	}
	errs[0] = members[0].applyBatch(ctx, batch)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			members[i].memo = nil
			var abort *hookAbort
			if errors.As(err, &abort) {
				return err
			}
			return &memberError{members[i], err}
		}
	}
	return nil
}

// applyBatch applies the messages the follower has not applied yet in one Pebble batch with
// its checkpoint, commits it with Sync and then sends the change feed. An event that cannot be
// applied is dropped with every write its Apply made (Tx.drop) and recorded in the quarantine
// in the same batch; the batch goes on. So a bad event never blocks the view and never leaves
// half its writes.
func (f *follower) applyBatch(ctx context.Context, batch []item) error {
	start := time.Now()
	last := f.ck.Load()
	if batch[len(batch)-1].seq <= last {
		return nil
	}
	tx := f.batchTx()
	tx.ctx = ctx
	var quarantined []*QuarantineEntry
	var pending uint64
	napplied, ndup := 0, 0
	for i := range batch {
		it := &batch[i]
		if it.seq <= last {
			continue // at or below the checkpoint: applied already
		}
		pending = it.pending
		ev, aerr := it.ev, it.err
		if aerr == nil {
			if it.prior {
				ndup++
				last = it.seq
				continue
			}
			tx.seq, tx.storeErr = it.seq, nil
			if aerr = safeApply(f.proj, tx, ev); aerr == nil {
				if err := tx.keep(); err != nil {
					return err
				}
				napplied++
			} else if serr := tx.storeErr; serr != nil {
				// the store failed under the event: tried again, never quarantined
				tx.drop()
				return fmt.Errorf("view %s: reading the store while applying seq %d: %w", f.view, it.seq, serr)
			} else {
				tx.drop()
			}
		}
		if aerr != nil {
			qe := f.quarantineEntry(it, aerr)
			if err := f.quarantine(tx, qe, uint64(len(quarantined))); err != nil {
				return err
			}
			quarantined = append(quarantined, qe)
		}
		last = it.seq
	}
	if last > f.ck.Load() {
		if err := f.commit(ctx, tx, last, pending, quarantined); err != nil {
			return err
		}
	}
	f.v.m.observeBatch(f, napplied, ndup, time.Since(start))
	return nil
}

func (f *follower) commit(ctx context.Context, tx *Tx, seq, pending uint64, qs []*QuarantineEntry) error {
	tx.batch.put(string(sub(f.base, subCheckpoint)), value{val: u64(seq)})
	b, err := tx.flush()
	if err != nil {
		return err
	}
	if err := f.hook("applied", seq); err != nil {
		tx.committed(err)
		return err
	}
	err = b.Commit(pebble.Sync)
	tx.committed(err)
	if err != nil {
		return fmt.Errorf("commit view %s at seq %d: %w", f.view, seq, err)
	}
	f.ck.Store(seq)
	f.qcount.Add(uint64(len(qs)))
	for _, qe := range qs {
		f.v.log.Warn("views: event quarantined", "view", f.view, "seq", qe.Seq, "type", qe.Type,
			"source", qe.Source, "id", qe.ID, "err", qe.Error)
	}
	f.v.m.observeCommit(f, seq, pending)
	if err := f.hook("committed", seq); err != nil {
		return err
	}
	if followMode(f.mode.Load()) == modeLive && f.v.feed != nil {
		f.v.feed.publish(ctx, f, tx.notes)
	}
	return nil
}

func (f *follower) hook(point string, seq uint64) error {
	if h := f.v.cfg.testHook; h != nil {
		if err := h(f.view, point, seq); errors.Is(err, errHookFailure) {
			return err // a failure the group retries, as a storage error would be
		} else if err != nil {
			return &hookAbort{point: point}
		}
	}
	return nil
}

// errHookFailure, returned by a test hook (wrapped or not), fails the batch as an error of
// the store would, where any other error aborts the follower as a crash would.
var errHookFailure = errors.New("test hook failure")

// decodeMsg turns a stream message into an Event; odd envelopes are errors (quarantined).
func decodeMsg(m jetstream.Msg, meta ackMeta) (*Event, error) {
	return decodeStored(m.Subject(), m.Data(), meta.seq, meta.ts)
}

// decodeStored turns a stored message (its subject, body, sequence and time) into an Event.
func decodeStored(subject string, data []byte, seq uint64, ts time.Time) (*Event, error) {
	ev := &Event{Seq: seq, LedgerTime: ts, Subject: subject}
	e := &ev.Event
	if err := decodeEnvelopeInto(data, e); err != nil {
		return nil, &DataError{Err: ErrInvalidData, Message: fmt.Sprintf("message body is not a CloudEvent: %v", err)}
	}
	switch {
	case e.ID == "":
		return nil, &DataError{Err: ErrInvalidData, Message: "envelope: id is empty"}
	case !strings.HasPrefix(e.Source, ledger.SourcePrefix) || e.Entity() == "":
		return nil, &DataError{Err: ErrInvalidData, Message: fmt.Sprintf("envelope: source %q is not /entities/<ENTITY>", e.Source)}
	case !strings.HasPrefix(e.Type, ledger.TypePrefix):
		return nil, &DataError{Err: ErrInvalidData, Message: fmt.Sprintf("envelope: type %q is not a compact. type", e.Type)}
	}
	return ev, nil
}
