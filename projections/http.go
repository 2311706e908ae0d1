package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"compact/ledger"
)

// Routes registers the public reads on mux, each wrapped by guard (the lead passes an identity
// guard by default and a token check with --private-reads):
//
//	GET /v1/counters?as_of=DATE   Counters (as_of defaults to today, UTC)
//	GET /v1/structure?as_of=DATE  Structure (as_of defaults to today, UTC)
//	GET /v1/status                Status
//
// GET /v1/reviews/{period} and the HTML pages are the renderer's (projections/render).
func (v *Views) Routes(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	if guard == nil {
		guard = func(h http.Handler) http.Handler { return h }
	}
	mux.Handle("GET /v1/counters", guard(ledger.Params(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.Counters(r.Context(), r.URL.Query().Get("as_of"))
		reply(w, c, err)
	}), "as_of")))
	mux.Handle("GET /v1/structure", guard(ledger.Params(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := v.Structure(r.Context(), r.URL.Query().Get("as_of"))
		reply(w, s, err)
	}), "as_of")))
	mux.Handle("GET /v1/status", guard(ledger.Params(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := v.Status(r.Context())
		reply(w, s, err)
	}))))
}

// AdminRoutes registers the operations on mux, each wrapped by admin (the lead's admin-token
// check):
//
//	POST /v1/admin/rebuild/{view}   rebuild one view ("all" for every view); waits until the new
//	                                generation is swapped in and answers 200 with the Status, or
//	                                with ?wait=false answers 202 at once (wait takes a boolean:
//	                                anything else is a 400 and starts nothing)
//	GET  /v1/admin/quarantine/{view} the view's quarantined events
//
// `compact rebuild [VIEW]` is a client of the first.
func (v *Views) AdminRoutes(mux *http.ServeMux, admin func(http.Handler) http.Handler) {
	mux.Handle("POST /v1/admin/rebuild/{view}", admin(ledger.Params(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		view := r.PathValue("view")
		if view == "all" {
			view = ""
		}
		wait := true
		if s := r.URL.Query().Get("wait"); s != "" {
			var err error
			if wait, err = strconv.ParseBool(s); err != nil {
				// read as "do not wait", a typo would start a rebuild the caller thinks it waited for
				reply(w, nil, fmt.Errorf("%w: wait=%.80q is not a boolean: give wait=false to return once the rebuild "+
					"has started, or leave wait out to wait for the swap", ErrBadParam, s))
				return
			}
		}
		if !wait {
			if _, err := v.StartRebuild(view); err != nil {
				reply(w, nil, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"status":"rebuilding"}` + "\n"))
			return
		}
		if err := v.Rebuild(r.Context(), view); err != nil {
			reply(w, nil, err)
			return
		}
		s, err := v.Status(r.Context())
		reply(w, s, err)
	}), "wait")))
	mux.Handle("GET /v1/admin/quarantine/{view}", admin(ledger.Params(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := v.Quarantine(r.Context(), r.PathValue("view"))
		reply(w, q, err)
	}))))
}

// HTTPStatus maps an error of this package to an HTTP status code.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrBadDate), errors.Is(err, ErrBadPeriod), errors.Is(err, ErrBadParam):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownView):
		return http.StatusNotFound
	case errors.Is(err, ErrClosed), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrConfig):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// reply writes body as JSON, or err in the API's error shape, {"error": {"field": "",
// "message": ...}}, as the ingest and the renderer answer theirs (clients read the message
// from there).
func reply(w http.ResponseWriter, body any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(HTTPStatus(err))
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"field": "", "message": err.Error()}})
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}
