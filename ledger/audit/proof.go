package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/tlog"

	"compact/ledger"
)

// ProofFormat names the inclusion proof format (see the package documentation).
const ProofFormat = "compact-ledger-inclusion-proof/v1"

// Proof is an inclusion proof of one stored event against a signed checkpoint. It is
// checked offline by VerifyProof with only the verifier key, or by any RFC 6962
// verifier from LeafIndex, TreeSize, LeafHash, Proof and RootHash.
type Proof struct {
	Format string `json:"format"`
	// Event is the stored event, for reading; it must say the same as Body.
	Event *ledger.Stored `json:"event"`
	// Subject and Body are the stored message's subject and exact data (base64), from
	// which the leaf is recomputed.
	Subject string `json:"subject"`
	Body    []byte `json:"body"`
	// LeafIndex is Event.Seq - 1.
	LeafIndex uint64    `json:"leaf_index"`
	TreeSize  uint64    `json:"tree_size"`
	LeafHash  tlog.Hash `json:"leaf_hash"`
	// Proof is the RFC 6962 audit path, from the leaf's sibling up to the root's child.
	Proof    []tlog.Hash `json:"proof"`
	RootHash tlog.Hash   `json:"root_hash"`
	// Checkpoint is the signed note of size TreeSize and root RootHash.
	Checkpoint string `json:"checkpoint"`
}

// Prove makes the inclusion proof of the message at seq against the latest checkpoint,
// publishing a checkpoint first (Flush) when the latest does not cover it yet and the
// loop is running.
func (c *Checkpointer) Prove(ctx context.Context, seq uint64) (*Proof, error) {
	if seq == 0 {
		return nil, errors.New("prove: sequences start at 1")
	}
	c.mu.Lock()
	stopped := c.err
	c.mu.Unlock()
	if stopped != nil {
		// The loop stopped on a contradiction (a fork, a lost message): no proof against
		// the checkpoints is worth giving, and "retry later" would never come true.
		return nil, fmt.Errorf("prove: %w: %w", ErrClosed, stopped)
	}
	latest := c.Latest()
	if latest == nil || latest.Size < seq {
		// A sequence past the stream's end is no event: waiting for the next checkpoint
		// would not make it one, so it is not found rather than "not checkpointed yet".
		st, err := c.js.Stream(ctx, c.cfg.Stream)
		if err != nil {
			return nil, fmt.Errorf("prove: stream %s: %w", c.cfg.Stream, err)
		}
		if last := st.CachedInfo().State.LastSeq; seq > last {
			return nil, fmt.Errorf("prove: %w: stream %s ends at seq %d, there is no message at seq %d", ErrEventNotFound, c.cfg.Stream, last, seq)
		}
		cp, err := c.Flush(ctx)
		switch {
		case errors.Is(err, ErrClosed) && !errors.Is(err, ErrStateMismatch):
			// not started or closed: prove against what is published
		case err != nil:
			return nil, fmt.Errorf("prove: checkpoint the stream first: %w", err)
		case cp != nil:
			latest = cp
		}
	}
	if latest == nil || latest.Size < seq {
		var size uint64
		if latest != nil {
			size = latest.Size
		}
		return nil, &NotCheckpointedError{Seq: seq, Size: size}
	}
	c.mu.Lock()
	folded := c.size
	c.mu.Unlock()
	if folded < latest.Size {
		return nil, fmt.Errorf("prove: %w: it has folded %d messages, the latest checkpoint (size %d) another signed; retry when it has caught up", ErrBehind, folded, latest.Size)
	}
	if err := c.checkFork(latest); err != nil {
		return nil, fmt.Errorf("prove: %w", err)
	}
	st, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("prove: stream %s: %w", c.cfg.Stream, err)
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("prove: message %d of %s: %w", seq, c.cfg.Stream, err)
	}
	ev, err := ledger.DecodeStored(m.Data)
	if err != nil {
		return nil, fmt.Errorf("prove: message %d of %s is not an event: %w", seq, c.cfg.Stream, err)
	}
	leaf, err := LeafHash(seq, m.Subject, m.Data)
	if err != nil {
		return nil, err
	}
	recorded, err := c.tree.LeafHashes(seq, seq)
	if err != nil {
		return nil, err
	}
	if recorded[0] != leaf {
		return nil, &StateError{Detail: fmt.Sprintf("message %d of %s is not the one the checkpoints signed", seq, c.cfg.Stream),
			Fix: "the stored history was changed: run 'compact verify'"}
	}
	path, err := tlog.ProveRecord(int64(latest.Size), int64(seq-1), c.tree)
	if err != nil {
		return nil, fmt.Errorf("prove: %w", err)
	}
	return &Proof{
		Format:     ProofFormat,
		Event:      &ledger.Stored{Seq: seq, LedgerTime: m.Time.UTC().Format(time.RFC3339Nano), Event: ev},
		Subject:    m.Subject,
		Body:       m.Data,
		LeafIndex:  seq - 1,
		TreeSize:   latest.Size,
		LeafHash:   leaf,
		Proof:      path,
		RootHash:   latest.Root,
		Checkpoint: latest.Note,
	}, nil
}

// ProveEvent finds the event by source ("/entities/UNODC", or "" for any source) and id
// and proves it.
func (c *Checkpointer) ProveEvent(ctx context.Context, source, id string) (*Proof, error) {
	seq, err := FindEvent(ctx, c.js, c.cfg.Stream, source, id)
	if err != nil {
		return nil, err
	}
	return c.Prove(ctx, seq)
}

// FindEvent returns the sequence of the stored event with source and id, scanning the
// source's subjects (all subjects when source is ""). An id found under several sources
// is an error that lists them.
func FindEvent(ctx context.Context, js jetstream.JetStream, stream, source, id string) (uint64, error) {
	filter := ledger.EventSubjectPrefix + ">"
	if source != "" {
		// The replay's rule for an entity, which the ingest holds every source to: anything
		// else is the caller's mistake, and would not even make a valid subject filter.
		entity, ok := strings.CutPrefix(source, ledger.SourcePrefix)
		if err := (ledger.ReplayFilter{Entity: entity}).Validate(); !ok || entity == "" || err != nil {
			return 0, fmt.Errorf("%w: %q: want %sENTITY, ENTITY 2-24 characters of A-Z 0-9 -", ErrBadSource, source, ledger.SourcePrefix)
		}
		filter = ledger.EventSubjectPrefix + entity + ".>"
	}
	type hit struct {
		seq    uint64
		source string
	}
	var hits []hit
	needle := []byte(`"` + id + `"`)
	err := readStream(ctx, js, stream, filter, 1, 0, func(m Message, _ nats.Header) error {
		if !bytes.Contains(m.Data, needle) {
			return nil // cheap skip; the id appears quoted in the body if it is this event
		}
		ev, err := ledger.DecodeStored(m.Data)
		if err != nil || ev.ID != id || (source != "" && ev.Source != source) {
			return nil
		}
		hits = append(hits, hit{m.Seq, ev.Source})
		return nil
	})
	if err != nil {
		return 0, err
	}
	switch len(hits) {
	case 0:
		if source == "" {
			return 0, fmt.Errorf("%w: no event has id %q", ErrEventNotFound, id)
		}
		return 0, fmt.Errorf("%w: no event of %s has id %q", ErrEventNotFound, source, id)
	case 1:
		return hits[0].seq, nil
	}
	var list []string
	for _, h := range hits {
		list = append(list, fmt.Sprintf("%s (seq %d)", h.source, h.seq))
	}
	return 0, fmt.Errorf("%w: id %q is used by %d events: %s; say which source (--entity)", ErrAmbiguousID, id, len(hits), strings.Join(list, ", "))
}

// VerifyProof checks an inclusion proof with only the verifier key: the checkpoint's
// signature; that the proof's tree size and root are the checkpoint's; that the leaf
// hash is the one of (seq, subject, body); that the audit path leads from that leaf to
// the signed root; and that the event shown is the one in body. It returns the proof and
// the checkpoint it was checked against.
func VerifyProof(data []byte, verifierKey string) (*Proof, *Checkpoint, error) {
	v, err := NewVerifier(verifierKey)
	if err != nil {
		return nil, nil, err
	}
	var p Proof
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, nil, badProof("document", "not a proof: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, badProof("document", "data after the proof's JSON object")
	}
	if p.Format != ProofFormat {
		return nil, nil, badProof("format", "%q, want %q", p.Format, ProofFormat)
	}
	cp, err := OpenCheckpoint([]byte(p.Checkpoint), v)
	if err != nil {
		return nil, nil, badProof("checkpoint", "%v", err)
	}
	if p.TreeSize != cp.Size {
		return nil, nil, badProof("tree_size", "%d, but the signed checkpoint is of size %d", p.TreeSize, cp.Size)
	}
	if p.RootHash != cp.Root {
		return nil, nil, badProof("root_hash", "not the signed checkpoint's root")
	}
	if p.Event == nil || p.Event.Event == nil {
		return nil, nil, badProof("event", "missing")
	}
	if p.Event.Seq != p.LeafIndex+1 {
		return nil, nil, badProof("leaf_index", "%d, but the event's seq is %d (leaf index = seq - 1)", p.LeafIndex, p.Event.Seq)
	}
	if p.LeafIndex >= p.TreeSize {
		return nil, nil, badProof("leaf_index", "%d is outside a tree of size %d", p.LeafIndex, p.TreeSize)
	}
	leaf, err := LeafHash(p.Event.Seq, p.Subject, p.Body)
	if err != nil {
		return nil, nil, badProof("subject", "%v", err)
	}
	if leaf != p.LeafHash {
		return nil, nil, badProof("leaf_hash", "not the hash of the leaf of (seq, subject, body)")
	}
	if err := tlog.CheckRecord(p.Proof, int64(p.TreeSize), cp.Root, int64(p.LeafIndex), leaf); err != nil {
		return nil, nil, badProof("proof", "the audit path does not lead from the leaf to the signed root")
	}
	stored, err := ledger.DecodeStored(p.Body)
	if err != nil {
		return nil, nil, badProof("body", "not an event: %v", err)
	}
	shown, err1 := json.Marshal(p.Event.Event)
	signed, err2 := json.Marshal(stored)
	if err1 != nil || err2 != nil || !bytes.Equal(shown, signed) {
		return nil, nil, badProof("event", "differs from the signed body")
	}
	if stored.Subject() != p.Subject {
		return nil, nil, badProof("subject", "%q, but the event's subject is %q", p.Subject, stored.Subject())
	}
	return &p, cp, nil
}
