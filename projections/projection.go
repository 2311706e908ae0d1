package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
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
//     and keeps no state outside tx between calls. The one read beyond the view is of the
//     ledger itself: tx gives back an earlier event from the stream, immutable at its sequence,
//     so that a view need not keep what an event did when its data says it (original.go).
//   - Apply is deterministic: the same events in the same order give the same keys and values,
//     whatever the batch boundaries, restarts or the wall clock. A rebuild from sequence 1 and a
//     view that crashed and resumed many times must be equal key by key.
//   - An error from Apply (or a panic) means "this event cannot be applied": the runtime drops
//     every write Apply made for it, records it in the quarantine with the error and goes on.
//     Apply returns errors wrapping ErrInvalidData, ErrUnknownTarget or ErrRetracted for that.
//     The exception is an Apply during which a read of tx failed (the store's or the ledger's
//     trouble, which tx notes): the runtime then drops the whole batch and tries it again, and
//     the event is applied once the store reads again, never quarantined for it.
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

// Original is what the runtime remembers of every event of the stream (the first with its
// source+id): enough to resolve the target of a correction or retraction.
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

// reader is read access to one key prefix of a Pebble reader (a snapshot for queries, the DB
// for Apply). reads counts keys visited, so tests can show that a query's cost
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
// events of the batch and of this Apply; writes land in the batch that also carries the
// checkpoint.
//
// The writes of one Apply can be undone until it returns: when it fails, the runtime drops
// them, and the rollbacks registered by the projection's memos, so a bad event leaves nothing
// behind and the batch goes on with the next event, with no redo and no extra commit. Every
// write of the batch is held in its overlay (overlay.go) and goes into a Pebble batch when it is
// committed; the reader reads the DB, which does not see them.
type Tx struct {
	reader        // the DB as of the last commit
	base   []byte // generation prefix
	f      *follower
	memo   *memo
	seq    uint64 // of the event being applied
	ctx    context.Context
	notes  map[string]struct{}

	batch    overlay  // every write of the batch, this Apply's included
	evNotes  []string // this Apply's notes
	rollback []func() // undoes this Apply's changes to the memos, in reverse
	kbuf     []byte   // the full key of the current Get or Set

	// pb is the Pebble batch flush fills, reset and reused after each commit: a fresh batch of
	// a catch-up's megabytes is fresh memory, which the kernel faults in page by page.
	pb *pebble.Batch

	// storeErr is the first read of the store that failed during this Apply. An Apply that
	// fails after one failed for the store's sake, not the event's: the runtime tries the
	// batch again rather than quarantine a valid event.
	storeErr error
}

// storeFailed records a failed read of the store (the first of the Apply).
func (t *Tx) storeFailed(err error) error {
	if t.storeErr == nil {
		t.storeErr = err
	}
	return err
}

// batchRetainMax bounds the room a follower's Pebble batch keeps from one commit to the next.
const batchRetainMax = 64 << 20

// batchTx returns the follower's Tx, empty, for a new batch. It is the same Tx from batch to
// batch, so that its overlay keeps the room a batch needs rather than grow again each time.
func (f *follower) batchTx() *Tx {
	t := f.tx
	if t == nil {
		t = &Tx{reader: reader{r: f.v.db, prefix: sub(f.base, subData)}, base: f.base, f: f}
		t.batch.init()
		f.tx = t
	}
	t.memo, t.seq, t.reads = f.memo, 0, 0
	t.notes = map[string]struct{}{} // handed to the feed
	t.batch.reset()
	t.evNotes, t.rollback = t.evNotes[:0], t.rollback[:0]
	return t
}

// keep ends the Apply that just succeeded: its writes stay in the batch.
func (t *Tx) keep() error {
	t.batch.keep()
	for _, n := range t.evNotes {
		t.notes[n] = struct{}{}
	}
	t.evNotes = t.evNotes[:0]
	t.rollback = t.rollback[:0]
	return nil
}

// drop forgets every change of the Apply that just failed.
func (t *Tx) drop() {
	for i := len(t.rollback) - 1; i >= 0; i-- {
		t.rollback[i]()
	}
	t.rollback = t.rollback[:0]
	t.batch.rollback()
	t.evNotes = t.evNotes[:0]
}

// onRollback registers how to undo a change to a memo if the current Apply fails.
func (t *Tx) onRollback(fn func()) { t.rollback = append(t.rollback, fn) }

// flush writes what projections kept in memory during the batch into the overlay, then returns
// a Pebble batch of every write of the overlay, in key order; the runtime calls it once the
// checkpoint is in the overlay, and commits the batch.
func (t *Tx) flush() (*pebble.Batch, error) {
	if err := t.memo.fenwick.flush(t); err != nil {
		return nil, err
	}
	b := t.pb
	if b == nil {
		b = t.f.v.db.NewBatchWithSize(t.batch.size, pebble.WithMaxRetainedSizeBytes(batchRetainMax))
		t.pb = b
	}
	for _, k := range t.batch.all() {
		ov := t.batch.vals[k]
		var err error
		if ov.del {
			err = b.Delete(unsafeBytes(k), nil)
		} else {
			err = b.Set(unsafeBytes(k), ov.val, nil)
		}
		if err != nil {
			t.dropBatch()
			return nil, err
		}
	}
	return b, nil
}

// committed readies the Pebble batch for the next flush once the runtime is done with it:
// reset for reuse after a commit, closed and forgotten after a failure.
func (t *Tx) committed(err error) {
	if err != nil || t.pb == nil {
		t.dropBatch()
		return
	}
	t.pb.Reset()
}

func (t *Tx) dropBatch() {
	if t.pb != nil {
		_ = t.pb.Close()
		t.pb = nil
	}
}

// full sets kbuf to the full key of key (relative to the view's prefix).
func (t *Tx) full(key []byte) []byte {
	t.kbuf = append(append(t.kbuf[:0], t.prefix...), key...)
	return t.kbuf
}

// Set writes key (relative to the view's prefix).
func (t *Tx) Set(key, val []byte) error {
	t.batch.set(t.full(key), value{val: append([]byte(nil), val...)})
	return nil
}

// setOwn is Set of a val the caller hands over: it never uses it again, so it is not copied.
// The views of this package build every value they write afresh.
func (t *Tx) setOwn(key, val []byte) error {
	t.batch.set(t.full(key), value{val: val})
	return nil
}

// Delete deletes key (relative to the view's prefix).
func (t *Tx) Delete(key []byte) error {
	t.batch.set(t.full(key), value{del: true})
	return nil
}

// batchMemoMax is the largest value read from the DB that the overlay keeps: the hot keys are
// small, the large values (a review item) are read rarely.
const batchMemoMax = 64

// Get returns a copy of the value at key, or ok false. A key the batch wrote or read already
// is answered from memory: the hot keys (a period's count and version, the latest date) are
// read once per batch.
func (t *Tx) Get(key []byte) (val []byte, ok bool, err error) {
	full := t.full(key)
	t.reads++
	if ov, found := t.batch.get(string(full)); found {
		if ov.del {
			return nil, false, nil
		}
		return append([]byte(nil), ov.val...), true, nil
	}
	v, closer, err := t.r.Get(full)
	if errors.Is(err, pebble.ErrNotFound) {
		t.batch.cache(string(full), value{del: true})
		return nil, false, nil
	}
	if err != nil {
		return nil, false, t.storeFailed(err)
	}
	val = append([]byte(nil), v...)
	if err := closer.Close(); err != nil {
		return nil, false, t.storeFailed(err)
	}
	if len(val) > batchMemoMax {
		return val, true, nil
	}
	t.batch.cache(string(full), value{val: val})
	return append([]byte(nil), val...), true, nil
}

// Scan calls fn for each key in [lower, upper) in order (keys without the prefix); fn returns
// false to stop. A nil upper means the end of the prefix.
func (t *Tx) Scan(lower, upper []byte, fn func(key, val []byte) (bool, error)) error {
	return t.scan(lower, upper, false, fn)
}

// ScanReverse is Scan from the last key down.
func (t *Tx) ScanReverse(lower, upper []byte, fn func(key, val []byte) (bool, error)) error {
	return t.scan(lower, upper, true, fn)
}

// Last returns the greatest key in [lower, upper) and a copy of its value.
func (t *Tx) Last(lower, upper []byte) (key, val []byte, ok bool, err error) {
	err = t.ScanReverse(lower, upper, func(k, v []byte) (bool, error) {
		key, val, ok = append([]byte(nil), k...), append([]byte(nil), v...), true
		return false, nil
	})
	return key, val, ok, err
}

// scan merges the writes of the batch in [lower, upper) into the DB's keys.
func (t *Tx) scan(lower, upper []byte, reverse bool, fn func(key, val []byte) (bool, error)) error {
	lo := string(cat(t.prefix, lower))
	var hi string
	if upper == nil {
		hi = string(prefixEnd(t.prefix))
	} else {
		hi = string(cat(t.prefix, upper))
	}
	mine := t.batch.written(nil, lo, hi)
	// An error fn returns is the projection's; any other is the store's.
	var fnErr error
	if len(mine) == 0 {
		err := t.reader.scan(lower, upper, reverse, func(k, v []byte) (bool, error) {
			more, err := fn(k, v)
			fnErr = err
			return more, err
		})
		if err != nil && err != fnErr {
			t.storeFailed(err)
		}
		return err
	}
	if reverse {
		slices.Reverse(mine)
	}
	// before says whether key a comes before key b in the scan's direction.
	before := func(a, b string) bool {
		if reverse {
			return a > b
		}
		return a < b
	}
	// the values now: fn may write
	pending := make([]value, len(mine))
	for i, k := range mine {
		pending[i] = t.batch.vals[k].value
	}
	emit := func(k string, v value) (bool, error) {
		t.reads++
		if v.del {
			return true, nil
		}
		return fn([]byte(k[len(t.prefix):]), v.val)
	}
	stopped := false
	err := t.reader.scan(lower, upper, reverse, func(k, v []byte) (more bool, err error) {
		defer func() { fnErr = err }()
		full := string(t.prefix) + string(k)
		for len(mine) > 0 && (before(mine[0], full) || mine[0] == full) {
			same := mine[0] == full
			more, err := emit(mine[0], pending[0])
			mine, pending = mine[1:], pending[1:]
			if err != nil || !more {
				stopped = true
				return false, err
			}
			if same {
				return true, nil // a write of the batch replaces the stored key
			}
		}
		more, err = fn(k, v)
		if !more {
			stopped = true
		}
		return more, err
	})
	if err != nil && err != fnErr {
		t.storeFailed(err)
	}
	if err != nil || stopped {
		return err
	}
	for i := range mine {
		more, err := emit(mine[i], pending[i])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Notify records that the batch changed something a change-feed subscriber follows, e.g.
// "review:2025-05". The runtime hands the notes of a committed batch to the feed.
func (t *Tx) Notify(note string) { t.evNotes = append(t.evNotes, note) }

// Original returns the first event (source, id) of the stream before the one being applied,
// if there is one (index.go): an event the view applied, or quarantined.
func (t *Tx) Original(source, id string) (Original, bool, error) {
	o, ok, err := t.f.v.lookup(source, id, t.seq)
	if err != nil {
		t.storeFailed(err)
	}
	return o, ok, err
}

// seenTypes are the types an entry of the ledger index (index.go) stores as one byte (its
// index + 1) rather than by name: the entry of nearly every event is then 9 bytes. The list
// only grows at its end. An entry of another type keeps the name; every type starts with
// "compact.", so such an entry is at least 16 bytes long and the length says which form it has.
var seenTypes = []string{
	"compact.entity.joined", "compact.entity.left", "compact.focal_point.registered",
	"compact.focal_point.removed", "compact.document.shared", "compact.platform.visits.counted",
	"compact.recommendations.issued", "compact.counter.opened", "compact.meeting.held",
	"compact.training.delivered", "compact.visit.conducted", "compact.agreement.signed",
	"compact.assistance.provided", "compact.publication.released", "compact.statement.made",
	"compact.announcement.made", TypeCorrected, TypeRetracted, TypeCurated, typeStructure,
}

var seenCode = func() map[string]byte {
	m := map[string]byte{}
	for i, t := range seenTypes {
		m[t] = byte(i + 1)
	}
	return m
}()

func encodeSeen(seq uint64, typ string) []byte {
	return appendSeen(make([]byte, 0, 8+len(typ)), seq, typ)
}

func appendSeen(b []byte, seq uint64, typ string) []byte {
	b = binary.BigEndian.AppendUint64(b, seq)
	if c, ok := seenCode[typ]; ok {
		return append(b, c)
	}
	return append(b, typ...)
}

func decodeSeen(v []byte) Original {
	switch {
	case len(v) < 8:
		return Original{}
	case len(v) == 9 && int(v[8]) >= 1 && int(v[8]) <= len(seenTypes):
		return Original{Seq: binary.BigEndian.Uint64(v), Type: seenTypes[v[8]-1]}
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
