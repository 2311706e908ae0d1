// Package projections is the read side of the Compact ledger: a runtime that folds the COMPACT
// stream into Pebble-backed views (counters, review, structure), the change feed, and the HTTP
// reads. The renderer of the review lives in projections/render and reads through Views.
//
// # Runtime
//
// Each view is a Projection (projection.go states the contract). For every view, one follower
// goroutine reads the stream with an ordered consumer from the view's own checkpoint + 1 and
// applies events in batches bounded by Config.BatchMaxCount and Config.BatchMaxWait. The view's
// writes and its checkpoint go into one Pebble batch committed with pebble.Sync; only then is
// the change message sent. Events at or below the checkpoint are skipped, and so is an event
// whose source+id the view already applied (a duplicate never counts twice, however late). So a
// crash at any point leaves a view that, resumed, equals the view rebuilt from sequence 1. The
// consumer's own state is never the source of truth.
//
// An event a projection cannot apply (bad data, a correction of an id the view never applied, a
// correction of a retracted event) is recorded in the view's quarantine with its error and
// skipped; it never blocks the view and shows in Status, GET /v1/status and the
// compact_view_quarantined_events metric. Corrections and retractions of unknown ids are
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
//	v\x00<view>\x00<gen8>k     checkpoint (last stream sequence applied)
//	v\x00<view>\x00<gen8>c     quarantine count
//	v\x00<view>\x00<gen8>s...  seen source+id → seq and type (duplicates, correction targets)
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
// unit. See the comments at the top of each view's file for its keys and rules.
//
// # Change feed
//
// FEED.md documents compact.views.counters, compact.views.review.<period> and the KV bucket
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
