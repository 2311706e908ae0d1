package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"compact/ledger"
)

// The views keep no record of what an event did when its own data says it: an activity listed
// as it was published, a count counted as it was reported. That is nearly every event, and a
// record per event was about a sixth of a rebuild's work (ledger/perf/NOTES.md, ninth round).
// A correction or retraction of such an event, or a curation of such an item, reads the event
// again from the ledger, which keeps it unchanged at its sequence, and derives what it did from
// it. A view writes a record only once an event's effect is no longer its own data's: corrected,
// retracted, or an activity a curation left unlisted.

// storedEventTimeout bounds one read of an original event from the ledger.
const storedEventTimeout = 30 * time.Second

// event returns the original event o from the ledger stream, decoded as the reader decoded it
// when the view applied it. A failed read is the store's trouble (storeFailed): the runtime
// tries the batch again, and never quarantines the event that named o for it.
func (t *Tx) event(o Original) (*Event, error) {
	ctx := t.ctx
	if ctx == nil {
		ctx = t.f.v.ctx
	}
	ctx, cancel := context.WithTimeout(ctx, storedEventTimeout)
	defer cancel()
	var m *ledger.StoredMsg
	var err error
	if hook := t.f.v.cfg.testReadOriginal; hook != nil {
		err = hook(o.Seq)
	}
	if err == nil {
		m, err = ledger.GetStored(ctx, t.f.v.cfg.JS.Conn(), t.f.v.cfg.Stream, o.Seq)
	}
	if err != nil {
		return nil, t.storeFailed(fmt.Errorf("views: read the original event again: %w", err))
	}
	ev, err := decodeStored(m.Subject, m.Data, m.Seq, m.Time)
	if err != nil {
		return nil, fmt.Errorf("views: the event at seq %d no longer decodes as when it was applied (%v); run compact rebuild", o.Seq, err)
	}
	if ev.Type != o.Type {
		return nil, fmt.Errorf("views: the event at seq %d is a %s where the index says %s; run compact rebuild", o.Seq, ev.Type, o.Type)
	}
	return ev, nil
}

// quarantined reports whether this generation of the view quarantined the event at seq: one it
// did not apply, and so has nothing to take back from.
func (t *Tx) quarantined(seq uint64) (bool, error) {
	k := sub(t.base, subQuarantine, u64(seq))
	if ov, ok := t.batch.get(string(k)); ok {
		return !ov.del, nil
	}
	_, closer, err := t.r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, t.storeFailed(err)
	}
	return true, closer.Close()
}
