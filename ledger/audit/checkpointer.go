package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"compact/ledger"
)

// Config configures a Checkpointer.
type Config struct {
	// JetStream reaches the ledger stream and the checkpoint stream. Required.
	JetStream jetstream.JetStream
	// DB is a Pebble database to keep the tree in, under KeyPrefix; or Dir, a directory
	// the Checkpointer opens (and closes) a Pebble database of its own in. One is required.
	DB  *pebble.DB
	Dir string
	// KeyPrefix of the tree's keys in Pebble. Default "checkpoints/".
	KeyPrefix string
	// Signer signs checkpoints and VerifierKey is its public key ([LoadOrCreateKey]).
	// Both required.
	Signer      note.Signer
	VerifierKey string
	// Origin is the first line of every checkpoint, naming the log. Default
	// "compact-ledger/" + Stream.
	Origin string
	// Stream, CheckpointStream and CheckpointSubject default to the contract's names
	// (COMPACT, COMPACT_CHECKPOINTS, compact.checkpoints).
	Stream, CheckpointStream, CheckpointSubject string
	// Every: a checkpoint is published when the tree has grown by Every leaves since the
	// last one. Default 1000.
	Every int
	// Interval: a checkpoint is published this often when the tree has grown at all.
	// Default 10s.
	Interval time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// EnsureDefaults fills zero fields with their documented defaults.
func (c *Config) EnsureDefaults() {
	c.KeyPrefix = cmp.Or(c.KeyPrefix, "checkpoints/")
	c.Stream = cmp.Or(c.Stream, ledger.StreamName)
	c.CheckpointStream = cmp.Or(c.CheckpointStream, ledger.CheckpointStreamName)
	c.CheckpointSubject = cmp.Or(c.CheckpointSubject, ledger.CheckpointSubject)
	c.Origin = cmp.Or(c.Origin, "compact-ledger/"+c.Stream)
	c.Every = cmp.Or(c.Every, 1000)
	c.Interval = cmp.Or(c.Interval, 10*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.JetStream == nil {
		errs = append(errs, errors.New("checkpointer: Config.JetStream is required"))
	}
	if (c.DB == nil) == (c.Dir == "") {
		errs = append(errs, errors.New("checkpointer: give exactly one of Config.DB and Config.Dir"))
	}
	if c.Signer == nil || c.VerifierKey == "" {
		errs = append(errs, errors.New("checkpointer: Config.Signer and Config.VerifierKey are required (audit.LoadOrCreateKey)"))
	}
	if c.Every < 1 {
		errs = append(errs, fmt.Errorf("checkpointer: Every %d must be ≥ 1", c.Every))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("checkpointer: Interval %s must be > 0", c.Interval))
	}
	if err := checkOrigin(c.Origin); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Checkpointer folds every message of the ledger stream, in sequence order, into the
// Merkle tree it keeps in Pebble, and publishes signed checkpoints of it to the
// checkpoint stream. It resumes from its own Pebble state (the tree size), never from a
// consumer's, so after a crash it continues where its last synced batch ended.
type Checkpointer struct {
	cfg      Config
	js       jetstream.JetStream
	db       *pebble.DB
	ownDB    bool
	tree     *tree
	verifier note.Verifier

	mu     sync.Mutex
	size   uint64      // leaves folded and synced
	latest *Checkpoint // latest checkpoint in the checkpoint stream, checked
	// latestAt is when latest was signed: when this checkpointer had it acknowledged, or
	// the checkpoint stream's time of one it read
	latestAt time.Time
	// lastSeq is the sequence of the last message on the checkpoint subject, which the next
	// checkpoint expects: latest's, or a later message that is not a checkpoint (passed over).
	lastSeq uint64
	err     error // why the loop stopped for good

	flush   chan flushRequest
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

type flushRequest struct {
	upTo  uint64
	reply chan flushReply
}

type flushReply struct {
	cp  *Checkpoint
	err error
}

// Open opens the tree and checks it against the stream and the latest published
// checkpoint. It refuses to go on (a *StateError) when they contradict each other: the
// stream is shorter than the tree, the tree's last leaf is not the stream's message, or
// the tree's root at the latest checkpoint's size is not the signed one.
func Open(ctx context.Context, cfg Config) (_ *Checkpointer, err error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v, err := NewVerifier(cfg.VerifierKey)
	if err != nil {
		return nil, err
	}
	if v.Name() != cfg.Signer.Name() || v.KeyHash() != cfg.Signer.KeyHash() {
		return nil, fmt.Errorf("checkpointer: verifier key %s is not the signer's (%s+%08x)", keyID(v), cfg.Signer.Name(), cfg.Signer.KeyHash())
	}
	c := &Checkpointer{cfg: cfg, js: cfg.JetStream, db: cfg.DB, verifier: v,
		flush: make(chan flushRequest), done: make(chan struct{})}
	if c.db == nil {
		if c.db, err = pebble.Open(cfg.Dir, &pebble.Options{Logger: quietLogger{}}); err != nil {
			return nil, fmt.Errorf("checkpointer: open Pebble at %s: %w", cfg.Dir, err)
		}
		c.ownDB = true
	}
	defer func() {
		if err != nil && c.ownDB {
			c.db.Close()
		}
	}()
	c.tree = &tree{db: c.db, prefix: []byte(cfg.KeyPrefix)}
	if err := c.tree.checkMeta(cfg.Stream); err != nil {
		return nil, err
	}
	if c.size, err = c.tree.Size(); err != nil {
		return nil, err
	}
	if err := c.checkAgainstStream(ctx); err != nil {
		return nil, err
	}
	if err := c.reloadLatest(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// checkAgainstStream makes sure the tree is a prefix of this stream's history.
func (c *Checkpointer) checkAgainstStream(ctx context.Context) error {
	if c.size == 0 {
		return nil
	}
	st, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return fmt.Errorf("checkpointer: stream %s: %w", c.cfg.Stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("checkpointer: stream %s: %w", c.cfg.Stream, err)
	}
	fix := "run 'compact verify'; if the stream is right, delete the checkpointer's Pebble state to rebuild it from sequence 1"
	if info.State.LastSeq < c.size {
		return &StateError{Detail: fmt.Sprintf("the checkpointer has folded %d messages but stream %s ends at seq %d: the stream lost messages", c.size, c.cfg.Stream, info.State.LastSeq), Fix: fix}
	}
	m, err := st.GetMsg(ctx, c.size)
	if err != nil {
		return &StateError{Detail: fmt.Sprintf("stream %s: message %d, the last one the checkpointer folded, cannot be read: %v", c.cfg.Stream, c.size, err), Fix: fix}
	}
	want, err := c.tree.LeafHashes(c.size, c.size)
	if err != nil {
		return err
	}
	got, err := LeafHash(m.Sequence, m.Subject, m.Data)
	if err != nil || got != want[0] {
		return &StateError{Detail: fmt.Sprintf("stream %s: message %d is not the one the checkpointer folded", c.cfg.Stream, c.size), Fix: fix}
	}
	return nil
}

// reloadLatest reads the latest checkpoint of the checkpoint stream and checks that it
// is ours and, if the tree has reached its size, that it is the tree's root there.
func (c *Checkpointer) reloadLatest(ctx context.Context) error {
	st, err := c.js.Stream(ctx, c.cfg.CheckpointStream)
	if err != nil {
		return fmt.Errorf("checkpointer: stream %s: %w", c.cfg.CheckpointStream, err)
	}
	raw, err := st.GetLastMsgForSubject(ctx, c.cfg.CheckpointSubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpointer: latest checkpoint in %s: %w", c.cfg.CheckpointStream, err)
	}
	last := raw.Sequence
	var cp *Checkpoint
	// A message that is not a signed note at all is passed over, back to the latest
	// checkpoint: the stream denies deletes, so such a message (a NATS user of the ledger's
	// account can have a consumer deliver one there) would otherwise stop the checkpointer
	// for good. A note that does not verify (another key, altered) still stops it.
	for {
		cp, err = OpenCheckpoint(raw.Data, c.verifier)
		var ce *CheckpointError
		if err == nil || !errors.As(err, &ce) || !ce.NotNote {
			break
		}
		c.cfg.Logger.Warn("checkpointer: a message on the checkpoint subject is not a checkpoint; passed over",
			"stream", c.cfg.CheckpointStream, "seq", raw.Sequence)
		if raw, err = previousOnSubject(ctx, st, raw.Sequence, c.cfg.CheckpointSubject); err != nil {
			return fmt.Errorf("checkpointer: latest checkpoint in %s: %w", c.cfg.CheckpointStream, err)
		}
		if raw == nil { // no checkpoint before it
			c.mu.Lock()
			c.latest, c.lastSeq = nil, last
			c.mu.Unlock()
			return nil
		}
	}
	if err != nil {
		return &StateError{Detail: fmt.Sprintf("the latest checkpoint (%s seq %d) is not this ledger's: %v", c.cfg.CheckpointStream, raw.Sequence, err),
			Fix: "check that --data holds the ledger's own key (ledger.key) and that nobody else publishes to " + c.cfg.CheckpointSubject}
	}
	if cp.Origin != c.cfg.Origin {
		return &StateError{Detail: fmt.Sprintf("the latest checkpoint (%s seq %d) has origin %q, this checkpointer %q", c.cfg.CheckpointStream, raw.Sequence, cp.Origin, c.cfg.Origin),
			Fix: "configure the same origin as before"}
	}
	cp.StreamSeq = raw.Sequence
	if err := c.checkFork(cp); err != nil {
		return err
	}
	c.mu.Lock()
	c.latest, c.latestAt, c.lastSeq = cp, raw.Time, last
	c.mu.Unlock()
	return nil
}

// previousOnSubject returns the message on subject before seq in st, nil when there is none.
func previousOnSubject(ctx context.Context, st jetstream.Stream, seq uint64, subject string) (*jetstream.RawStreamMsg, error) {
	for s := seq - 1; s > 0; s-- {
		m, err := st.GetMsg(ctx, s)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m.Subject == subject {
			return m, nil
		}
	}
	return nil, nil
}

// checkFork refuses a tree whose root at cp.Size is not cp.Root: signing on from it
// would fork the log.
func (c *Checkpointer) checkFork(cp *Checkpoint) error {
	c.mu.Lock()
	size := c.size
	c.mu.Unlock()
	if cp.Size > size {
		return nil // checked when the tree gets there (publish)
	}
	root, err := c.tree.Root(cp.Size)
	if err != nil {
		return err
	}
	if root != cp.Root {
		return &StateError{Detail: fmt.Sprintf("the tree's root at size %d differs from the signed checkpoint (%s seq %d)", cp.Size, c.cfg.CheckpointStream, cp.StreamSeq),
			Fix: "the stream's history changed under the checkpoint: run 'compact verify'; the checkpointer will not sign a fork"}
	}
	return nil
}

// Start runs the fold-and-checkpoint loop until Close (or a *StateError, see Status).
func (c *Checkpointer) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("checkpointer: already started")
	}
	c.started = true
	ctx, c.cancel = context.WithCancel(ctx)
	go c.run(ctx)
	return nil
}

// Close stops the loop, waits for it, and closes Pebble if the Checkpointer opened it.
func (c *Checkpointer) Close(ctx context.Context) error {
	c.mu.Lock()
	started, cancel := c.started, c.cancel
	c.mu.Unlock()
	if started {
		cancel()
		select {
		case <-c.done:
		case <-ctx.Done():
			return fmt.Errorf("checkpointer: close: %w", ctx.Err())
		}
	}
	if c.ownDB {
		c.ownDB = false
		return c.db.Close()
	}
	return nil
}

// Latest is the latest checkpoint of the checkpoint stream, nil when there is none.
func (c *Checkpointer) Latest() *Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.latest == nil {
		return nil
	}
	cp := *c.latest
	return &cp
}

// VerifierKey is the public key checkpoints are signed with.
func (c *Checkpointer) VerifierKey() string { return c.cfg.VerifierKey }

// Stream is the name of the stream this checkpointer folds.
func (c *Checkpointer) Stream() string { return c.cfg.Stream }

// JetStream is the connection the checkpointer reads the streams through.
func (c *Checkpointer) JetStream() jetstream.JetStream { return c.js }

// Status is what the checkpointer has done and whether it is still working.
type Status struct {
	// Size is the number of messages folded into the tree (the last sequence folded).
	Size   uint64      `json:"size"`
	Latest *Checkpoint `json:"latest,omitempty"`
	// Err is why the checkpointer stopped, "" while it runs.
	Err string `json:"error,omitempty"`
}

// Status reports the tree size, the latest checkpoint and the error the loop stopped on.
func (c *Checkpointer) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{Size: c.size}
	if c.latest != nil {
		cp := *c.latest
		s.Latest = &cp
	}
	if c.err != nil {
		s.Err = c.err.Error()
	}
	return s
}

// LeafHashes returns the recorded leaf hashes of sequences from..to (implements
// LeafHashSource; auditors check them against the signed roots before using them).
func (c *Checkpointer) LeafHashes(_ context.Context, from, to uint64) ([]tlog.Hash, error) {
	c.mu.Lock()
	size := c.size
	c.mu.Unlock()
	if to > size {
		return nil, fmt.Errorf("leaf hashes %d..%d: %w: the tree has %d leaves", from, to, ErrEventNotFound, size)
	}
	return c.tree.LeafHashes(from, to)
}

// Flush waits until every message the stream holds now is folded, publishes a checkpoint
// if the tree has grown since the latest one, and returns the latest checkpoint (nil
// when the stream is empty). The loop must be running (Start).
func (c *Checkpointer) Flush(ctx context.Context) (*Checkpoint, error) {
	st, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("checkpointer: stream %s: %w", c.cfg.Stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("checkpointer: stream %s: %w", c.cfg.Stream, err)
	}
	req := flushRequest{upTo: info.State.LastSeq, reply: make(chan flushReply, 1)}
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if !started {
		return nil, ErrClosed
	}
	select {
	case c.flush <- req:
	case <-c.done:
		return nil, c.stoppedErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.cp, r.err
	case <-c.done:
		return nil, c.stoppedErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Checkpointer) stoppedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, c.err)
	}
	return ErrClosed
}

// quietLogger keeps Pebble's routine info lines out of the log.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)      {}
func (quietLogger) Errorf(f string, a ...any) { pebble.DefaultLogger.Errorf(f, a...) }
func (quietLogger) Fatalf(f string, a ...any) { pebble.DefaultLogger.Fatalf(f, a...) }
