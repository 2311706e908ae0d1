package projections

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
)

// pullMessages is how many messages the group's consumer asks the server for at a time.
const pullMessages = 2000

// streamReader is a group's reader: the handler of its consumer, which decodes each message once and
// hands the messages over in chunks. A chunk is sent when full or when the consumer has nothing
// pending, so a live event waits for nobody.
//
// It is a callback (Consume) rather than an iterator (Messages): the iterator's Next selects
// over four channels and arms a heartbeat timer for every message, about a microsecond of a
// rebuild's 15 an event (ledger/perf/NOTES.md, ninth round). nats.go calls msg from the
// subscription's goroutine, one message after the other; around a reset of the ordered
// consumer an old subscription's last call may overlap a new one's first, hence mu. A handler
// that waits to hand a chunk over holds up the consumer, which pulls no more meanwhile: the
// read-ahead is bounded by the channel.
type streamReader struct {
	g   *group
	ctx context.Context // canceled when the group stops reading
	out chan<- chunk
	fs  *firsts

	mu    sync.Mutex
	items []item // read, not yet handed over
	done  bool   // handed over its end or an error: the rest is not read

	emu     sync.Mutex // held only to read or set stopped and start a hand-over
	stopped bool       // stop ran: consumeErr starts no hand-over

	wg sync.WaitGroup // consumeErr's hand-overs
}

func (g *group) newReader(ctx context.Context, out chan<- chunk, fs *firsts) *streamReader {
	return &streamReader{g: g, ctx: ctx, out: out, fs: fs}
}

// wait waits for the hand-overs consumeErr started.
func (r *streamReader) wait() { r.wg.Wait() }

// stop makes the reader take nothing more, once the consumer is stopped and its context
// canceled: it waits for a handler running now to return (a stopped subscription's last
// delivery may still be in it: nats.go's Closed does not wait for it) and for the hand-overs
// consumeErr started. After it nothing of the reader touches the store, which the views may
// close.
func (r *streamReader) stop() {
	r.mu.Lock()
	r.done = true
	r.mu.Unlock()
	r.emu.Lock()
	r.stopped = true
	r.emu.Unlock()
	r.wg.Wait()
}

func (r *streamReader) send(c chunk) bool {
	select {
	case r.out <- c:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// hand is the only way items leave the reader. The members apply every item they are handed,
// with a read error or the end of a build as known too, and their checkpoints pass it: an item
// the index has not seen would be applied though it is a duplicate, and a correction of it
// would find no target. On a read error the items read so far are indexed and handed over
// rather than dropped: the follower then resumes after them, and the retry re-reads nothing.
// If indexing fails they are dropped with the error, and the retry reads them again.
func (r *streamReader) hand(items []item, end bool, err error) bool {
	if len(items) > 0 {
		if hook := r.g.v.cfg.testIndexing; hook != nil {
			hook()
		}
		if ierr := r.g.v.indexChunk(items, r.fs); ierr != nil {
			r.send(chunk{err: ierr})
			return false
		}
	}
	return r.send(chunk{items: items, end: end, err: err})
}

// msg is the consumer's message handler.
func (r *streamReader) msg(m jetstream.Msg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done || r.ctx.Err() != nil {
		return
	}
	g := r.g
	meta, err := msgAckMeta(m)
	if err != nil {
		r.done = true
		r.hand(r.items, false, fmt.Errorf("message on %s has no JetStream metadata: %w", m.Subject(), err))
		return
	}
	if g.once && (meta.ts.After(g.until) || meta.seq > g.endSeq) {
		r.done = true
		r.hand(r.items, true, nil)
		return
	}
	x := item{seq: meta.seq, pending: meta.pending, size: len(m.Data()), subject: m.Subject(), ts: meta.ts}
	x.ev, x.err = decodeMsg(m, meta)
	r.items = append(r.items, x)
	end := g.once && x.seq >= g.endSeq
	if len(r.items) >= chunkMax || x.pending == 0 || end {
		if !r.hand(r.items, end, nil) || end {
			r.done = true
			return
		}
		// At the head of the stream chunks are a few events each: room for as many as the
		// last one held, not for chunkMax.
		r.items = make([]item, 0, min(chunkMax, max(8, len(r.items))))
	}
}

// consumeErr is the consumer's error handler. nats.go mends what an ordered consumer can by
// making its consumer again from the next sequence (a missed heartbeat, a deleted consumer, no
// responders) and only tells of it; anything else stops the read, and the group reads again
// from the members' checkpoints, as after any read error. It is called under the ordered
// consumer's lock, so the hand-over runs in a goroutine of its own.
func (r *streamReader) consumeErr(_ jetstream.ConsumeContext, err error) {
	if ledger.OrderedConsumerMends(err) {
		return
	}
	r.emu.Lock()
	defer r.emu.Unlock()
	if r.stopped {
		return
	}
	r.wg.Go(func() { r.fail(fmt.Errorf("read %s: %w", r.g.v.cfg.Stream, err)) })
}

// fail hands over what was read with err, once.
func (r *streamReader) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done || r.ctx.Err() != nil {
		return
	}
	r.done = true
	r.hand(r.items, false, err)
}
