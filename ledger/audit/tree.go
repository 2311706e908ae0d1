package audit

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// tree is the ledger's Merkle tree in Pebble: the tlog stored hashes (every leaf hash
// and every complete subtree's hash, about two per leaf, key = stored hash index) and
// the tree size. Leaf i is the message with stream sequence i+1.
//
// Keys under prefix:
//
//	"size"         uint64be tree size (= the last stream sequence folded)
//	"meta"         the leaf format and the stream name the tree folds
//	"h" uint64be i the stored hash with tlog index i (32 bytes)
//
// Hashes and size are written in one batch committed with pebble.Sync, so after any crash
// the tree is a prefix of the stream's tree, never a half-written one.
type tree struct {
	db     *pebble.DB
	prefix []byte
}

func (t *tree) key(parts ...[]byte) []byte {
	k := append([]byte(nil), t.prefix...)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func (t *tree) hashKey(index int64) []byte {
	return binary.BigEndian.AppendUint64(t.key([]byte("h")), uint64(index))
}

func (t *tree) get(key []byte) ([]byte, error) {
	v, closer, err := t.db.Get(key)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// Size is the number of leaves.
func (t *tree) Size() (uint64, error) {
	v, err := t.get(t.key([]byte("size")))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, &StateError{Detail: fmt.Sprintf("tree size under key %qsize is %d bytes, want 8", t.prefix, len(v)),
			Fix: "the checkpointer's Pebble state is damaged: delete it to rebuild from sequence 1"}
	}
	return binary.BigEndian.Uint64(v), nil
}

// checkMeta records what the tree folds at first use and refuses another stream later.
func (t *tree) checkMeta(stream string) error {
	want := LeafPrefix + stream
	v, err := t.get(t.key([]byte("meta")))
	if errors.Is(err, pebble.ErrNotFound) {
		return t.db.Set(t.key([]byte("meta")), []byte(want), pebble.Sync)
	}
	if err != nil {
		return err
	}
	if string(v) != want {
		return &StateError{Detail: fmt.Sprintf("the Pebble state under %q folds %q, not %q", t.prefix, v, want),
			Fix: "give this checkpointer its own key prefix or directory"}
	}
	return nil
}

// ReadHashes implements tlog.HashReader.
func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		v, err := t.get(t.hashKey(idx))
		if errors.Is(err, pebble.ErrNotFound) {
			level, n := tlog.SplitStoredHashIndex(idx)
			return nil, &StateError{Detail: fmt.Sprintf("tree hash %d (level %d, node %d) is missing from Pebble", idx, level, n),
				Fix: "the checkpointer's Pebble state is damaged: delete it to rebuild from sequence 1"}
		}
		if err != nil {
			return nil, err
		}
		if len(v) != tlog.HashSize {
			return nil, &StateError{Detail: fmt.Sprintf("tree hash %d is %d bytes", idx, len(v)),
				Fix: "the checkpointer's Pebble state is damaged: delete it to rebuild from sequence 1"}
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// Append adds leaves after the first size leaves, in one synced batch, and returns the
// new size. size must be the current size: the caller is the tree's only writer.
func (t *tree) Append(size uint64, leaves []tlog.Hash) (uint64, error) {
	if len(leaves) == 0 {
		return size, nil
	}
	pending := make(map[int64]tlog.Hash)
	read := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		var missing []int64
		var at []int
		for i, idx := range indexes {
			if h, ok := pending[idx]; ok {
				out[i] = h
			} else {
				missing = append(missing, idx)
				at = append(at, i)
			}
		}
		if len(missing) > 0 {
			hs, err := t.ReadHashes(missing)
			if err != nil {
				return nil, err
			}
			for j, i := range at {
				out[i] = hs[j]
			}
		}
		return out, nil
	})
	b := t.db.NewBatch()
	defer b.Close()
	n := int64(size)
	for _, leaf := range leaves {
		hashes, err := tlog.StoredHashesForRecordHash(n, leaf, read)
		if err != nil {
			return size, err
		}
		base := tlog.StoredHashIndex(0, n)
		for j, h := range hashes {
			pending[base+int64(j)] = h
			if err := b.Set(t.hashKey(base+int64(j)), h[:], nil); err != nil {
				return size, err
			}
		}
		n++
	}
	if err := b.Set(t.key([]byte("size")), binary.BigEndian.AppendUint64(nil, uint64(n)), nil); err != nil {
		return size, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return size, fmt.Errorf("commit tree hashes to Pebble: %w", err)
	}
	return uint64(n), nil
}

// Root is the root hash of the tree of the first n leaves (n ≤ Size).
func (t *tree) Root(n uint64) (tlog.Hash, error) {
	return tlog.TreeHash(int64(n), t)
}

// LeafHashes returns the leaf hashes of stream sequences from..to (inclusive).
func (t *tree) LeafHashes(from, to uint64) ([]tlog.Hash, error) {
	if from == 0 || to < from {
		return nil, fmt.Errorf("leaf range %d..%d: sequences start at 1 and to must be ≥ from", from, to)
	}
	idx := make([]int64, 0, to-from+1)
	for s := from; s <= to; s++ {
		idx = append(idx, tlog.StoredHashIndex(0, int64(s-1)))
	}
	return t.ReadHashes(idx)
}
