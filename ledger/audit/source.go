package audit

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/tlog"

	"compact/ledger"
)

// Headers of a checkpoint message. They are not signed: the covered sequence repeats the
// note's tree size for readers that do not parse notes, and the consistency proof is
// checked against the signed roots, so a forged header can only make a check fail.
const (
	// HeaderCoveredStream names the stream the checkpoint covers (COMPACT).
	HeaderCoveredStream = "Compact-Covered-Stream"
	// HeaderCoveredSeq is the last stream sequence the checkpoint covers, = its tree size.
	HeaderCoveredSeq = "Compact-Covered-Seq"
	// HeaderConsistencyFrom is the tree size of the checkpoint before this one.
	HeaderConsistencyFrom = "Compact-Consistency-From"
	// HeaderConsistencyProof is the RFC 6962 consistency proof from that size to this
	// checkpoint's: base64 hashes separated by commas.
	HeaderConsistencyProof = "Compact-Consistency-Proof"
)

// Message is one stored message of the ledger stream.
type Message struct {
	Seq     uint64
	Subject string
	Data    []byte
	// Time is the ledger time (when the server stored it). It is not covered by the leaf.
	Time time.Time
}

// CheckpointRecord is one message of the checkpoint stream, not yet checked.
type CheckpointRecord struct {
	// StreamSeq is its sequence in the checkpoint stream.
	StreamSeq uint64 `json:"stream_seq"`
	// Note is the signed checkpoint note.
	Note string `json:"note"`
	// CoveredSeq is the Compact-Covered-Seq header, 0 when absent.
	CoveredSeq uint64 `json:"covered_seq,omitempty"`
	// ConsistencyFrom and Consistency are the consistency proof from the previous
	// checkpoint's tree size; absent on the first checkpoint.
	ConsistencyFrom uint64      `json:"consistency_from,omitempty"`
	Consistency     []tlog.Hash `json:"consistency,omitempty"`
}

// Source is where Verify reads the history from. The source is not trusted: every byte it
// gives is checked against the signed checkpoints.
type Source interface {
	// Checkpoints calls fn with every message of the checkpoint stream, in stream order,
	// up to the stream's last sequence at the time of the call. An error from fn stops the
	// read and is returned. The stream gains a checkpoint every few seconds for as long as
	// the ledger runs: readers take them one at a time rather than all at once.
	Checkpoints(ctx context.Context, fn func(CheckpointRecord) error) error
	// Messages calls fn with every message of the ledger stream from sequence from on, in
	// sequence order, up to the stream's last sequence at the time of the call.
	Messages(ctx context.Context, from uint64, fn func(Message) error) error
}

// LeafHashSource gives the leaf hashes a ledger's checkpointer recorded (from its Pebble
// state). Verify uses them only to point at the first differing message inside a
// checkpoint interval, and only after checking that they hash to the signed root.
type LeafHashSource interface {
	LeafHashes(ctx context.Context, fromSeq, toSeq uint64) ([]tlog.Hash, error)
}

// JetStreamSource reads the history straight from JetStream.
type JetStreamSource struct {
	JS jetstream.JetStream
	// Stream, CheckpointStream and CheckpointSubject default to COMPACT,
	// COMPACT_CHECKPOINTS and compact.checkpoints.
	Stream, CheckpointStream, CheckpointSubject string
	// IdleTimeout: after this long without the next message the stream says it has,
	// the reader checks whether the rest can be read at all. Default 5s.
	IdleTimeout time.Duration
}

func (s JetStreamSource) stream() string { return cmp.Or(s.Stream, ledger.StreamName) }
func (s JetStreamSource) checkpointStream() string {
	return cmp.Or(s.CheckpointStream, ledger.CheckpointStreamName)
}
func (s JetStreamSource) checkpointSubject() string {
	return cmp.Or(s.CheckpointSubject, ledger.CheckpointSubject)
}

// Checkpoints implements Source.
func (s JetStreamSource) Checkpoints(ctx context.Context, fn func(CheckpointRecord) error) error {
	return readStream(ctx, s.JS, s.checkpointStream(), "", 1, s.IdleTimeout, func(m Message, h nats.Header) error {
		return fn(checkpointRecord(m.Seq, m.Data, h))
	})
}

// Messages implements Source.
func (s JetStreamSource) Messages(ctx context.Context, from uint64, fn func(Message) error) error {
	return readStream(ctx, s.JS, s.stream(), "", from, s.IdleTimeout, func(m Message, _ nats.Header) error { return fn(m) })
}

func checkpointRecord(seq uint64, data []byte, h nats.Header) CheckpointRecord {
	r := CheckpointRecord{StreamSeq: seq, Note: string(data)}
	r.CoveredSeq, _ = strconv.ParseUint(h.Get(HeaderCoveredSeq), 10, 64)
	r.ConsistencyFrom, _ = strconv.ParseUint(h.Get(HeaderConsistencyFrom), 10, 64)
	if p := h.Get(HeaderConsistencyProof); p != "" {
		for _, s := range strings.Split(p, ",") {
			hash, err := tlog.ParseHash(s)
			if err != nil {
				r.Consistency = nil // a damaged header proves nothing; Verify reports it missing
				break
			}
			r.Consistency = append(r.Consistency, hash)
		}
	}
	return r
}

func formatProof(p []tlog.Hash) string {
	s := make([]string, len(p))
	for i, h := range p {
		s[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return strings.Join(s, ",")
}

// readStream calls fn with the stream's messages from sequence from to its last sequence
// at the time of the call, through an ordered consumer.
// filter, when not "", limits it to the matching subjects. Without a filter every sequence
// up to the last must be read: when the rest cannot be (the server dropped damaged
// messages at the end), it returns an *UnreadableError after the readable ones.
//
// fn runs in the consumer's handler (Consume), one message after the other, never after
// readStream returns. A callback, not the Messages iterator: the iterator's Next arms a
// heartbeat timer for every message and the idle wait took a context with a timer of its own,
// ~12% of the CPU of a read (BenchmarkReadStream, ledger/perf/NOTES.md, thirteenth round).
// The wait for a message is a ticker of idle instead: a tick with no message since the one
// before is a stall, so a stall is noticed after between one and two idle periods.
func readStream(ctx context.Context, js jetstream.JetStream, name, filter string, from uint64, idle time.Duration, fn func(Message, nats.Header) error) error {
	idle = cmp.Or(idle, 5*time.Second)
	from = max(from, 1)
	st, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 || last < from {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("stream %s: ordered consumer from seq %d: %w", name, from, err)
	}
	defer ledger.DropConsumer(js, name, cons)
	r := &streamRead{name: name, filtered: filter != "", last: last, next: from, fn: fn, done: make(chan struct{})}
	if ci := cons.CachedInfo(); ci != nil && ci.NumPending == 0 {
		return r.lost(from) // nothing to deliver: do not wait for the idle timeout
	}
	errc := make(chan error, 1)
	cc, err := cons.Consume(r.msg, jetstream.PullMaxMessages(readPullMessages), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if ledger.OrderedConsumerMends(err) {
			return
		}
		select {
		case errc <- err:
		default:
		}
	}))
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	defer cc.Stop()
	tick := time.NewTicker(idle)
	defer tick.Stop()
	var seen uint64 // messages taken at the last tick
	stalls := 0
	for {
		select {
		case <-r.done:
			return r.res
		case err := <-errc:
			return r.stop(fmt.Errorf("stream %s: %w", name, err))
		case <-ctx.Done():
			return r.stop(ctx.Err())
		case <-tick.C:
			if n := r.taken.Load(); n != seen {
				seen, stalls = n, 0
				continue
			}
			// Nothing came for a whole tick although the stream said it had more. If the
			// rest cannot be read (the server dropped damaged messages at the end), the
			// readable stream has ended; if it can, the server is slow: wait a while longer.
			r.mu.Lock()
			next := r.next
			r.mu.Unlock()
			readable, perr := anyReadable(ctx, st, next, last)
			if perr != nil {
				if ctx.Err() != nil {
					return r.stop(ctx.Err())
				}
				return r.stop(fmt.Errorf("stream %s: %w", name, perr))
			}
			if !readable {
				return r.stop(r.lost(next))
			}
			if stalls++; stalls >= 6 {
				return r.stop(fmt.Errorf("stream %s: no message for %s while reading toward its last seq %d", name, time.Duration(stalls)*idle, last))
			}
		}
	}
}

// readPullMessages is how many messages readStream's consumer asks the server for at a time,
// as the views' reader does.
const readPullMessages = 2000

// streamRead is the state of one readStream, shared by its consumer's handler (msg) and the
// goroutine that waits for its end. mu is held while fn runs: an ordered consumer's reset may
// overlap an old subscription's last delivery with the new one's first, and stop must wait for
// a call under way.
type streamRead struct {
	name     string
	filtered bool
	last     uint64
	fn       func(Message, nats.Header) error
	taken    atomic.Uint64 // messages given to fn, for the stall check

	mu    sync.Mutex
	next  uint64 // the sequence expected next
	ended bool
	res   error         // set before done is closed
	done  chan struct{} // closed when the handler ends the read
}

func (r *streamRead) msg(m jetstream.Msg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	meta, err := m.Metadata()
	if err != nil {
		r.end(fmt.Errorf("stream %s: %w", r.name, err))
		return
	}
	seq := meta.Sequence.Stream
	if seq < r.next {
		return // delivered again around the ordered consumer's reset
	}
	r.taken.Add(1)
	if err := r.fn(Message{Seq: seq, Subject: m.Subject(), Data: m.Data(), Time: meta.Timestamp}, m.Headers()); err != nil {
		r.end(err)
		return
	}
	r.next = seq + 1
	switch {
	case seq >= r.last:
		r.end(nil)
	case meta.NumPending == 0:
		r.end(r.lost(seq + 1))
	}
}

// end ends the read from the handler with res. mu is held.
func (r *streamRead) end(res error) {
	r.ended, r.res = true, res
	close(r.done)
}

// stop ends the read from the waiting goroutine, waiting for a call of fn under way, and
// returns what the read returns: err, unless the handler ended it first.
func (r *streamRead) stop(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return r.res
	}
	r.ended, r.res = true, err
	return err
}

// lost is the end of a read that found no message from next on.
func (r *streamRead) lost(next uint64) error {
	if r.filtered {
		return nil // a filtered read ends where the matching messages do
	}
	return &UnreadableError{Stream: r.name, From: next, Last: r.last}
}

// anyReadable says whether any message from..last can be read (looking at 1000 at most).
func anyReadable(ctx context.Context, st jetstream.Stream, from, last uint64) (bool, error) {
	for seq := from; seq <= last && seq < from+1000; seq++ {
		_, err := st.GetMsg(ctx, seq)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, err
		}
	}
	return false, nil
}
