package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// Index maps every source+id the ledger holds to its stream sequence and type, and knows
// which events a stored compact.event.retracted retracts. It is a
// fold of the COMPACT stream and records the last sequence it covers in the same Pebble
// batch as the entries, so that after any crash it is consistent, possibly behind, and
// catches up from the stream (Appender.catchUp).
//
// Writes are not fsynced: losing the tail of the index in a machine crash costs a
// catch-up, never correctness. Only the Appender's goroutine writes; reads are safe from
// any goroutine.
type Index struct {
	db *pebble.DB
}

var indexLastKey = []byte("\x00last")

// indexVersionKey holds the index's version. Version 2 also records retractions ('r'
// keys): an index written before (no version) is folded again from the stream's start.
var indexVersionKey = []byte("\x00version")

const indexVersion = 2

// OpenIndex opens (creating if needed) the index in dir.
func OpenIndex(dir string) (*Index, error) {
	// Nearly every lookup is for an id the ledger has never seen, so every level has a
	// Bloom filter: such a miss costs no data block however large the index grows. The
	// cache holds the index blocks and filters of a ledger of millions of events.
	o := &pebble.Options{Logger: quietPebbleLogger{}, Cache: pebble.NewCache(indexCacheBytes)}
	defer o.Cache.Unref()
	o.Levels[0].FilterPolicy = bloom.FilterPolicy(10) // later levels inherit it
	db, err := pebble.Open(dir, o)
	if err != nil {
		return nil, fmt.Errorf("open the dedup index %s: %w", dir, err)
	}
	if err := upgradeIndex(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open the dedup index %s: %w", dir, err)
	}
	return &Index{db: db}, nil
}

// upgradeIndex makes an index of an earlier version fold the stream again from its start:
// its entries are rewritten as they are, and what it did not record is added.
func upgradeIndex(db *pebble.DB) error {
	v, closer, err := db.Get(indexVersionKey)
	if err == nil {
		ok := len(v) == 1 && v[0] == indexVersion
		closer.Close()
		if ok {
			return nil
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	b := db.NewBatch()
	defer b.Close()
	if err := b.Delete(indexLastKey, nil); err != nil {
		return err
	}
	if err := b.Set(indexVersionKey, []byte{indexVersion}, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// Close closes the index.
func (ix *Index) Close() error { return ix.db.Close() }

func indexKey(source, id string) []byte {
	k := make([]byte, 0, 1+len(source)+1+len(id))
	k = append(k, 'e')
	k = append(k, source...)
	k = append(k, 0)
	return append(k, id...)
}

func retractedKey(source, id string) []byte {
	k := make([]byte, 0, 1+len(source)+1+len(id))
	k = append(k, 'r')
	k = append(k, source...)
	k = append(k, 0)
	return append(k, id...)
}

// Retracted reports whether the ledger holds a retraction of source+id, and its sequence.
func (ix *Index) Retracted(source, id string) (uint64, bool, error) {
	v, closer, err := ix.db.Get(retractedKey(source, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer closer.Close()
	seq, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, false, fmt.Errorf("dedup index: corrupt retraction of %s %s", source, id)
	}
	return seq, true, nil
}

// IndexEntry is what the index knows of one stored event.
type IndexEntry struct {
	Seq  uint64
	Type string
}

// Lookup returns the entry of source+id, if the index has it.
func (ix *Index) Lookup(source, id string) (IndexEntry, bool, error) {
	v, closer, err := ix.db.Get(indexKey(source, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return IndexEntry{}, false, nil
	}
	if err != nil {
		return IndexEntry{}, false, err
	}
	defer closer.Close()
	seq, n := binary.Uvarint(v)
	if n <= 0 {
		return IndexEntry{}, false, fmt.Errorf("dedup index: corrupt entry for %s %s", source, id)
	}
	return IndexEntry{Seq: seq, Type: string(v[n:])}, true, nil
}

// Last is the last stream sequence the index covers.
func (ix *Index) Last() (uint64, error) {
	v, closer, err := ix.db.Get(indexLastKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, errors.New("dedup index: corrupt last sequence")
	}
	return binary.BigEndian.Uint64(v), nil
}

// indexBatch collects entries to commit together with the new last sequence.
type indexBatch struct{ b *pebble.Batch }

func (ix *Index) newBatch() indexBatch { return indexBatch{ix.db.NewBatch()} }

func (b indexBatch) add(source, id string, seq uint64, typ string) {
	v := binary.AppendUvarint(make([]byte, 0, 10+len(typ)), seq)
	v = append(v, typ...)
	b.b.Set(indexKey(source, id), v, nil)
}

// retracted records that the event at seq retracts source+id.
func (b indexBatch) retracted(source, id string, seq uint64) {
	b.b.Set(retractedKey(source, id), binary.AppendUvarint(nil, seq), nil)
}

func (b indexBatch) commit(last uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], last)
	b.b.Set(indexLastKey, v[:], nil)
	err := b.b.Commit(pebble.NoSync)
	b.b.Close()
	return err
}

// quietPebbleLogger drops Pebble's informational lines and keeps errors on stderr.
type quietPebbleLogger struct{}

func (quietPebbleLogger) Infof(string, ...any)      {}
func (quietPebbleLogger) Errorf(f string, a ...any) { pebble.DefaultLogger.Errorf(f, a...) }
func (quietPebbleLogger) Fatalf(f string, a ...any) { pebble.DefaultLogger.Fatalf(f, a...) }

// Compacting reports whether the index's store is compacting or flushing now: the state
// right after a bulk catch-up, which measurements wait out.
func (ix *Index) Compacting() bool { return compacting(ix.db) }

// Flush writes what the index holds in memory to its tables and waits for it: a measurement
// starts from that known state rather than wherever the last writes left the memtable.
func (ix *Index) Flush() error { return ix.db.Flush() }

// compacting reports whether db is flushing or compacting. Pebble's estimated compaction debt
// is no sign of work to come: it stays above zero while level 0 holds any table, and Pebble
// compacts level 0 only from a number of tables on.
func compacting(db *pebble.DB) bool {
	m := db.Metrics()
	return m.Compact.NumInProgress > 0 || m.Flush.NumInProgress > 0
}
