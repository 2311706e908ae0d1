package projections

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
)

// Config is what Open needs. A projections process has its own Pebble directory and reads the
// ledger from any NATS server or cluster: Dir, JS (and NC for the change feed) are all it needs.
type Config struct {
	// Dir is the Pebble directory of the views (created when missing). Required.
	Dir string
	// JS reads the ledger stream and writes the change-feed KV bucket. Required.
	JS jetstream.JetStream
	// NC publishes the change feed; default JS.Conn().
	NC *nats.Conn
	// Stream is the ledger stream; default ledger.StreamName.
	Stream string
	// BatchMaxCount bounds the events applied in one Pebble batch; default 10,000. A view
	// catching up (a rebuild, a restart after a pause) fills its batches up to it or to
	// BatchMaxBytes, so that a commit and its fsync serve thousands of events.
	BatchMaxCount int
	// BatchMaxBytes bounds the message bytes applied in one Pebble batch; default 4 MiB.
	BatchMaxBytes int
	// BatchMaxWait bounds how long a batch waits for more events after its first when the
	// view is at the head of the stream (live); default 50ms. A view catching up never waits.
	BatchMaxWait time.Duration
	// FS is the filesystem of the Pebble store; default the disk. Tests give a crash-simulating
	// one (pebble's vfs.NewCrashableMem).
	FS vfs.FS
	// Logger; default discards.
	Logger *slog.Logger
	// Registry receives the views' Prometheus metrics; nil keeps them unregistered.
	Registry *prometheus.Registry
	// DisableFeed turns the change feed off (subjects and KV), e.g. for an auditor's build.
	DisableFeed bool
	// FeedBucket is the KV bucket that keeps the latest counters; default "COMPACT_VIEWS".
	FeedBucket string
	// FeedReplicas is the bucket's replica count (3 on a cluster); default 1.
	FeedReplicas int
	// Until, when set, builds the views as known at that ledger time: Start follows the stream
	// up to its last sequence at start, stops at the first message whose ledger time is after
	// Until, and the views then stay as they are (see BuildAsKnown).
	Until time.Time

	// testHook, when set, is called at "applied" (batch written, not committed) and "committed"
	// (committed, change message not yet sent) with the batch's checkpoint; an error aborts the
	// group's run loop as a crash would.
	testHook func(view, point string, seq uint64) error
	// testUntilSeq, with Until, also stops a build as known after this sequence.
	testUntilSeq uint64
	// testIndexing, when set, is called by a group's reader before it indexes a chunk.
	testIndexing func()
	// testReadOriginal, when set, is called before each read of an original event from the
	// ledger (original.go); its error fails the read.
	testReadOriginal func(seq uint64) error
	// testVersions overrides the projections' versions, to test the start-up rebuild.
	testVersions map[string]int
}

// Default values of Config.
const (
	DefaultBatchMaxCount = 10_000
	DefaultBatchMaxBytes = 4 << 20
	DefaultBatchMaxWait  = 50 * time.Millisecond
	DefaultFeedBucket    = "COMPACT_VIEWS"
)

// EnsureDefaults fills zero fields with their documented defaults.
func (c *Config) EnsureDefaults() {
	if c.NC == nil && c.JS != nil {
		c.NC = c.JS.Conn()
	}
	if c.Stream == "" {
		c.Stream = ledger.StreamName
	}
	if c.BatchMaxCount == 0 {
		c.BatchMaxCount = DefaultBatchMaxCount
	}
	if c.BatchMaxBytes == 0 {
		c.BatchMaxBytes = DefaultBatchMaxBytes
	}
	if c.BatchMaxWait == 0 {
		c.BatchMaxWait = DefaultBatchMaxWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.FeedBucket == "" {
		c.FeedBucket = DefaultFeedBucket
	}
	if c.FeedReplicas == 0 {
		c.FeedReplicas = 1
	}
}

// Validate reports the first invalid field; the error wraps ErrConfig.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Dir == "":
		return bad("Dir is empty: give the directory of the views' Pebble store")
	case c.JS == nil:
		return bad("JS is nil: give a jetstream.JetStream connected to the ledger's NATS")
	case c.BatchMaxCount < 1:
		return bad("BatchMaxCount is %d: it must be at least 1", c.BatchMaxCount)
	case c.BatchMaxBytes < 1:
		return bad("BatchMaxBytes is %d: it must be at least 1", c.BatchMaxBytes)
	case c.BatchMaxWait < 0:
		return bad("BatchMaxWait is %v: it must not be negative", c.BatchMaxWait)
	case c.FeedReplicas < 1 || c.FeedReplicas > 5:
		return bad("FeedReplicas is %d: it must be 1 to 5", c.FeedReplicas)
	case !c.DisableFeed && c.NC == nil:
		return bad("NC is nil and JS has no connection: give the *nats.Conn for the change feed")
	}
	return nil
}
