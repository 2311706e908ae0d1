package ledger

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ReadOptions tune ReadOrdered.
type ReadOptions struct {
	// Pull is how many messages the consumer asks the server for at a time. Default 2,000,
	// as the views' reader.
	Pull int
	// Idle, when more than 0, is how often ReadOrdered looks for a stall: a tick of Idle with
	// no message since the one before calls Stalled. A stall is noticed after between one and
	// two Idle periods.
	Idle time.Duration
	// Stalled is called, from ReadOrdered's own goroutine (fn is not running), with the
	// sequence expected next and how many ticks in a row have had no message. A nil error
	// waits on; an error ends the read with it.
	Stalled func(next uint64, stalls int) error
}

// ReadOrdered reads an ordered consumer's messages, from the sequence it starts at, and calls
// fn with each, one after the other, until fn says the read is done (done, or an error, which
// ReadOrdered returns as it is), ctx ends (ctx.Err()), a stall ends it (ReadOptions.Stalled's
// error), or the consumer fails with an error that the ordered consumer does not mend
// (OrderedConsumerMends; returned wrapped, with the stream's name). A message
// delivered again around the ordered consumer's reset (a sequence below the next one expected)
// is passed over.
//
// fn runs in the consumer's handler (Consume), never after ReadOrdered returns, so it may
// write to what the caller owns (an HTTP response) without a lock of its own. The handler is
// a callback rather than the Messages iterator because the iterator's Next arms a heartbeat
// timer for every message: the audit's reader read half as fast again without it
// (BenchmarkReadStream, ledger/perf/NOTES.md, thirteenth round).
func ReadOrdered(ctx context.Context, cons jetstream.Consumer, o ReadOptions, fn func(jetstream.Msg) (done bool, err error)) error {
	r := &orderedRead{fn: fn, done: make(chan struct{})}
	errc := make(chan error, 1)
	cc, err := cons.Consume(r.msg, jetstream.PullMaxMessages(cmp.Or(o.Pull, 2000)), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if OrderedConsumerMends(err) {
			return
		}
		select {
		case errc <- err:
		default:
		}
	}))
	if err != nil {
		return fmt.Errorf("stream %s: %w", streamOf(cons), err)
	}
	defer cc.Stop()
	var tick <-chan time.Time
	if o.Idle > 0 {
		t := time.NewTicker(o.Idle)
		defer t.Stop()
		tick = t.C
	}
	var seen uint64 // messages taken at the last tick
	stalls := 0
	for {
		select {
		case <-r.done:
			return r.res
		case err := <-errc:
			return r.stop(fmt.Errorf("stream %s: %w", streamOf(cons), err))
		case <-ctx.Done():
			return r.stop(ctx.Err())
		case <-tick:
			if n := r.taken.Load(); n != seen {
				seen, stalls = n, 0
				continue
			}
			stalls++
			if o.Stalled == nil {
				continue
			}
			r.mu.Lock()
			next, ended := r.next, r.ended
			r.mu.Unlock()
			if ended {
				continue // the handler ended the read: done is closed
			}
			if err := o.Stalled(next, stalls); err != nil {
				return r.stop(err)
			}
		}
	}
}

// streamOf names the stream a consumer reads, for errors.
func streamOf(cons jetstream.Consumer) string {
	if info := cons.CachedInfo(); info != nil {
		return info.Stream
	}
	return "?"
}

// orderedRead is the state of one ReadOrdered, shared by the consumer's handler (msg) and the
// goroutine that waits for its end. mu is held while fn runs: an ordered consumer's reset may
// overlap an old subscription's last delivery with the new one's first, and stop must wait for
// a call under way.
type orderedRead struct {
	fn    func(jetstream.Msg) (bool, error)
	taken atomic.Uint64 // messages given to fn, for the stall check

	mu    sync.Mutex
	next  uint64 // the stream sequence expected next, 0 before the first message
	ended bool
	res   error         // set before done is closed
	done  chan struct{} // closed when the handler ends the read
}

func (r *orderedRead) msg(m jetstream.Msg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	meta, err := m.Metadata()
	if err != nil {
		r.end(fmt.Errorf("message on %s has no JetStream metadata: %w", m.Subject(), err))
		return
	}
	seq := meta.Sequence.Stream
	if seq < r.next {
		return // delivered again around the ordered consumer's reset
	}
	r.next = seq + 1
	r.taken.Add(1)
	if done, err := r.fn(m); done || err != nil {
		r.end(err)
	}
}

// end ends the read from the handler with res. mu is held.
func (r *orderedRead) end(res error) {
	r.ended, r.res = true, res
	close(r.done)
}

// stop ends the read from the waiting goroutine, waiting for a call of fn under way, and
// returns what the read returns: err, unless the handler ended it first.
func (r *orderedRead) stop(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return r.res
	}
	r.ended, r.res = true, err
	return err
}
