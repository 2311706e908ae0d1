package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
		reply(w, c, asOfError(err))
	}), "as_of")))
	mux.Handle("GET /v1/structure", guard(ledger.Params(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := v.Structure(r.Context(), r.URL.Query().Get("as_of"))
		reply(w, s, asOfError(err))
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
//	GET  /v1/admin/quarantine/{view} the view's quarantined events, oldest first, a page at a
//	                                time (?after_seq=, ?limit=; a Link header names the next)
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
	mux.Handle("GET /v1/admin/quarantine/{view}", admin(ledger.Params(http.HandlerFunc(v.quarantinePage), "after_seq", "limit")))
}

// Quarantine pages: a view can quarantine every event of a faulty kind, and one answer must
// not hold them all.
const (
	quarantineDefaultLimit = 1000
	quarantineMaxLimit     = 10000
)

// quarantinePage answers one page of a view's quarantine, oldest first: the entries after
// ?after_seq= (0), at most ?limit= (1,000; 10,000 at most). When more follow, a Link header
// (rel="next") gives the next page's URL, as GitHub's API does, so that the body stays the
// plain array it always was.
func (v *Views) quarantinePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after uint64
	if s := q.Get("after_seq"); s != "" {
		var err error
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			replyError(w, http.StatusBadRequest, "after_seq", fmt.Sprintf("after_seq=%.40q is not a stream sequence: give the seq of the last entry read, or leave it out to start at the first", s))
			return
		}
	}
	limit := quarantineDefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > quarantineMaxLimit {
			replyError(w, http.StatusBadRequest, "limit", fmt.Sprintf("limit=%.40q is not a number of entries from 1 to %d", s, quarantineMaxLimit))
			return
		}
		limit = n
	}
	view := r.PathValue("view")
	entries, err := v.Quarantine(r.Context(), view, after, limit+1) // one more: does a next page exist
	if err == nil && len(entries) > limit {
		entries = entries[:limit]
		next := url.Values{"after_seq": {strconv.FormatUint(entries[limit-1].Seq, 10)}, "limit": {strconv.Itoa(limit)}}
		w.Header().Set("Link", fmt.Sprintf(`</v1/admin/quarantine/%s?%s>; rel="next"`, url.PathEscape(view), next.Encode()))
	}
	reply(w, entries, err)
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

// ParamError is a query parameter's value that an endpoint refuses: the answer's error.field
// names Param, as it does for a parameter unknown or given twice.
type ParamError struct {
	Param string
	Err   error
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Err.Error() }
func (e *ParamError) Unwrap() error { return e.Err }

// asOfError names as_of in the error of a date that is not one; other errors pass unchanged.
func asOfError(err error) error {
	if errors.Is(err, ErrBadDate) {
		return &ParamError{Param: "as_of", Err: err}
	}
	return err
}

// reply writes body as JSON, or err in the API's error shape, {"error": {"field": "",
// "message": ...}}, as the ingest and the renderer answer theirs (clients read the message
// from there).
func reply(w http.ResponseWriter, body any, err error) {
	if err != nil {
		field := ""
		if pe := (*ParamError)(nil); errors.As(err, &pe) {
			field = pe.Param
		}
		replyError(w, HTTPStatus(err), field, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// replyError answers status with the API's error shape; field names the parameter at fault.
func replyError(w http.ResponseWriter, status int, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"field": field, "message": msg}})
}
