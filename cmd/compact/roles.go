package main

import (
	"net/http"

	"compact/ledger"
)

// readPatterns and writePatterns are the HTTP endpoints of the two roles a process can
// have alone (--role projections, --role ingest). The registrations themselves are in
// projections, projections/render, ledger and ledger/audit; these lists only name them for
// a process without that role.
var (
	readPatterns = []string{
		"GET /{$}", "GET /reviews/{period}", "GET /reviews/{period}/{$}", "GET /reviews/{$}", "GET /reviews",
		"GET /v1/reviews/{period}", "GET /v1/reviews/{period}/changes", "GET /v1/reviews/{period}/as-known",
		"GET /v1/counters", "GET /v1/counters/as-known", "GET /v1/structure", "GET /v1/status",
		"POST /v1/admin/rebuild/{view}", "GET /v1/admin/quarantine/{view}",
	}
	writePatterns = []string{
		"POST /v1/events", "GET /v1/events",
		"GET /v1/key", "GET /v1/checkpoints", "GET /v1/audit/messages", "GET /v1/audit/leaves",
		"GET /v1/proofs", "GET /v1/proofs/{entity}/{id}", "GET /v1/admin/backup",
	}
)

// elsewhereRoutes answers the endpoints of the role this process does not have with a 404
// in the API's error shape that says where they are served: a bare "404 page not found"
// reads like a wrong URL, and `compact status` against an ingest process printed just that.
func elsewhereRoutes(mux *http.ServeMux, role string) {
	var patterns []string
	var msg string
	switch role {
	case "ingest":
		patterns = readPatterns
		msg = "this process only ingests (serve --role ingest): the views (reviews, counters, structure, status, admin) are served by a process with --role projections or all"
	case "projections":
		patterns = writePatterns
		msg = "this process only serves the views (serve --role projections): publishing, the raw history, checkpoints, proofs and backups are served by a process with --role ingest or all"
	default:
		return
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ledger.WriteError(w, http.StatusNotFound, msg)
	})
	for _, p := range patterns {
		mux.Handle(p, h)
	}
}
