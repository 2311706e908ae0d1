package audit

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
// at the time of the call, through an ordered consumer (ledger.ReadOrdered: fn runs in the
// consumer's handler, never after readStream returns).
// filter, when not "", limits it to the matching subjects. Without a filter every sequence
// up to the last must be read: when the rest cannot be (the server dropped damaged
// messages at the end), it returns an *UnreadableError after the readable ones.
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
	lost := func(next uint64) error {
		if filter != "" {
			return nil // a filtered read ends where the matching messages do
		}
		return &UnreadableError{Stream: name, From: next, Last: last}
	}
	if ci := cons.CachedInfo(); ci != nil && ci.NumPending == 0 {
		return lost(from) // nothing to deliver: do not wait for the idle timeout
	}
	// Nothing came for a whole idle period although the stream said it had more. If the rest
	// cannot be read (the server dropped damaged messages at the end), the readable stream has
	// ended; if it can, the server is slow: wait a while longer.
	stalled := func(next uint64, stalls int) error {
		next = max(next, from)
		readable, err := anyReadable(ctx, st, next, last)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return fmt.Errorf("stream %s: %w", name, err)
		case !readable:
			return lost(next)
		case stalls >= 6:
			return fmt.Errorf("stream %s: no message for %s while reading toward its last seq %d", name, time.Duration(stalls)*idle, last)
		}
		return nil
	}
	return ledger.ReadOrdered(ctx, cons, ledger.ReadOptions{Idle: idle, Stalled: stalled}, func(m jetstream.Msg) (bool, error) {
		meta, err := m.Metadata()
		if err != nil {
			return true, fmt.Errorf("stream %s: %w", name, err)
		}
		seq := meta.Sequence.Stream
		if err := fn(Message{Seq: seq, Subject: m.Subject(), Data: m.Data(), Time: meta.Timestamp}, m.Headers()); err != nil {
			return true, err
		}
		switch {
		case seq >= last:
			return true, nil
		case meta.NumPending == 0:
			return true, lost(seq + 1)
		}
		return false, nil
	})
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
