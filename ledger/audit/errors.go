package audit

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Errors of this package wrap one of them; test with errors.Is.
var (
	// ErrBadCheckpoint: a checkpoint note is malformed, not signed by the ledger's key, or
	// contradicts another checkpoint.
	ErrBadCheckpoint = errors.New("bad checkpoint")
	// ErrHistoryDiffers: the stored history does not match the signed checkpoints.
	ErrHistoryDiffers = errors.New("history differs from the signed checkpoints")
	// ErrBadProof: an inclusion proof does not prove what it claims.
	ErrBadProof = errors.New("bad inclusion proof")
	// ErrNotCheckpointed: the event is newer than the latest checkpoint.
	ErrNotCheckpointed = errors.New("not covered by a checkpoint yet")
	// ErrEventNotFound: no stored event has that source and id, or the stream has no
	// message at that sequence.
	ErrEventNotFound = errors.New("event not found")
	// ErrBadSource: the source named is not an entity's ("/entities/" and an acronym).
	ErrBadSource = errors.New("not an entity source")
	// ErrBehind: this checkpointer has not yet folded what the latest checkpoint covers (another
	// process signed it); it catches up by itself.
	ErrBehind = errors.New("this checkpointer is behind the latest checkpoint")
	// ErrStalled: the server stopped sending in the middle of an answer (Client.IdleTimeout).
	ErrStalled = errors.New("the server stalled")
	// ErrAmbiguousID: several sources have an event with that id; name the source.
	ErrAmbiguousID = errors.New("id used by several sources")
	// ErrStateMismatch: the checkpointer's own state contradicts the stream or the
	// published checkpoints; it stops rather than sign a fork.
	ErrStateMismatch = errors.New("checkpointer state does not match the ledger")
	// ErrClosed: the checkpointer is not running (not started, closed, or stopped on an error).
	ErrClosed = errors.New("checkpointer not running")
	// ErrSigningKey: a signing key was given where the verifier key goes.
	ErrSigningKey = errors.New("a signing key, not a verifier key")
	// ErrUnreadable: the stream counts messages that cannot be read (lost or damaged).
	ErrUnreadable = errors.New("stored messages cannot be read")
)

// UnreadableError says which messages a stream counts but cannot serve: From..Last, where
// Last is the stream's last sequence. The ledger's streams deny deletes and purges, so
// these are acknowledged messages that were lost.
type UnreadableError struct {
	Stream     string
	From, Last uint64
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("stream %s: messages %d..%d cannot be read, though the stream's last sequence is %d",
		e.Stream, e.From, e.Last, e.Last)
}

func (e *UnreadableError) Unwrap() error { return ErrUnreadable }

// CheckpointError says which checkpoint is bad and why.
type CheckpointError struct {
	// StreamSeq is the checkpoint's sequence in the checkpoint stream (0 when not from a stream).
	StreamSeq uint64
	Reason    string
	// NotNote is set when the message is not a signed note at all (not a checkpoint signed by
	// another key, nor an altered one): something else that reached the checkpoint subject.
	NotNote bool
}

func (e *CheckpointError) Error() string {
	if e.StreamSeq == 0 {
		return "checkpoint: " + e.Reason
	}
	return fmt.Sprintf("checkpoint at checkpoint-stream seq %d: %s", e.StreamSeq, e.Reason)
}

func (e *CheckpointError) Unwrap() error { return ErrBadCheckpoint }

// ProofError names the field of an inclusion proof that does not check out.
type ProofError struct {
	Field  string
	Reason string
}

func (e *ProofError) Error() string {
	return fmt.Sprintf("inclusion proof: %s: %s", e.Field, e.Reason)
}

func (e *ProofError) Unwrap() error { return ErrBadProof }

func badProof(field, format string, args ...any) error {
	return &ProofError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// StateError is a contradiction between the checkpointer's Pebble state and the ledger.
type StateError struct {
	Detail string
	// Fix says what an operator can do.
	Fix string
}

func (e *StateError) Error() string {
	return e.Detail + "; " + e.Fix
}

func (e *StateError) Unwrap() error { return ErrStateMismatch }

// HistoryError is returned by Verify when it found problems; Report holds all of them.
type HistoryError struct {
	Report *Report
}

func (e *HistoryError) Error() string {
	var b strings.Builder
	b.WriteString("verify: ")
	if r := e.Report; r.FirstBadSeq != 0 {
		if r.Exact {
			fmt.Fprintf(&b, "history differs at seq %d", r.FirstBadSeq)
		} else {
			fmt.Fprintf(&b, "history differs between seq %d and seq %d", r.DiffersAfter+1, r.FirstBadSeq)
		}
	} else {
		b.WriteString("checkpoints are bad")
	}
	for i, p := range e.Report.Problems {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Report.Problems)-3)
			break
		}
		b.WriteString("; ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap gives ErrHistoryDiffers when a message is bad, and ErrBadCheckpoint when only the
// checkpoints are.
func (e *HistoryError) Unwrap() error {
	if e.Report.FirstBadSeq != 0 {
		return ErrHistoryDiffers
	}
	return ErrBadCheckpoint
}

// NotCheckpointedError: the event at Seq is after the latest checkpoint, of size Size.
type NotCheckpointedError struct {
	Seq, Size uint64
}

func (e *NotCheckpointedError) Error() string {
	return fmt.Sprintf("event at seq %d is not covered by the latest checkpoint (tree size %d) yet; retry after the next checkpoint", e.Seq, e.Size)
}

func (e *NotCheckpointedError) Unwrap() error { return ErrNotCheckpointed }
