//go:build !cgo

package ledger

// pebbleInGoHeap: without cgo, Pebble allocates its caches and memtables with make, in the Go heap.
const pebbleInGoHeap = true
