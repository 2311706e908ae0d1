package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxEventSize is the largest event the ledger accepts, in bytes of its JSON encoding.
const MaxEventSize = 64 * 1024

// StreamOptions are the settings of the ledger's streams that an operator may choose.
type StreamOptions struct {
	// Replicas is the number of JetStream replicas (1 on the embedded server, 3 on a cluster).
	// Default 1.
	Replicas int
	// Duplicates is JetStream's own deduplication window. The ledger's idempotency does not
	// depend on it (see Dedup); it only bounds the server's memory of message ids (those of
	// pipelined appends, see Appender). Default 2 minutes.
	Duplicates time.Duration
}

// EnsureDefaults fills zero fields with their documented defaults.
func (o *StreamOptions) EnsureDefaults() {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Duplicates == 0 {
		o.Duplicates = 2 * time.Minute
	}
}

// StreamConfig is the COMPACT stream as the contract defines it: file storage, no deletes,
// no purges, no rollups, no age or TTL limits, Discard new, atomic batch publish allowed
// (the ingest path's group commit), and the default (synchronous) persist mode.
func StreamConfig(o StreamOptions) jetstream.StreamConfig {
	o.EnsureDefaults()
	return jetstream.StreamConfig{
		Name:               StreamName,
		Description:        "Compact ledger: every activity, immutable",
		Subjects:           []string{EventSubjectPrefix + ">"},
		Retention:          jetstream.LimitsPolicy,
		MaxConsumers:       -1,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxMsgsPerSubject:  -1,
		MaxMsgSize:         MaxEventSize + 4096, // the event plus headers
		Discard:            jetstream.DiscardNew,
		Storage:            jetstream.FileStorage,
		Replicas:           o.Replicas,
		Duplicates:         o.Duplicates,
		DenyDelete:         true,
		DenyPurge:          true,
		AllowRollup:        false,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		PersistMode:        jetstream.DefaultPersistMode,
	}
}

// CheckpointStreamConfig is COMPACT_CHECKPOINTS: as immutable as the ledger itself.
func CheckpointStreamConfig(o StreamOptions) jetstream.StreamConfig {
	c := StreamConfig(o)
	c.Name = CheckpointStreamName
	c.Description = "Compact ledger: signed checkpoints of COMPACT"
	c.Subjects = []string{CheckpointSubject}
	c.AllowAtomicPublish = false
	return c
}

// ErrStreamConfig is returned when an existing stream's configuration differs from the contract.
var ErrStreamConfig = errors.New("stream configuration differs from the contract")

// StreamConfigError lists what differs between an existing stream and the contract.
type StreamConfigError struct {
	Stream      string
	Differences []string
}

func (e *StreamConfigError) Error() string {
	return fmt.Sprintf("stream %s exists with a configuration that differs from the contract: %s; "+
		"the ledger never changes an existing stream: fix it by hand or point --data/--nats-url elsewhere",
		e.Stream, strings.Join(e.Differences, "; "))
}

func (e *StreamConfigError) Unwrap() error { return ErrStreamConfig }

// ErrStreamMissing: a process that does not ingest found no ledger stream to read.
var ErrStreamMissing = errors.New("the ledger's stream does not exist")

// StreamMissingError says which stream a read replica waited for, where, and for how long.
type StreamMissingError struct {
	Stream, NATSURL string
	Waited          time.Duration
}

func (e *StreamMissingError) Error() string {
	return fmt.Sprintf("stream %s does not exist on NATS at %s (waited %s): a process with --role projections reads "+
		"the ledger's streams and never creates them (it would make them with its own --replicas); start the ingest "+
		"process (serve --role ingest or all, with --replicas) first, or check --nats-url and its credentials' account",
		e.Stream, e.NATSURL, e.Waited)
}

func (e *StreamMissingError) Unwrap() error { return ErrStreamMissing }

// EnsureStreams creates COMPACT and COMPACT_CHECKPOINTS when they do not exist and checks
// them when they do. An existing stream that differs is an error naming every difference;
// it is never changed.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	for _, want := range []jetstream.StreamConfig{StreamConfig(o), CheckpointStreamConfig(o)} {
		if err := ensureStream(ctx, js, want); err != nil {
			return err
		}
	}
	return nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, want); err != nil {
			return fmt.Errorf("create stream %s: %w", want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", want.Name, err)
	}
	if diffs := diffStreamConfig(want, s.CachedInfo().Config); len(diffs) > 0 {
		return &StreamConfigError{Stream: want.Name, Differences: diffs}
	}
	return nil
}

// diffStreamConfig compares the settings the contract fixes. Settings the server fills in
// (Metadata, ConsumerLimits, Compression...) are not compared, nor are the replicas: they
// are the operator's to change (nats stream edit), the ledger sets them only when it
// creates a stream, and a read replica need not know them.
func diffStreamConfig(want, got jetstream.StreamConfig) []string {
	var d []string
	ne := func(name string, w, g any) {
		if fmt.Sprint(w) != fmt.Sprint(g) {
			d = append(d, fmt.Sprintf("%s is %v, want %v", name, g, w))
		}
	}
	ne("subjects", want.Subjects, got.Subjects)
	ne("retention", want.Retention, got.Retention)
	ne("storage", want.Storage, got.Storage)
	ne("discard", want.Discard, got.Discard)
	ne("deny_delete", want.DenyDelete, got.DenyDelete)
	ne("deny_purge", want.DenyPurge, got.DenyPurge)
	ne("allow_rollup_hdrs", want.AllowRollup, got.AllowRollup)
	ne("max_age", want.MaxAge, got.MaxAge)
	ne("max_msgs", want.MaxMsgs, got.MaxMsgs)
	ne("max_bytes", want.MaxBytes, got.MaxBytes)
	ne("max_msgs_per_subject", want.MaxMsgsPerSubject, got.MaxMsgsPerSubject)
	ne("allow_msg_ttl", want.AllowMsgTTL, got.AllowMsgTTL)
	ne("subject_delete_marker_ttl", want.SubjectDeleteMarkerTTL, got.SubjectDeleteMarkerTTL)
	ne("allow_atomic", want.AllowAtomicPublish, got.AllowAtomicPublish)
	ne("persist_mode", want.PersistMode, got.PersistMode)
	ne("sealed", want.Sealed, got.Sealed)
	if got.Mirror != nil || len(got.Sources) > 0 {
		d = append(d, "the stream mirrors or sources another stream")
	}
	if got.SubjectTransform != nil {
		d = append(d, "the stream transforms subjects")
	}
	return d
}

// DropConsumer deletes an ordered consumer its reader is done with (after its messages'
// Stop). The client library leaves one on the server, with its goroutines, for five minutes
// of inactivity: each request that reads the stream (a replay, a verify, a client that hung
// up half-way) would leave one behind. Best effort, and not under the reader's context, which
// is often what ended: a consumer it cannot delete goes after its five minutes as before.
func DropConsumer(js jetstream.JetStream, stream string, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = js.DeleteConsumer(ctx, stream, info.Name)
}

// OrderedConsumerMends reports whether an error a consumer's error handler is told of is one
// nats.go's ordered consumer deals with itself, by making its consumer again from the next
// sequence (a missed heartbeat, a deleted consumer, no responders, a new leader): a reader
// goes on. Any other error ends the read.
func OrderedConsumerMends(err error) bool {
	return errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrConsumerLeadershipChanged)
}
