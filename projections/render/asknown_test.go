package render

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"compact/ledger/natstest"
)

// TestAsKnownRefusesBadRequestsBeforeBuilding: a period, format or as_of date that would be
// refused after the build is refused before it, since a build replays the whole ledger. The
// JetStream here has no ledger stream, so a request that builds fails with 503 instead.
func TestAsKnownRefusesBadRequestsBeforeBuilding(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Start(t))
	mux := http.NewServeMux()
	AsKnownRoutes(mux, js, t.TempDir(), nil, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	const at = "t=2025-07-01T00:00:00Z"
	for _, tc := range []struct {
		path   string
		status int
		says   string
	}{
		{"/v1/reviews/2025-05/as-known?" + at, http.StatusServiceUnavailable, "building the views as known"},
		{"/v1/reviews/2025-04/as-known?" + at, http.StatusNotFound, "2025-04 is in 2025-03"},
		{"/v1/reviews/2025-13/as-known?" + at, http.StatusNotFound, "is not a review period"},
		{"/v1/reviews/2025-05/as-known?format=pdf&" + at, http.StatusBadRequest, `format \"pdf\"`},
		{"/v1/counters/as-known?as_of=2025-06-31&" + at, http.StatusBadRequest, "is not a date"},
		{"/v1/counters/as-known?as_of=2025-06-30&" + at, http.StatusServiceUnavailable, "building the views as known"},
	} {
		r := get(t, srv.URL+tc.path, nil)
		if r.status != tc.status || !strings.Contains(r.body, tc.says) {
			t.Errorf("GET %s: %d %s, want %d saying %q", tc.path, r.status, strings.TrimSpace(r.body), tc.status, tc.says)
		}
	}
}
