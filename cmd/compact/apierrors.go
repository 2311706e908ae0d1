package main

import (
	"fmt"
	"net/http"
	"strings"

	"compact/ledger"
)

// apiErrors answers a /v1/ path that no endpoint serves (404), and an endpoint asked with a
// method it does not take (405, with the mux's Allow header), in the API's error shape: the
// mux's own answers are plain text ("404 page not found"), which a client of the API reads
// as a broken server rather than as its own mistake. Other paths are the human pages'.
func apiErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" || !strings.HasPrefix(r.URL.Path, "/v1/") {
			mux.ServeHTTP(w, r)
			return
		}
		var rec statusRecorder
		h.ServeHTTP(&rec, r) // the mux's 404 or 405: a status, an Allow header, a line of text
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			mux.ServeHTTP(w, r)
			return
		}
		msg := fmt.Sprintf("no endpoint at %s: README, Reading and Auditing, lists them", r.URL.Path)
		if allow := rec.Header().Get("Allow"); status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", allow)
			msg = fmt.Sprintf("%s does not take %s: it takes %s", r.URL.Path, r.Method, allow)
		}
		ledger.WriteError(w, status, msg)
	})
}

// statusRecorder keeps the status and the header a handler writes, and drops its body.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header {
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}
