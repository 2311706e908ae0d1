package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"compact/ledger"
	"compact/ledger/audit"
	"compact/ledger/backup"
	"compact/projections"
	"compact/projections/render"
)

// TestElsewhereRoutesNameRealEndpoints: every pattern the roles' lists name is one the
// packages register (registering it again on their mux panics), so that the lists do not
// drift into answering "served elsewhere" for an endpoint no process serves.
func TestElsewhereRoutesNameRealEndpoints(t *testing.T) {
	mux := http.NewServeMux()
	auth := &ledger.Auth{}
	(&ledger.HTTPHandlers{Auth: auth}).Routes(mux)
	audit.Routes(mux, nil, auth.History)
	backup.Routes(mux, backup.Source{}, backup.HandlerConfig{}, auth.Admin)
	var views *projections.Views
	views.Routes(mux, nil)
	views.AdminRoutes(mux, auth.Admin)
	render.Routes(mux, nil, nil)
	render.WatchRoutes(mux, nil, nil, nil)
	render.AsKnownRoutes(mux, nil, "", nil, auth.History)
	for _, p := range append(append([]string{}, readPatterns...), writePatterns...) {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%q is not an endpoint the read or write side registers", p)
				}
			}()
			mux.Handle(p, http.NotFoundHandler())
		}()
	}
}

// TestElsewhereRoutesSayWhere: a process of one role answers the other role's endpoints
// with a 404 in the API's error shape naming the role that serves them, which the CLI
// prints; it serves its own role's endpoints as before.
func TestElsewhereRoutesSayWhere(t *testing.T) {
	for _, tc := range []struct {
		role, method, path, want string
	}{
		{"ingest", "GET", "/v1/status", "--role projections or all"},
		{"ingest", "GET", "/v1/reviews/2025-05", "--role projections or all"},
		{"ingest", "POST", "/v1/admin/rebuild/all", "--role projections or all"},
		{"projections", "POST", "/v1/events", "--role ingest or all"},
		{"projections", "GET", "/v1/proofs/UNOCT/x", "--role ingest or all"},
	} {
		mux := http.NewServeMux()
		elsewhereRoutes(mux, tc.role)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		msg := serverError(rec.Body)
		if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/json" || !strings.Contains(msg, tc.want) {
			t.Errorf("--role %s, %s %s: %d %q; want a JSON 404 naming %q", tc.role, tc.method, tc.path, rec.Code, msg, tc.want)
		}
	}
	mux := http.NewServeMux()
	elsewhereRoutes(mux, "all")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil))
	if strings.Contains(rec.Body.String(), "--role") {
		t.Errorf("--role all answers for the endpoints of its own roles: %s", rec.Body)
	}
}
