package audit

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/tlog"
)

// CheckpointHead is what a reader shows of a signed checkpoint beside what it serves: the
// tree it vouches for and when it was appended. Its signature is not checked here (that
// is Verify's work): readers name the checkpoint so that an auditor can check it.
type CheckpointHead struct {
	// StreamSeq is its sequence in the checkpoint stream.
	StreamSeq uint64
	// Size is the tree size: the checkpoint covers ledger sequences 1 to Size.
	Size uint64
	Root tlog.Hash
	// Time is when the checkpoint stream stored it.
	Time time.Time
}

// LatestCheckpoint returns the checkpoint stream's last checkpoint, nil when none has been
// signed (or the stream does not exist yet).
func (s JetStreamSource) LatestCheckpoint(ctx context.Context) (*CheckpointHead, error) {
	st, err := s.JS.Stream(ctx, s.checkpointStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := st.GetLastMsgForSubject(ctx, s.checkpointSubject())
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.headFrom(ctx, st, m)
}

// CheckpointAt returns the last checkpoint appended at or before ledger time at, nil when
// there is none: the one a view built as known at that time can name, since a later one
// vouches for events the view does not hold.
//
// It searches by sequence, since the stream's times grow with its sequences. A sequence
// with no message (the stream denies deletes, so only damage makes one) is passed over:
// the lookup asks for the first checkpoint from a sequence on.
func (s JetStreamSource) CheckpointAt(ctx context.Context, at time.Time) (*CheckpointHead, error) {
	st, err := s.JS.Stream(ctx, s.checkpointStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 {
		return nil, nil
	}
	var found *jetstream.RawStreamMsg
	for lo, hi := state.FirstSeq, state.LastSeq; lo <= hi; {
		mid := lo + (hi-lo)/2
		m, err := st.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(s.checkpointSubject()))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			hi = mid - 1
		case err != nil:
			return nil, err
		case m.Time.After(at):
			hi = mid - 1
		default:
			found, lo = m, m.Sequence+1
		}
	}
	if found == nil {
		return nil, nil
	}
	return s.headFrom(ctx, st, found)
}

// headFrom reads the checkpoint of m or, when m is not one, of the last checkpoint before it.
// A message on the checkpoint subject that is not a checkpoint can be there (a NATS user of
// the ledger's account can have a push consumer deliver a copy of another message to it) and
// cannot be removed (the stream denies deletes): it is passed over, as the checkpointer does,
// rather than making every review name no checkpoint, or every review as known fail, from
// then on. compact verify reports it.
func (s JetStreamSource) headFrom(ctx context.Context, st jetstream.Stream, m *jetstream.RawStreamMsg) (*CheckpointHead, error) {
	for m != nil {
		h, err := checkpointHead(m)
		if !errors.Is(err, ErrBadCheckpoint) {
			return h, err
		}
		if m, err = previousOnSubject(ctx, st, m.Sequence, s.checkpointSubject()); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// checkpointHead reads a checkpoint message: a signed note whose text is the C2SP
// checkpoint body. A body that does not parse is a *CheckpointError naming the message.
func checkpointHead(m *jetstream.RawStreamMsg) (*CheckpointHead, error) {
	body, _, _ := strings.Cut(string(m.Data), "\n\n")
	_, size, root, err := ParseCheckpointBody(body + "\n")
	if err != nil {
		var ce *CheckpointError
		if errors.As(err, &ce) {
			ce.StreamSeq = m.Sequence
		}
		return nil, err
	}
	return &CheckpointHead{StreamSeq: m.Sequence, Size: size, Root: root, Time: m.Time}, nil
}
