package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/tlog"

	"compact/ledger"
)

// The checkpointer's loop: read the stream from the tree's size + 1, fold batches into
// the tree, publish checkpoints, answer Flush.

// fatalError stops the loop for good.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }

func isFatal(err error) bool {
	var f fatalError
	return errors.As(err, &f) || errors.Is(err, ErrStateMismatch)
}

func (c *Checkpointer) run(ctx context.Context) {
	defer close(c.done)
	var pending []flushRequest
	backoff := 100 * time.Millisecond
	for {
		err := c.follow(ctx, &pending)
		if ctx.Err() != nil {
			for _, r := range pending {
				r.reply <- flushReply{err: ErrClosed}
			}
			return
		}
		if isFatal(err) {
			c.cfg.Logger.Error("checkpointer stopped", "err", err)
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			for _, r := range pending {
				r.reply <- flushReply{err: err}
			}
			return
		}
		c.cfg.Logger.Warn("checkpointer: reading the stream failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// followPullMessages is how many messages follow's consumer asks the server for at a time, as
// the views' reader and ledger.ReadOrdered do.
const followPullMessages = 2000

// follow reads the stream from the tree's size + 1 and folds it until an error.
func (c *Checkpointer) follow(ctx context.Context, pending *[]flushRequest) error {
	c.mu.Lock()
	from := c.size + 1
	c.mu.Unlock()
	cons, err := c.js.OrderedConsumer(ctx, c.cfg.Stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return fmt.Errorf("ordered consumer on %s from seq %d: %w", c.cfg.Stream, from, err)
	}
	defer ledger.DropConsumer(c.js, c.cfg.Stream, cons)
	// The consumer's handler hands each message to the loop below, which folds them in batches.
	// A callback (Consume), not the Messages iterator, whose Next arms a heartbeat timer for
	// every message: this reader runs beside the ingest for every event the ledger stores.
	rctx, rcancel := context.WithCancel(ctx)
	msgs := make(chan jetstream.Msg, 512)
	errc := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-rctx.Done():
		}
	}, jetstream.PullMaxMessages(followPullMessages), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if ledger.OrderedConsumerMends(err) {
			return
		}
		select {
		case errc <- err:
		default:
		}
	}))
	if err != nil {
		rcancel()
		return fmt.Errorf("read %s: %w", c.cfg.Stream, err)
	}
	defer func() {
		rcancel() // first: a handler waiting to hand a message over returns
		cc.Stop()
	}()

	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return fmt.Errorf("read %s: %w", c.cfg.Stream, err)
		case m := <-msgs:
			batch := []jetstream.Msg{m}
			limit := c.batchLimit()
		drain:
			for len(batch) < limit {
				select {
				case m := <-msgs:
					batch = append(batch, m)
				default:
					break drain
				}
			}
			if err := c.fold(batch); err != nil {
				return err
			}
			if err := c.maybeCheckpoint(ctx, false); err != nil {
				if isFatal(err) {
					return err
				}
				c.cfg.Logger.Warn("checkpointer: publishing a checkpoint failed; will retry", "err", err)
			}
		case <-tick.C:
			if err := c.maybeCheckpoint(ctx, true); err != nil {
				if isFatal(err) {
					return err
				}
				c.cfg.Logger.Warn("checkpointer: publishing a checkpoint failed; will retry", "err", err)
			}
		case r := <-c.flush:
			*pending = append(*pending, r)
		}
		if err := c.serveFlushes(ctx, pending); err != nil {
			return err
		}
	}
}

// batchLimit keeps a batch from running past the next every-N checkpoint, so that
// checkpoints land on multiples of Every when the checkpointer keeps up.
func (c *Checkpointer) batchLimit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var from, since uint64
	if c.latest != nil {
		from = c.latest.Size
	}
	if c.size > from {
		since = c.size - from
	}
	limit := 512
	if left := uint64(c.cfg.Every) - since%uint64(c.cfg.Every); left < uint64(limit) {
		limit = int(left)
	}
	return max(limit, 1)
}

func (c *Checkpointer) serveFlushes(ctx context.Context, pending *[]flushRequest) error {
	if len(*pending) == 0 {
		return nil
	}
	c.mu.Lock()
	size := c.size
	c.mu.Unlock()
	keep := (*pending)[:0]
	var due []flushRequest
	for _, r := range *pending {
		if r.upTo <= size {
			due = append(due, r)
		} else {
			keep = append(keep, r)
		}
	}
	*pending = keep
	if len(due) == 0 {
		return nil
	}
	err := c.maybeCheckpoint(ctx, true)
	for _, r := range due {
		r.reply <- flushReply{cp: c.Latest(), err: err}
	}
	if isFatal(err) {
		return err
	}
	return nil
}

// fold appends the batch's messages to the tree in one synced Pebble batch.
func (c *Checkpointer) fold(batch []jetstream.Msg) error {
	c.mu.Lock()
	size := c.size
	c.mu.Unlock()
	leaves := make([]tlog.Hash, 0, len(batch))
	next := size + 1
	for _, m := range batch {
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		seq := meta.Sequence.Stream
		if seq < next {
			continue // delivered again after a consumer reset; already folded
		}
		if seq > next {
			return &StateError{Detail: fmt.Sprintf("stream %s has no message at seq %d (the next one is %d): a message was deleted or lost", c.cfg.Stream, next, seq),
				Fix: "run 'compact verify'; the checkpointer stops rather than leave a hole in the tree"}
		}
		h, err := LeafHash(seq, m.Subject(), m.Data())
		if err != nil {
			return fatalError{err}
		}
		leaves = append(leaves, h)
		next++
	}
	n, err := c.tree.Append(size, leaves)
	if err != nil {
		return fatalError{err}
	}
	c.mu.Lock()
	c.size = n
	latest := c.latest
	c.mu.Unlock()
	if latest != nil && latest.Size > size && latest.Size <= n {
		// The tree has just reached a checkpoint someone else signed: it must agree.
		return c.checkFork(latest)
	}
	return nil
}

// maybeCheckpoint publishes a checkpoint when the tree has grown by Every leaves, or at
// all when force (the interval tick, a Flush).
func (c *Checkpointer) maybeCheckpoint(ctx context.Context, force bool) error {
	c.mu.Lock()
	size, latest := c.size, c.latest
	c.mu.Unlock()
	var from uint64
	if latest != nil {
		from = latest.Size
	}
	if size <= from || (!force && size-from < uint64(c.cfg.Every)) {
		return nil
	}
	return c.publish(ctx)
}

// publish signs the tree at its current size and appends the checkpoint, conditional on
// the checkpoint stream's last checkpoint being the one this checkpointer knows, with a
// consistency proof from that one.
func (c *Checkpointer) publish(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		size, latest, expect := c.size, c.latest, c.lastSeq
		c.mu.Unlock()
		if latest != nil && latest.Size >= size {
			return nil
		}
		msg := nats.NewMsg(c.cfg.CheckpointSubject)
		if latest != nil {
			if err := c.checkFork(latest); err != nil {
				return err
			}
			proof, err := tlog.ProveTree(int64(size), int64(latest.Size), c.tree)
			if err != nil {
				return fatalError{fmt.Errorf("consistency proof %d→%d: %w", latest.Size, size, err)}
			}
			msg.Header.Set(HeaderConsistencyFrom, strconv.FormatUint(latest.Size, 10))
			msg.Header.Set(HeaderConsistencyProof, formatProof(proof))
		}
		root, err := c.tree.Root(size)
		if err != nil {
			return fatalError{err}
		}
		cp, err := SignCheckpoint(c.cfg.Origin, size, root, c.cfg.Signer)
		if err != nil {
			return fatalError{err}
		}
		msg.Data = []byte(cp.Note)
		msg.Header.Set(HeaderCoveredStream, c.cfg.Stream)
		msg.Header.Set(HeaderCoveredSeq, strconv.FormatUint(size, 10))
		ack, err := c.js.PublishMsg(ctx, msg,
			jetstream.WithExpectStream(c.cfg.CheckpointStream),
			jetstream.WithExpectLastSequencePerSubject(expect))
		if err != nil {
			if isWrongLastSeq(err) && attempt == 0 {
				// Someone else appended a checkpoint (or our last publish did land): take
				// theirs as the latest, after checking it, and try once more.
				if err := c.reloadLatest(ctx); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("publish checkpoint of size %d to %s: %w", size, c.cfg.CheckpointSubject, err)
		}
		cp.StreamSeq = ack.Sequence
		c.mu.Lock()
		c.latest, c.latestAt, c.lastSeq = cp, time.Now(), ack.Sequence
		c.mu.Unlock()
		c.cfg.Logger.Debug("checkpoint", "size", size, "checkpoint_seq", ack.Sequence)
		return nil
	}
}

func isWrongLastSeq(err error) bool {
	var jerr jetstream.JetStreamError
	if !errors.As(err, &jerr) || jerr.APIError() == nil {
		return false
	}
	code := jerr.APIError().ErrorCode
	return code == jetstream.JSErrCodeStreamWrongLastSequence || code == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
