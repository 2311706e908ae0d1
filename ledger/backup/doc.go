// Package backup copies a running ledger into one file and restores such a file into a new
// data directory.
//
// What a ledger cannot rebuild is its streams (COMPACT, the events; COMPACT_CHECKPOINTS, the
// signed checkpoints), its entities (entities.json: who may publish, with the hashes of their
// credentials) and its signing key. Everything else in a data directory is a fold of the
// stream that serve rebuilds when it is missing: the dedup index, the views, the Merkle
// tree's hashes, the change feed's bucket. A backup holds the first three and leaves the
// folds out; the signing key stays out too (ledger.pub, the verifier key, is in): a secret
// copied into every backup file lives wherever those files go. Keep ledger.key once, apart,
// and give it to the restore.
//
// The streams are copied with JetStream's own snapshot (the API `nats stream backup` uses),
// while the ledger runs: each is a point-in-time copy, byte for byte, sequences, ledger times
// and headers included. The checkpoint stream is copied before the event stream, so that
// every checkpoint in a backup covers events that are in it, and `compact verify` passes on
// the restored ledger with the same verifier key.
//
// # File format
//
// An uncompressed tar (the stream archives are compressed by the server already):
//
//	streams/COMPACT_CHECKPOINTS/backup.json     the stream's configuration and state
//	streams/COMPACT_CHECKPOINTS/stream.arc.s2   the server's snapshot of it
//	streams/COMPACT/backup.json
//	streams/COMPACT/stream.arc.s2
//	entities.json
//	ledger.pub
//	manifest.json                               last: the format, when, and each entry's size and SHA-256
//
// A stream's two files are what `nats stream restore DIR` reads, so a backup can also be
// restored into a NATS cluster with the nats CLI. A file without its manifest, or whose
// entries do not match it, is incomplete: Check and Restore refuse it.
package backup
