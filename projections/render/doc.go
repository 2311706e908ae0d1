// Package render turns a bimonthly review (projections.Review) into what people and programs
// read: Markdown, a self-contained printable HTML page, and JSON; and serves them over HTTP with
// the home page that lists the periods.
//
// Every rendering says what it was built from: each item cites its event (source, id, sequence)
// and the review ends with the ledger range, view version and latest checkpoint it reflects. The
// HTML page needs nothing but itself: inline CSS with a print stylesheet, inline SVG charts, no
// script, no external assets; everything that came from an event is escaped by html/template.
package render
