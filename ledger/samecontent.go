package ledger

import (
	"bytes"
	"context"
	"fmt"
)

// sameAsStored checks a duplicate's content against the event stored under its source and id
// (at r.Seq). A publisher that re-sends an event after a lost answer sends the same bytes, and
// is answered "duplicate" with the stored sequence. One that reuses an id for another event
// would be answered the same, and take its event for stored when nothing of it is: so an
// event whose stored form differs from the one stored is refused at /id with ErrConflict.
// Retries are rare, so reading the stored message back costs nothing on the common path.
//
// It runs in the request's goroutine, never the writer's: the read must not hold up appends.
func (a *Appender) sameAsStored(ctx context.Context, c *Candidate, r Result) Result {
	stored, err := a.storedBody(ctx, r.Seq)
	if err != nil {
		// The outcome is known (nothing new was stored); whether it is the same is not.
		r.Duplicate = false
		r.Error = unavailable("not confirmed: an event with this id is stored at seq %d, and reading it back to compare failed (%v); re-send it", r.Seq, err)
		return r
	}
	if bytes.Equal(stored, c.Body) {
		return r
	}
	r.Duplicate = false
	r.Error = &FieldError{Field: "/id", Kind: ErrConflict, Message: fmt.Sprintf(
		"an event with source %s and id %q is stored already (seq %d) with other content: a re-sent event is a duplicate only when it is the same; "+
			"to change the stored one publish a compact.event.corrected, for a new event use a new id", c.Event.Source, c.Event.ID, r.Seq)}
	return r
}

// isConflict reports whether a result read back from a reply is a conflict (sameAsStored).
func isConflict(fe *FieldError) bool { return fe != nil && fe.Reason == "conflict" }

// storedBody returns the body of the message at seq in the ledger's stream, as its leader
// has it (GetStored): the first of two copies in one request may be stored moments ago.
func (a *Appender) storedBody(ctx context.Context, seq uint64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	m, err := GetStored(ctx, a.cfg.Conn, StreamName, seq)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}
