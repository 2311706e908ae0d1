//go:build cgo

package ledger

// With cgo, Pebble allocates its caches and memtables with C's calloc, outside the Go heap.
const pebbleInGoHeap = false
