package projections

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// The ledger index: what every view needs to know of the events before the one it applies,
// kept once for all of them. For each source+id it holds the sequence and type of the first
// event with that source+id that could be decoded:
//
//	x\x00 enc(source) enc(id)   seq and type (encodeSeen)
//	m\x00index                  the index's checkpoint: every event up to it is indexed
//
// Whether an event at sequence s is a duplicate, and what the target of a correction at s is,
// are then questions about the stream before s, not about a view: an entry with a sequence
// below s answers them, an entry at or after s (written by a group further ahead) means "not
// before s". So one index serves every generation of every view, a rebuild beside the live
// views included, and a view's batch carries only its own keys.
//
// A group's reader indexes each chunk of messages before handing it to the members: in one
// batch, the new entries and the new checkpoint, committed without waiting for the disk. The
// members' batches are committed after it, each with Sync, and Pebble's log is written and
// synced in commit order, so a view's checkpoint that survives a crash implies the index up to
// it survived too: the index is never behind a view.
//
// The index is derived from the stream like the views; it is keyed by stream sequence like
// their checkpoints.
const (
	indexSpace = "x\x00"
	metaIndex  = "m\x00index"
)

func indexKey(source, id string) []byte {
	return appendIndexKey(make([]byte, 0, len(indexSpace)+len(source)+len(id)+4), source, id)
}

// appendIndexKey appends indexKey(source, id) to b.
func appendIndexKey(b []byte, source, id string) []byte {
	return appendStr(appendStr(append(b, indexSpace...), source), id)
}

// indexer writes the index; Views has one, shared by the readers of every group.
type indexer struct {
	mu sync.Mutex
	ck uint64 // the stored checkpoint of the index

	// the chunk being indexed, reused from chunk to chunk (under mu)
	keys    []byte
	entries []ixEntry
}

// loadIndex reads the index's checkpoint at Open.
func (v *Views) loadIndex() error {
	ck, err := v.storedU64(v.db, []byte(metaIndex))
	v.index.ck = ck
	return err
}

// indexChunk marks the items of a chunk that an earlier event of the stream had the source+id
// of (prior), and indexes the others, with the chunk's last sequence as the new checkpoint.
// fs, when the reader reads from sequence 1, knows which events are certainly the first with
// their source+id, so most events of a build cost no read.
func (v *Views) indexChunk(items []item, fs *firsts) error {
	ix := &v.index
	ix.mu.Lock()
	defer ix.mu.Unlock()
	// The new entries, their keys in one buffer reused from chunk to chunk. (Sorting them
	// spares Pebble's memtable part of its search for each, but cost as much as it saved:
	// ledger/perf/NOTES.md, ninth round.)
	ix.keys, ix.entries = ix.keys[:0], ix.entries[:0]
	last := uint64(0)
	for i := range items {
		it := &items[i]
		last = max(last, it.seq)
		if it.ev == nil {
			continue
		}
		first := fs.first(it.ev.Source, it.ev.ID)
		if first && it.seq <= ix.ck {
			continue // indexed already, as its own first
		}
		at := len(ix.keys)
		ix.keys = appendIndexKey(ix.keys, it.ev.Source, it.ev.ID)
		e := ixEntry{from: at, to: len(ix.keys), seq: it.seq, typ: it.ev.Type}
		if !first {
			k := ix.keys[e.from:e.to]
			if s, ok := ix.pending(k); ok {
				ix.keys = ix.keys[:at]
				it.prior = s < it.seq
				continue
			}
			val, closer, err := v.db.Get(k)
			switch {
			case errors.Is(err, pebble.ErrNotFound):
			case err != nil:
				return fmt.Errorf("views: read the ledger index: %w", err)
			default:
				o := decodeSeen(val)
				_ = closer.Close()
				ix.keys = ix.keys[:at]
				if o.Seq < it.seq {
					it.prior = true
				}
				continue // a first occurrence at it.seq, or after: indexed by a reader further on
			}
		}
		ix.entries = append(ix.entries, e)
	}
	if last <= ix.ck && len(ix.entries) == 0 {
		return nil
	}
	b := v.db.NewBatch()
	defer b.Close()
	var seen []byte // reused: the batch copies it
	for _, e := range ix.entries {
		seen = appendSeen(seen[:0], e.seq, e.typ)
		if err := b.Set(ix.keys[e.from:e.to], seen, nil); err != nil {
			return err
		}
	}
	if err := b.Set([]byte(metaIndex), u64(max(last, ix.ck)), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("views: write the ledger index: %w", err)
	}
	ix.ck = max(last, ix.ck)
	return nil
}

// ixEntry is an entry of the chunk being indexed: its key is keys[from:to] of the indexer.
type ixEntry struct {
	from, to int
	seq      uint64
	typ      string
}

// pending returns the sequence of the chunk's entry with key k, if it has one. Only an event
// the filter of firsts may have seen asks, so a scan of the chunk's entries does.
func (ix *indexer) pending(k []byte) (uint64, bool) {
	for _, e := range ix.entries {
		if bytes.Equal(ix.keys[e.from:e.to], k) {
			return e.seq, true
		}
	}
	return 0, false
}

// lookup returns the first event with source+id before sequence before, if any. The index
// holds every event the members are applying, since readers index before they hand over.
func (v *Views) lookup(source, id string, before uint64) (Original, bool, error) {
	val, closer, err := v.db.Get(indexKey(source, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return Original{}, false, nil
	}
	if err != nil {
		return Original{}, false, fmt.Errorf("views: read the ledger index: %w", err)
	}
	defer closer.Close()
	o := decodeSeen(val)
	if o.Seq >= before {
		return Original{}, false, nil
	}
	return o, true, nil
}
