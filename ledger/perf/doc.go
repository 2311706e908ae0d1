// Package perf measures the write side beside the raw limits of JetStream on the same
// machine, in the same run, with the same message sizes and the same durability: the
// figures `go test -bench` and `compact bench` report. Nothing here asserts a time.
package perf
