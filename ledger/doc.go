// Package ledger is the write side of Compact ledger and its log.
//
// An entity's system sends CloudEvents (one, or a batch) to the ingest service — the NATS
// request subject compact.ingest.<ENTITY> or HTTP POST /v1/events. The [Ingester] decodes
// and validates each event (envelope here, data against the JSON Schemas of package
// schemas), checks that the authenticated entity may publish it, and hands it to the
// [Appender]. The Appender is the single writer of the COMPACT stream in this process: it
// gathers whatever events are waiting into one JetStream atomic batch (one fsync for the
// lot with the server's SyncAlways), makes the batch conditional on the stream's last
// sequence, and keeps a Pebble index of every source+id ever stored so that a re-sent
// event is a no-op forever, not only inside JetStream's deduplication window.
//
// The index is itself a fold of the stream: it records the last sequence it covers, and
// catches up from the stream on start and whenever a conditional append finds that
// someone else has written. So it can be lost or be behind after a crash without ever
// letting a duplicate in.
//
// The package also runs the embedded NATS server ([Server]) with one NATS account per
// entity, so that an entity can only reach its own ingest subject and its own replies.
package ledger
