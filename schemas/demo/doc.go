// Package demo is the demo dataset of the Compact ledger: the May-June 2025 "Counter-Terrorism
// Compact in Review" (seed/000_b6121b9379eac46a.txt) as the events its entities would have
// published, plus the history the counters and the structure need, embedded in the binary.
//
// `compact serve --demo` issues credentials for [Entities] and publishes [Events] through the
// normal ingest path, in order, each as its source entity. Folded as of 2025-06-30 the events give
// the seed's "Compact in numbers"; the review of 2025-05 lists the seed's activities.
//
// The files are JSON Lines, one whole CloudEvent a line. activities.jsonl (the seed's activities)
// and structure.jsonl (working groups, coordination committee, secretariat) are written by hand;
// the rest, and entities.json, come from ./gen (go generate) and are checked in: a test
// regenerates them and fails on any difference. NOTES.md records the choices made where the
// seed is ambiguous.
package demo
