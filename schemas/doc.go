// Package schemas is the publishers' contract for the data of every Compact event type, as JSON
// Schemas (draft 2020-12), and the validator the ledger runs on every event it ingests.
//
// # The contract files
//
// Each event type T of DESIGN.md has one schema, T.json (compact.meeting.held.json, ...), that
// describes the CloudEvent's "data" member. Definitions shared by several types (actors, dates,
// ISO 3166-1 alpha-3 codes, links, review sections, unit ids, the common activity fields' rules)
// live in defs.json and are referenced with "$ref". Every object is closed
// ("additionalProperties": false) so that a misspelt field is an error that names it, rather
// than data silently dropped; that is also why each activity schema lists the common activity
// fields itself (each one a "$ref" into defs.json) instead of composing them with allOf.
// Every schema's "$id" is https://compact.example/schemas/<file>; the ids are names, not
// addresses: the schemas are embedded in the binary ([FS]) and nothing is fetched.
//
// A publisher can check its events before sending them with any draft 2020-12 validator that
// asserts "format" (so that 2025-02-30 is not a date): load defs.json and the type's schema,
// validate the event's data. Two rules JSON Schema cannot express are checked here in Go and
// by the ledger: "end" is not before "start" (activities) and "to" is not before "from"
// (compact.platform.visits.counted). For compact.event.corrected the replacement "data" is
// validated by the ledger against the corrected event's type.
//
// The envelope (specversion, id, source, type, time, datacontenttype) is the ledger's to
// check; this package validates data only.
//
// # Examples
//
// examples/valid/*.json and examples/invalid/*.json are whole CloudEvents. Invalid ones carry
// the expected problem in two extra members, "x-expect-field" (a JSON pointer from the event
// root, e.g. /data/start) and "x-expect-message" (a substring of the message); [Examples]
// returns them without those members, for this package's tests and the ledger's.
//
// # Errors
//
// [Validator.Validate] returns a [*ValidationError] listing every problem as a JSON pointer
// relative to the data object and a short message ("/start: not a date (YYYY-MM-DD)",
// "/colour: unknown field"), most specific first, so that the ingest reply can name the field.
// [Validator.ValidateValue] does the same for data already decoded.
//
// # Cost
//
// The ledger validates every event it ingests, so the validator compiles the files into an
// equivalent but cheaper form: references to definitions copied in place (flatten.go), the
// contract's patterns matched by loops (pattern.go), long enums looked up in a set
// (enumset.go). On top of that, the quick verdict (verdict.go) compiles the same schemas into
// plain Go checks that say "valid" only when that is certain; every other event goes to the
// library, which gives the verdict and the words. The quick verdict reads objects as [Object]s
// (members in a slice), which a decoder that walks the bytes builds for less than maps. The files publishers read are unchanged; the
// tests compare the compiled form with the files compiled as they are, verdict and words, on
// the examples and under fuzzing (FuzzFlattened, which CI runs).
package schemas
