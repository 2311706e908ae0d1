package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// What the Appender does when an append fails or its outcome is unknown: the stream is the
// truth, so it folds what it has not seen into the index and judges the same events again.

// JetStream API error codes the Appender reacts to.
const (
	errCodeWrongLastSeq         = 10071
	errCodeWrongLastSeqConstant = 10164
)

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
