package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// idleWait is how long a follower waits for a first event before it looks around (a rebuild
// checks whether it has caught up, a build as known whether it is done).
const idleWait = 200 * time.Millisecond

// follower is the goroutine that follows the ledger into one generation of one view. Only its
// own goroutine touches its unexported non-atomic fields.
type follower struct {
	v    *Views
	proj Projection
	view string
	gen  uint64
	base []byte

	mode   atomic.Int32
	ck     atomic.Uint64 // last committed sequence
	qcount atomic.Uint64
	errMsg atomic.Pointer[string]

	cancel context.CancelFunc
	done   chan struct{}

	job         *rebuildJob // modeBuilding
	liveStopped bool        // modeBuilding: the old generation's follower was stopped
	target      uint64      // modeBuilding: swap once ck reaches it

	endSeq     uint64 // modeOnce: the stream's last sequence when the build started
	reachedEnd bool   // modeOnce
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

// stop cancels the follower and waits for its goroutine.
func (f *follower) stop() {
	if f.cancel != nil {
		f.cancel()
	}
	<-f.done
}

func (f *follower) run(ctx context.Context) {
	defer close(f.done)
	defer func() {
		// a rebuild that ends without swapping in tells whoever waits for it
		if f.job != nil && followMode(f.mode.Load()) == modeBuilding {
			f.job.err = fmt.Errorf("rebuild of view %s (generation %d) stopped at seq %d before it caught up: %w; "+
				"it resumes at the next start", f.view, f.gen, f.ck.Load(), ErrClosed)
			close(f.job.done)
		}
	}()
	backoff := 100 * time.Millisecond
	for {
		err := f.follow(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		f.setErr(err)
		var abort *hookAbort
		if errors.As(err, &abort) {
			return
		}
		f.v.log.Error("views: following the ledger failed; retrying", "view", f.view, "generation", f.gen,
			"checkpoint", f.ck.Load(), "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// follow reads the stream with an ordered consumer from the checkpoint + 1 until ctx ends, an
// error occurs or (build as known) the end is reached.
func (f *follower) follow(ctx context.Context) error {
	ck, err := f.v.storedU64(f.v.db, sub(f.base, subCheckpoint))
	if err != nil {
		return err
	}
	qc, err := f.v.storedU64(f.v.db, sub(f.base, subQCount))
	if err != nil {
		return err
	}
	f.ck.Store(ck)
	f.qcount.Store(qc)
	f.v.m.observeCheckpoint(f, ck)
	if done, err := f.between(ctx); done || err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if ck > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, ck+1
	}
	cons, err := f.v.cfg.JS.OrderedConsumer(ctx, f.v.cfg.Stream, cfg)
	if err != nil {
		return fmt.Errorf("ordered consumer on %s from seq %d: %w", f.v.cfg.Stream, ck+1, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(min(max(f.v.cfg.BatchMaxCount, 100), 2000)))
	if err != nil {
		return fmt.Errorf("read %s from seq %d: %w", f.v.cfg.Stream, ck+1, err)
	}
	defer it.Stop()
	f.setErr(nil)
	for {
		if done, err := f.between(ctx); done || err != nil {
			return err
		}
		batch, err := f.collect(ctx, it)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := f.applyBatch(ctx, batch); err != nil {
				return err
			}
		}
	}
}

// between runs between batches: a build as known says whether it is done, a rebuild whether it
// can swap itself in.
func (f *follower) between(ctx context.Context) (done bool, err error) {
	switch followMode(f.mode.Load()) {
	case modeOnce:
		return f.reachedEnd || f.ck.Load() >= f.endSeq, nil
	case modeBuilding:
		return false, f.v.maybeSwap(ctx, f)
	}
	return false, nil
}

// collect gathers a batch: it waits up to idleWait for a first message, then takes messages
// until BatchMaxCount or BatchMaxWait after the first.
func (f *follower) collect(ctx context.Context, it jetstream.MessagesContext) ([]jetstream.Msg, error) {
	wctx, cancel := context.WithTimeout(ctx, idleWait)
	m, err := it.Next(jetstream.NextContext(wctx))
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil
		}
		return nil, err
	}
	var batch []jetstream.Msg
	if !f.accept(m) {
		return nil, nil
	}
	batch = append(batch, m)
	deadline := time.Now().Add(f.v.cfg.BatchMaxWait)
	for len(batch) < f.v.cfg.BatchMaxCount && !f.reachedEnd {
		rem := time.Until(deadline)
		if rem <= 0 {
			break
		}
		m, err := it.Next(jetstream.NextMaxWait(rem))
		if err != nil {
			// a timeout ends the batch; any other error shows again on the next Next
			break
		}
		if !f.accept(m) {
			break
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// accept decides whether a build as known takes a message; other modes take everything.
func (f *follower) accept(m jetstream.Msg) bool {
	if followMode(f.mode.Load()) != modeOnce {
		return true
	}
	meta, err := m.Metadata()
	if err != nil {
		return true // applyBatch reports it
	}
	if meta.Timestamp.After(f.v.cfg.Until) || meta.Sequence.Stream > f.endSeq {
		f.reachedEnd = true
		return false
	}
	if meta.Sequence.Stream == f.endSeq {
		f.reachedEnd = true
	}
	return true
}

// applyBatch applies messages in one Pebble batch with the checkpoint, commits it with Sync and
// then sends the change feed. An event that cannot be applied ends the batch early: the writes
// of the events before it are redone in a fresh batch (Apply is deterministic), the event is
// recorded in the quarantine instead of applied, and that batch is committed; the rest follows
// in a new batch. So a bad event never blocks the view and never leaves half its writes.
func (f *follower) applyBatch(ctx context.Context, msgs []jetstream.Msg) error {
	start := time.Now()
	b := f.v.db.NewIndexedBatch()
	defer func() { _ = b.Close() }()
	tx := newTx(b, f.base)
	var applied []*Event
	last := f.ck.Load()
	var pending uint64
	napplied, ndup := 0, 0
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("message on %s has no JetStream metadata: %w", m.Subject(), err)
		}
		seq := meta.Sequence.Stream
		pending = meta.NumPending
		if seq <= last {
			continue // at or below the checkpoint: applied already
		}
		ev, aerr := decodeMsg(m, meta)
		if aerr == nil {
			_, seen, err := tx.Original(ev.Source, ev.ID)
			if err != nil {
				return err
			}
			if seen {
				ndup++
				last = seq
				continue
			}
			aerr = safeApply(f.proj, tx, ev)
		}
		if aerr == nil {
			if err := tx.markSeen(ev); err != nil {
				return err
			}
			applied = append(applied, ev)
			napplied++
			last = seq
			continue
		}
		// Quarantine seq: redo the batch without it.
		_ = b.Close()
		b = f.v.db.NewIndexedBatch()
		tx = newTx(b, f.base)
		for _, a := range applied {
			if err := safeApply(f.proj, tx, a); err != nil {
				return fmt.Errorf("view %s applied seq %d and then failed to apply it again (%v): the projection is "+
					"not deterministic; this is a bug: fix it and run compact rebuild %s", f.view, a.Seq, err, f.view)
			}
			if err := tx.markSeen(a); err != nil {
				return err
			}
		}
		if ev != nil {
			if err := tx.markSeen(ev); err != nil {
				return err
			}
		}
		qe := f.quarantineEntry(seq, m, meta, ev, aerr)
		if err := f.quarantine(tx, qe); err != nil {
			return err
		}
		if err := f.commit(ctx, b, tx, seq, pending, qe); err != nil {
			return err
		}
		_ = b.Close()
		b = f.v.db.NewIndexedBatch()
		tx = newTx(b, f.base)
		applied = nil
		last = seq
	}
	if last > f.ck.Load() {
		if err := f.commit(ctx, b, tx, last, pending, nil); err != nil {
			return err
		}
	}
	f.v.m.observeBatch(f, napplied, ndup, time.Since(start))
	return nil
}

func (f *follower) commit(ctx context.Context, b *pebble.Batch, tx *Tx, seq, pending uint64, qe *QuarantineEntry) error {
	if err := tx.flush(); err != nil {
		return err
	}
	if err := b.Set(sub(f.base, subCheckpoint), u64(seq), nil); err != nil {
		return err
	}
	if err := f.hook("applied"); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("commit view %s at seq %d: %w", f.view, seq, err)
	}
	f.ck.Store(seq)
	if qe != nil {
		f.qcount.Add(1)
		f.v.log.Warn("views: event quarantined", "view", f.view, "seq", qe.Seq, "type", qe.Type,
			"source", qe.Source, "id", qe.ID, "err", qe.Error)
	}
	f.v.m.observeCommit(f, seq, pending)
	if err := f.hook("committed"); err != nil {
		return err
	}
	if followMode(f.mode.Load()) == modeLive && f.v.feed != nil {
		f.v.feed.publish(ctx, f, tx.notes)
	}
	return nil
}

func (f *follower) hook(point string) error {
	if h := f.v.cfg.testHook; h != nil {
		if err := h(f.view, point); err != nil {
			return &hookAbort{point: point}
		}
	}
	return nil
}

// decodeMsg turns a stream message into an Event; odd envelopes are errors (quarantined).
func decodeMsg(m jetstream.Msg, meta *jetstream.MsgMetadata) (*Event, error) {
	e, err := ledger.DecodeStored(m.Data())
	if err != nil {
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
	return &Event{Seq: meta.Sequence.Stream, LedgerTime: meta.Timestamp, Subject: m.Subject(), Event: *e}, nil
}
