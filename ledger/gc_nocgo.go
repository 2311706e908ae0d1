//go:build !cgo

package ledger

// Without cgo, Pebble allocates its caches and memtables with make, in the Go heap.
const pebbleInGoHeap = true
