package projections

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"compact/ledger"
)

// Projection folds the ledger into one view.
//
// Contract:
//   - The runtime calls Apply from the one goroutine that follows the view's generation, in
//     stream order, once per (source, id): a duplicate of an event already applied is skipped by
//     the runtime before Apply sees it. Apply is never called concurrently for one generation.
//   - Apply reads and writes only through tx, which is scoped to the view's own key prefix: it
//     cannot see or touch another view, the checkpoint or the quarantine. It does no other I/O
//     and keeps no state outside tx between calls.
//   - Apply is deterministic: the same events in the same order give the same keys and values,
//     whatever the batch boundaries, restarts or the wall clock. A rebuild from sequence 1 and a
//     view that crashed and resumed many times must be equal key by key.
//   - An error from Apply (or a panic) means "this event cannot be applied": the runtime drops
//     every write Apply made for it, records it in the quarantine with the error and goes on.
//     Apply returns errors wrapping ErrInvalidData, ErrUnknownTarget or ErrRetracted for that.
//   - Version changes whenever the meaning of the stored keys changes; a stored generation with
//     another version is rebuilt beside the live one at start-up.
type Projection interface {
	Name() string
	Version() int
	Apply(tx *Tx, ev *Event) error
}

// Event is a stored event as a projection sees it.
type Event struct {
	Seq        uint64    // stream sequence
	LedgerTime time.Time // when the ledger appended it (the message timestamp)
	Subject    string
	ledger.Event
}

// Original is what the runtime remembers of every event a view applied: enough to resolve the
// target of a correction or retraction.
type Original struct {
	Seq  uint64
	Type string
}

// lifecycle types: they act on an earlier event and are never themselves targets.
const (
	TypeCorrected = "compact.event.corrected"
	TypeRetracted = "compact.event.retracted"
	TypeCurated   = "compact.review.curated"
)

// reader is read access to one key prefix of a Pebble reader (a snapshot for queries, an
// indexed batch for Apply). reads counts keys visited, so tests can show that a query's cost
// does not grow with the ledger.
type reader struct {
	r      pebble.Reader
	prefix []byte
	reads  int
}

// Get returns a copy of the value at key, or ok false.
func (s *reader) Get(key []byte) (val []byte, ok bool, err error) {
	s.reads++
	v, closer, err := s.r.Get(cat(s.prefix, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	val = append([]byte(nil), v...)
	return val, true, closer.Close()
}

// Scan calls fn for each key in [lower, upper) in order (keys without the prefix); fn returns
// false to stop. A nil upper means the end of the prefix.
func (s *reader) Scan(lower, upper []byte, fn func(key, val []byte) (bool, error)) error {
	return s.scan(lower, upper, false, fn)
}

// ScanReverse is Scan from the last key down.
func (s *reader) ScanReverse(lower, upper []byte, fn func(key, val []byte) (bool, error)) error {
	return s.scan(lower, upper, true, fn)
}

func (s *reader) scan(lower, upper []byte, reverse bool, fn func(key, val []byte) (bool, error)) error {
	lo := cat(s.prefix, lower)
	var hi []byte
	if upper == nil {
		hi = prefixEnd(s.prefix)
	} else {
		hi = cat(s.prefix, upper)
	}
	it, err := s.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	valid := false
	if reverse {
		valid = it.Last()
	} else {
		valid = it.First()
	}
	for ; valid; valid = step(it, reverse) {
		s.reads++
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		more, err := fn(it.Key()[len(s.prefix):], v)
		if err != nil || !more {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}

func step(it *pebble.Iterator, reverse bool) bool {
	if reverse {
		return it.Prev()
	}
	return it.Next()
}

// Last returns the greatest key in [lower, upper) and a copy of its value: one seek.
func (s *reader) Last(lower, upper []byte) (key, val []byte, ok bool, err error) {
	err = s.ScanReverse(lower, upper, func(k, v []byte) (bool, error) {
		key, val, ok = append([]byte(nil), k...), append([]byte(nil), v...), true
		return false, nil
	})
	return key, val, ok, err
}

// Tx is a projection's access to its view during one Apply: reads see every write of earlier
// events of the batch; writes land in the batch that also carries the checkpoint.
type Tx struct {
	reader
	b     *pebble.Batch
	base  []byte // generation prefix: the runtime's seen records live there
	notes map[string]struct{}

	fenwick fenwickCache // the counters' per-batch node cache (fenwick.go)
}

// flush writes what projections kept in memory during the batch; the runtime calls it before
// the checkpoint is written.
func (t *Tx) flush() error {
	if t.fenwick != nil {
		if err := t.fenwick.flush(t); err != nil {
			return err
		}
		t.fenwick = nil
	}
	return nil
}

func newTx(b *pebble.Batch, base []byte) *Tx {
	return &Tx{reader: reader{r: b, prefix: sub(base, subData)}, b: b, base: base, notes: map[string]struct{}{}}
}

// Set writes key (relative to the view's prefix).
func (t *Tx) Set(key, val []byte) error { return t.b.Set(cat(t.prefix, key), val, nil) }

// Delete deletes key (relative to the view's prefix).
func (t *Tx) Delete(key []byte) error { return t.b.Delete(cat(t.prefix, key), nil) }

// Notify records that the batch changed something a change-feed subscriber follows, e.g.
// "review:2025-05". The runtime hands the notes of a committed batch to the feed.
func (t *Tx) Notify(note string) { t.notes[note] = struct{}{} }

// Original returns what the view remembers of the event (source, id), if it applied one.
func (t *Tx) Original(source, id string) (Original, bool, error) {
	r := reader{r: t.b, prefix: t.base}
	v, ok, err := r.Get(sub(nil, subSeen, enc(source, id)))
	if err != nil || !ok {
		return Original{}, false, err
	}
	return decodeSeen(v), true, nil
}

func (t *Tx) markSeen(ev *Event) error {
	v := binary.BigEndian.AppendUint64(nil, ev.Seq)
	v = append(v, ev.Type...)
	return t.b.Set(sub(t.base, subSeen, enc(ev.Source, ev.ID)), v, nil)
}

func decodeSeen(v []byte) Original {
	if len(v) < 8 {
		return Original{}
	}
	return Original{Seq: binary.BigEndian.Uint64(v), Type: string(v[8:])}
}

// target resolves the event a correction or retraction names: it must be an earlier event of
// the same source that this view applied, and not itself a correction or retraction.
func (t *Tx) target(source, id, field string) (Original, error) {
	if id == "" {
		return Original{}, invalid(field, "missing: name the id of the event to act on")
	}
	o, ok, err := t.Original(source, id)
	if err != nil {
		return Original{}, err
	}
	if !ok {
		return Original{}, &DataError{Field: field, Err: ErrUnknownTarget,
			Message: fmt.Sprintf("no event %q of %s was applied before this one", id, source)}
	}
	if o.Type == TypeCorrected || o.Type == TypeRetracted {
		return Original{}, &DataError{Field: field, Err: ErrInvalidData,
			Message: fmt.Sprintf("event %q is a %s: correct or retract the original event instead", id, o.Type)}
	}
	return o, nil
}

// safeApply turns a panic of a projection into an error, so that odd data quarantines instead
// of crashing the process.
func safeApply(p Projection, tx *Tx, ev *Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = invalid("", "projection panicked: %v", r)
		}
	}()
	return p.Apply(tx, ev)
}
