//go:build cgo

package ledger

// pebbleInGoHeap: with cgo, Pebble allocates its caches and memtables with C's calloc, outside the Go heap.
const pebbleInGoHeap = false
