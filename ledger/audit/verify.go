package audit

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Stream and CheckpointStream to read (Verify only). Default COMPACT and
	// COMPACT_CHECKPOINTS; tests point Stream at a doctored copy.
	Stream, CheckpointStream string
	// Origin every checkpoint must carry. Default: the origin of the first valid one.
	Origin string
	// Known are signed checkpoint notes the auditor kept from earlier runs. They are
	// checked like the stream's, so a checkpoint stream that was replaced or cut short
	// cannot hide a rewrite of what they cover.
	Known []string
	// Hints, when set, lets Verify name the exact first differing message inside a
	// checkpoint interval. It is not trusted: its hashes are used only if they hash to
	// the signed root.
	Hints LeafHashSource
	// Progress, when set, is called with each message's sequence as it is checked.
	Progress func(seq uint64)
}

// ProblemKind names a kind of finding.
type ProblemKind string

// The kinds of problems Verify reports.
const (
	// ProblemCheckpoint: a checkpoint's note is malformed or not signed by the key.
	ProblemCheckpoint ProblemKind = "bad-checkpoint"
	// ProblemOrigin: a checkpoint names another log.
	ProblemOrigin ProblemKind = "wrong-origin"
	// ProblemFork: two signed checkpoints of one size with different roots.
	ProblemFork ProblemKind = "fork"
	// ProblemCheckpointOrder: a checkpoint smaller than the one before it.
	ProblemCheckpointOrder ProblemKind = "checkpoint-order"
	// ProblemInconsistent: a checkpoint is not proven to extend the one before it.
	ProblemInconsistent ProblemKind = "inconsistent"
	// ProblemMissing: a sequence is missing from the stream.
	ProblemMissing ProblemKind = "missing-message"
	// ProblemOutOfOrder: the stream gave a sequence again or went backwards.
	ProblemOutOfOrder ProblemKind = "out-of-order"
	// ProblemBadMessage: a message cannot be made into a leaf.
	ProblemBadMessage ProblemKind = "bad-message"
	// ProblemRoot: the recomputed root differs from a signed checkpoint's.
	ProblemRoot ProblemKind = "root-mismatch"
	// ProblemTruncated: the stream ends before a signed checkpoint's size.
	ProblemTruncated ProblemKind = "truncated"
)

// Problem is one finding of Verify.
type Problem struct {
	Kind ProblemKind `json:"kind"`
	// Seq is the ledger sequence where history differs (0 for a checkpoint-only problem).
	Seq uint64 `json:"seq,omitempty"`
	// CheckpointSeq is the sequence, in the checkpoint stream, of the checkpoint involved.
	CheckpointSeq uint64 `json:"checkpoint_seq,omitempty"`
	Detail        string `json:"detail"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(string(p.Kind))
	if p.Seq != 0 {
		fmt.Fprintf(&b, " at seq %d", p.Seq)
	}
	if p.CheckpointSeq != 0 {
		fmt.Fprintf(&b, " (checkpoint #%d)", p.CheckpointSeq)
	}
	b.WriteString(": ")
	b.WriteString(p.Detail)
	return b.String()
}

// Report is what Verify found.
type Report struct {
	Origin string `json:"origin,omitempty"`
	// Checkpoints is the number of valid checkpoints; Latest the largest of them.
	Checkpoints int         `json:"checkpoints"`
	Latest      *Checkpoint `json:"latest,omitempty"`
	// Messages is the number of messages read and hashed.
	Messages uint64 `json:"messages"`
	// Verified: messages 1..Verified are proven by a signed checkpoint.
	Verified uint64 `json:"verified"`
	// Unverified: messages read after the largest checkpoint (not covered yet).
	Unverified uint64 `json:"unverified"`
	// FirstBadSeq is the first sequence where the history differs, 0 when it does not.
	// When Exact is false only the interval is known: the difference is somewhere in
	// DiffersAfter+1..FirstBadSeq (give Hints to narrow it to one message).
	FirstBadSeq  uint64    `json:"first_bad_seq,omitempty"`
	Exact        bool      `json:"exact,omitempty"`
	DiffersAfter uint64    `json:"differs_after,omitempty"`
	Problems     []Problem `json:"problems,omitempty"`
}

// OK says whether Verify found nothing wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// String is the report for people.
func (r *Report) String() string {
	var b strings.Builder
	if r.OK() && r.Checkpoints == 0 {
		fmt.Fprintf(&b, "OK, but nothing is proven: no checkpoints yet; %d messages read\n", r.Messages)
		return b.String()
	}
	if r.OK() {
		fmt.Fprintf(&b, "OK: %d messages; 1..%d proven by %d signed checkpoints of %s", r.Messages, r.Verified, r.Checkpoints, r.Origin)
		if r.Unverified > 0 {
			fmt.Fprintf(&b, "; %d newer messages not covered by a checkpoint yet", r.Unverified)
		}
		b.WriteString("\n")
		return b.String()
	}
	switch {
	case r.FirstBadSeq != 0 && r.Exact:
		fmt.Fprintf(&b, "FAILED: history differs at seq %d\n", r.FirstBadSeq)
	case r.FirstBadSeq != 0:
		fmt.Fprintf(&b, "FAILED: history differs somewhere in seq %d..%d\n", r.DiffersAfter+1, r.FirstBadSeq)
	default:
		b.WriteString("FAILED: bad checkpoints\n")
	}
	if r.Verified == 0 {
		fmt.Fprintf(&b, "%d messages read; none proven (%d valid checkpoints)\n", r.Messages, r.Checkpoints)
	} else {
		fmt.Fprintf(&b, "%d messages read; 1..%d proven by %d valid checkpoints\n", r.Messages, r.Verified, r.Checkpoints)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return b.String()
}

// Verify replays the ledger stream from sequence 1 through JetStream, recomputes the
// Merkle tree and checks it against every checkpoint signed by verifierKey. See
// VerifySource.
func Verify(ctx context.Context, js jetstream.JetStream, verifierKey string, opts VerifyOptions) (*Report, error) {
	src := JetStreamSource{JS: js, Stream: opts.Stream, CheckpointStream: opts.CheckpointStream}
	return VerifySource(ctx, src, verifierKey, opts)
}

// VerifySource checks the history src gives against the checkpoints it gives:
//
//   - every checkpoint's signature (verifierKey is the only thing trusted), its origin,
//     and that no two checkpoints of one size have different roots (a fork);
//   - that each checkpoint is proven consistent with the one before it (the RFC 6962
//     consistency proof in its message headers, checked against both signed roots);
//   - that the messages run 1, 2, 3... without a gap, and that the root of the tree of
//     the first n messages, recomputed here from the raw messages, is the signed root of
//     every checkpoint of size n; and that the stream reaches the largest checkpoint.
//
// The returned error is a *HistoryError (with the report) when anything differs, another
// error when the history could not be read; the report is returned in both cases.
func VerifySource(ctx context.Context, src Source, verifierKey string, opts VerifyOptions) (*Report, error) {
	v, err := NewVerifier(verifierKey)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	ch := &chain{rep: rep, v: v, origin: opts.Origin}
	if err := src.Checkpoints(ctx, func(rec CheckpointRecord) error { ch.add(rec); return nil }); err != nil {
		return nil, fmt.Errorf("verify: reading the checkpoints: %w", err)
	}
	targets := ch.targets(opts.Known)
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := &replayer{ctx: ctx, rep: rep, hints: opts.Hints, progress: opts.Progress, targets: targets,
		rf: rf, rng: rf.NewEmptyRange(0), next: 1, haveKnown: len(opts.Known) > 0,
		all: track{saved: rf.NewEmptyRange(0)}, known: track{saved: rf.NewEmptyRange(0)}}
	err = src.Messages(ctx, 1, r.message)
	if lost := (*UnreadableError)(nil); errors.As(err, &lost) {
		err = nil
		// inside a checkpoint's range, finish reports the stream as truncated
		if !r.stopped && r.target() == nil {
			r.fail(ProblemMissing, r.next, nil, fmt.Sprintf("seqs %d..%d cannot be read, though the stream says it holds messages up to seq %d: acknowledged events were lost",
				r.next, lost.Last, lost.Last))
		}
	}
	if err != nil && !errors.Is(err, errStop) {
		return rep, fmt.Errorf("verify: reading the history (after seq %d): %w", r.next-1, err)
	}
	r.finish()
	if !rep.OK() {
		return rep, &HistoryError{Report: rep}
	}
	return rep, nil
}

var emptyRoot = tlog.Hash(sha256.Sum256(nil))

// chain checks the checkpoint stream's records by themselves, one at a time in stream
// order. The stream gains a checkpoint every few seconds for as long as the ledger runs,
// so of its records the chain keeps only the valid checkpoints, and their notes only until
// a later one is valid: the latest's is the report's (Report.Latest), the others' are
// never shown.
type chain struct {
	rep    *Report
	v      note.Verifier
	origin string
	// valid are the valid checkpoints, in stream order and so by size, each larger than the
	// one before: a record of an equal size is checked against that one (a fork or a
	// repeat) before a smaller size is out of order.
	valid []*Checkpoint
}

// add checks rec against the valid checkpoints before it, and keeps it when it is one.
func (c *chain) add(rec CheckpointRecord) {
	problem := func(kind ProblemKind, format string, args ...any) {
		c.rep.Problems = append(c.rep.Problems, Problem{Kind: kind, CheckpointSeq: rec.StreamSeq, Detail: fmt.Sprintf(format, args...)})
	}
	cp, err := OpenCheckpoint([]byte(rec.Note), c.v)
	if err != nil {
		var ce *CheckpointError
		if errors.As(err, &ce) {
			problem(ProblemCheckpoint, "%s", ce.Reason)
		} else {
			problem(ProblemCheckpoint, "%v", err)
		}
		return
	}
	cp.StreamSeq = rec.StreamSeq
	if c.origin == "" {
		c.origin = cp.Origin
	} else if cp.Origin != c.origin {
		problem(ProblemOrigin, "origin %q, want %q", cp.Origin, c.origin)
		return
	}
	if rec.CoveredSeq != 0 && rec.CoveredSeq != cp.Size {
		problem(ProblemCheckpoint, "header %s says %d but the signed tree size is %d", HeaderCoveredSeq, rec.CoveredSeq, cp.Size)
	}
	if cp.Size == 0 {
		if cp.Root != emptyRoot {
			problem(ProblemCheckpoint, "a checkpoint of the empty tree with a root other than the empty tree's")
		}
		return
	}
	if other := c.at(cp.Size); other != nil {
		if other.Root != cp.Root {
			problem(ProblemFork, "two signed checkpoints of size %d with different roots (the other is checkpoint #%d): the log was forked", cp.Size, other.StreamSeq)
		}
		return
	}
	if len(c.valid) > 0 {
		prev := c.valid[len(c.valid)-1]
		if cp.Size < prev.Size {
			problem(ProblemCheckpointOrder, "size %d comes after a checkpoint of size %d", cp.Size, prev.Size)
			return
		}
		if rec.ConsistencyFrom != prev.Size || len(rec.Consistency) == 0 {
			problem(ProblemInconsistent, "no consistency proof from the previous checkpoint (size %d) to size %d", prev.Size, cp.Size)
			return
		}
		if err := tlog.CheckTree(rec.Consistency, int64(cp.Size), cp.Root, int64(prev.Size), prev.Root); err != nil {
			problem(ProblemInconsistent, "the consistency proof from size %d to size %d does not hold: the checkpoints do not describe one growing log", prev.Size, cp.Size)
			return
		}
		prev.Note = ""
	}
	cp.Origin = c.origin // one string for them all, not each its own note's text
	c.valid = append(c.valid, cp)
}

// at returns the valid checkpoint of size n, nil when there is none.
func (c *chain) at(n uint64) *Checkpoint {
	i, ok := slices.BinarySearchFunc(c.valid, n, func(cp *Checkpoint, n uint64) int { return cmp.Compare(cp.Size, n) })
	if !ok {
		return nil
	}
	return c.valid[i]
}

// targets checks the auditor's own checkpoints against the stream's, sums the checkpoints
// up in the report and returns all the valid ones, by size.
func (c *chain) targets(known []string) []target {
	rep := c.rep
	// The auditor's own checkpoints: no consistency proofs, but the replay checks their
	// roots, and a different root at a size the stream also signed is a fork.
	var knownTargets []target
	knownAt := map[uint64]*Checkpoint{} // the first kept checkpoint of each size the stream has no valid one of
	kept := map[uint64]bool{}           // sizes where a kept checkpoint is the stream's own
	for i, text := range known {
		cp, err := OpenCheckpoint([]byte(text), c.v)
		switch {
		case err != nil:
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemCheckpoint, Detail: fmt.Sprintf("known checkpoint %d: %v", i+1, err)})
			continue
		case c.origin == "":
			c.origin = cp.Origin
		case cp.Origin != c.origin:
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemOrigin, Detail: fmt.Sprintf("known checkpoint %d: origin %q, want %q", i+1, cp.Origin, c.origin)})
			continue
		}
		other := c.at(cp.Size)
		if other == nil {
			other = knownAt[cp.Size]
		}
		if other != nil && other.Root == cp.Root {
			// the stream's checkpoint stands for it: the replay checks that one as kept too,
			// so that the kept track moves on (and drops its hashes) there
			kept[cp.Size] = true
			continue
		} else if other != nil {
			// Still a target: the replay then says which of the two the history matches.
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemFork, CheckpointSeq: other.StreamSeq,
				Detail: fmt.Sprintf("the stream's checkpoint of size %d has another root than the one you kept: the log was forked", cp.Size)})
		}
		if cp.Size == 0 {
			continue
		}
		if other == nil {
			knownAt[cp.Size] = cp
		}
		knownTargets = append(knownTargets, target{cp, true})
	}
	rep.Origin = c.origin
	rep.Checkpoints = len(c.valid) + len(knownTargets)
	targets := make([]target, 0, len(c.valid)+len(knownTargets))
	for _, cp := range c.valid {
		targets = append(targets, target{cp, kept[cp.Size]})
	}
	targets = append(targets, knownTargets...)
	slices.SortStableFunc(targets, func(a, b target) int { return int64Cmp(a.Size, b.Size) })
	if len(targets) > 0 {
		rep.Latest = targets[len(targets)-1].Checkpoint
	}
	return targets
}

// target is a checkpoint the replayed tree must match; known when the auditor kept it.
type target struct {
	*Checkpoint
	known bool
}

func int64Cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var errStop = errors.New("stop")

// replayer recomputes the tree message by message and compares it with the checkpoints.
type replayer struct {
	ctx      context.Context
	rep      *Report
	hints    LeafHashSource
	progress func(uint64)
	targets  []target // by size
	ti       int      // next target

	rf   *compact.RangeFactory
	rng  *compact.Range // the tree of messages 1..next-1
	next uint64         // next sequence expected
	// all is the history proven by any valid checkpoint; known by the auditor's own
	// (kept only when there are some). When a kept checkpoint fails, the stream's
	// checkpoints that agreed with the history are the other branch of a fork, so the
	// difference is bounded by the kept ones alone.
	all, known track
	haveKnown  bool
	stopped    bool
}

// track is what a failure is bounded by: the last proven size m, the tree there, and the
// leaves read since.
type track struct {
	m        uint64
	saved    *compact.Range
	interval []tlog.Hash
}

func (r *replayer) target() *target {
	if r.ti < len(r.targets) {
		return &r.targets[r.ti]
	}
	return nil
}

func (r *replayer) message(msg Message) error {
	switch {
	case msg.Seq > r.next:
		r.fail(ProblemMissing, r.next, r.target(), fmt.Sprintf("seq %d is missing: the stream goes on at seq %d", r.next, msg.Seq))
		return errStop
	case msg.Seq < r.next:
		r.fail(ProblemOutOfOrder, r.next, r.target(), fmt.Sprintf("seq %d comes where seq %d should", msg.Seq, r.next))
		return errStop
	}
	h, err := LeafHash(msg.Seq, msg.Subject, msg.Data)
	if err != nil {
		r.fail(ProblemBadMessage, msg.Seq, r.target(), err.Error())
		return errStop
	}
	if err := r.rng.Append(h[:], nil); err != nil {
		return err
	}
	r.all.interval = append(r.all.interval, h)
	if r.haveKnown {
		r.known.interval = append(r.known.interval, h)
	}
	r.next++
	r.rep.Messages++
	if r.progress != nil {
		r.progress(msg.Seq)
	}
	for t := r.target(); t != nil && t.Size == msg.Seq; t = r.target() {
		root, err := r.rng.GetRootHash(nil)
		if err != nil {
			return err
		}
		if !bytes.Equal(root, t.Root[:]) {
			who := "the signed checkpoint"
			if t.known {
				who = "the checkpoint you kept"
			}
			r.fail(ProblemRoot, msg.Seq, t, fmt.Sprintf("the tree of messages 1..%d has root %x, %s says %x", msg.Seq, root, who, t.Root[:]))
			return errStop
		}
		r.all.advance(r, msg.Seq)
		if t.known {
			r.known.advance(r, msg.Seq)
		}
		r.rep.Verified = msg.Seq
		r.ti++
	}
	return nil
}

func (tr *track) advance(r *replayer, seq uint64) {
	tr.m = seq
	tr.saved = r.clone(r.rng)
	tr.interval = tr.interval[:0]
}

func (r *replayer) finish() {
	if r.stopped {
		return
	}
	if t := r.target(); t != nil {
		r.fail(ProblemTruncated, r.next, t, fmt.Sprintf("the stream ends at seq %d but a signed checkpoint covers %d messages", r.next-1, t.Size))
		return
	}
	r.rep.Unverified = r.rep.Messages - r.rep.Verified
}

// fail records a difference detected at seq k, with the checkpoint t the history was
// heading for, and narrows it down to one message when it can.
func (r *replayer) fail(kind ProblemKind, k uint64, t *target, detail string) {
	r.stopped = true
	tr := &r.all
	if t != nil && t.known {
		tr = &r.known
		if r.all.m > r.known.m {
			detail += fmt.Sprintf("; the stream's own checkpoints up to size %d agree with this history, so they were signed over it again: the log was forked", r.all.m)
			r.rep.Verified = r.known.m
		}
	}
	rep := r.rep
	rep.DiffersAfter = tr.m
	rep.FirstBadSeq = k
	rep.Exact = k == tr.m+1 || t == nil
	if !rep.Exact && r.hints != nil {
		detail += r.pinpoint(tr, t.Checkpoint, k)
	}
	p := Problem{Kind: kind, Seq: rep.FirstBadSeq, Detail: detail}
	if t != nil {
		p.CheckpointSeq = t.StreamSeq
	}
	rep.Problems = append(rep.Problems, p)
}

// pinpoint uses the hints' leaf hashes of m+1..t.Size, once they are proven to hash to
// the signed root, to find the first message that differs.
func (r *replayer) pinpoint(tr *track, t *Checkpoint, k uint64) string {
	hs, err := r.hints.LeafHashes(r.ctx, tr.m+1, t.Size)
	if err != nil {
		return fmt.Sprintf(" (could not get the recorded leaf hashes to narrow it down: %v)", err)
	}
	if uint64(len(hs)) != t.Size-tr.m {
		return fmt.Sprintf(" (got %d recorded leaf hashes for %d messages: ignored)", len(hs), t.Size-tr.m)
	}
	rng := r.clone(tr.saved)
	for _, h := range hs {
		if err := rng.Append(h[:], nil); err != nil {
			return fmt.Sprintf(" (%v)", err)
		}
	}
	root, err := rng.GetRootHash(nil)
	if err != nil || !bytes.Equal(root, t.Root[:]) {
		return " (the recorded leaf hashes do not hash to the signed root either: ignored)"
	}
	r.rep.Exact = true
	for i, h := range tr.interval {
		if h != hs[i] {
			r.rep.FirstBadSeq = tr.m + 1 + uint64(i)
			return fmt.Sprintf("; message %d differs from the one the checkpoint signed", r.rep.FirstBadSeq)
		}
	}
	r.rep.FirstBadSeq = tr.m + 1 + uint64(len(tr.interval))
	if r.rep.FirstBadSeq != k {
		return fmt.Sprintf("; message %d is the first one not as signed", r.rep.FirstBadSeq)
	}
	return ""
}

func (r *replayer) clone(x *compact.Range) *compact.Range {
	hs := make([][]byte, len(x.Hashes()))
	for i, h := range x.Hashes() {
		hs[i] = slices.Clone(h)
	}
	c, err := r.rf.NewRange(x.Begin(), x.End(), hs)
	if err != nil {
		panic(err) // the hashes come from a valid range
	}
	return c
}
