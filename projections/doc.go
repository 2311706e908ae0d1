// Package projections is the read side of the Compact ledger: a runtime that folds the COMPACT
// stream into Pebble-backed views (counters, review, structure), the change feed, and the HTTP
// reads. The renderer of the review lives in projections/render and reads through Views.
//
// # Runtime
//
// Each view is a Projection (projection.go states the contract). The generations being
// followed are grouped (runtime.go): the live generation of every view in one group, a rebuild
// in another. A group reads the stream once, with one ordered consumer from the lowest
// checkpoint of its members + 1, and decodes each message once, in a reader goroutine that
// keeps chunks ready ahead; its members (one per view) apply each batch in parallel, each in its
// own Pebble batch with its own checkpoint, committed with pebble.Sync; only then is the change
// message sent. A batch is bounded by Config.BatchMaxCount and BatchMaxBytes; while the stream
// has more pending (a rebuild, a restart after a pause) it fills up, so one commit serves
// thousands of events, and at the head of the stream it waits at most BatchMaxWait. Events at or
// below a member's checkpoint are skipped, and so is a duplicate: an event whose source+id an
// earlier event of the stream had (index.go), however late. So a crash at any point leaves a
// view that, resumed, equals the view rebuilt from sequence 1. The consumer's own state is
// never the source of truth.
//
// The writes of one Apply are held apart until it returns (Tx), so an event that fails is
// dropped from the batch with all its writes and the batch goes on. What a follower reads most
// (Fenwick nodes, actor rows, timelines, which items are curated) it keeps in memory (memo.go),
// changed together with the keys and thrown away whenever a batch does not commit.
//
// An event a projection cannot apply (bad data, a correction of an id the view never applied, a
// correction of a retracted event) is recorded in the view's quarantine with its error and
// skipped; it never blocks the view and shows in Status, GET /v1/status and the
// compact_view_quarantined_events metric. A read of the store that fails under an Apply is not
// the event's fault: the batch is tried again (the view's last error says why) rather than a
// valid event quarantined until a rebuild. Corrections and retractions of unknown ids are
// quarantined rather than remembered: the ledger refuses them at ingest, so one in the stream
// is an anomaly to see, not a case to wait for. A curation (compact.review.curated) of an item
// not seen yet is remembered and applies when the item arrives.
//
// # Key layout
//
// One Pebble holds every view:
//
//	m\x00live\x00<view>        {"gen","version"} of the generation queries read
//	m\x00building\x00<view>    the same, of a rebuild in progress
//	m\x00nextgen\x00<view>     last generation number handed out
//	m\x00index                the ledger index's checkpoint (index.go)
//	x\x00...                  the ledger index: source+id → seq and type of its first event
//	                          (duplicates, correction targets), shared by every view
//	v\x00<view>\x00<gen8>k     checkpoint (last stream sequence applied)
//	v\x00<view>\x00<gen8>c     quarantine count
//	v\x00<view>\x00<gen8>q...  quarantine entries by sequence
//	v\x00<view>\x00<gen8>d...  the projection's own keys (counters.go, review.go, structure.go)
//
// A rebuild (rebuild.go) writes a new generation from sequence 1 beside the live one; queries
// keep reading the live one until one batch points the view at the new generation and deletes
// the old. At start-up a view whose stored version differs from the code's is rebuilt the same
// way.
//
// # Views
//
// Counters answer as of any date in a bounded number of point reads (a Fenwick tree over days,
// fenwick.go); the review reads one period with one prefix scan; the structure reads one seek per
// unit. See the comments at the top of each view's file for its keys and rules. The parts of an
// assembled review are kept in memory under the state of their view (reviewcache.go), so a
// review asked again costs a few point reads and a copy.
//
// # Change feed
//
// The README (section "The change feed") documents compact.views.counters, compact.views.review.<period> and the KV bucket
// COMPACT_VIEWS for reporting jobs.
//
// # Processes, HTTP and operations
//
// Views needs only a Pebble directory and a JetStream handle (Config), so the read side runs in
// the ingest process (compact serve --role all) or in its own process against a NATS cluster
// (--role projections), and any number of read replicas can each keep their own copy. Open
// prepares, Start follows, Close cancels and waits. BuildAsKnown builds the views as they were
// known at a ledger time into a fresh directory, for auditors.
//
// Routes registers GET /v1/counters, /v1/structure and /v1/status behind the caller's guard;
// AdminRoutes registers POST /v1/admin/rebuild/{view|all} (what `compact rebuild` calls; it
// waits for the swap unless ?wait=false) and GET /v1/admin/quarantine/{view} behind the admin
// check. Metrics (compact_view_*) are registered on Config.Registry.
package projections
