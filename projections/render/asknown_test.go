package render

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
		{"/v1/reviews/2025-05/as-known?t=2025-07-01", http.StatusBadRequest, `"field":"t"`},
		// A time to come is not known yet: answered, it would be the review now, labelled as
		// known then, and another answer for the same t later.
		{"/v1/reviews/2025-05/as-known?t=2999-01-01T00:00:00Z", http.StatusBadRequest, `"field":"t","message":"t=2999-01-01T00:00:00Z is after the ledger's time now`},
		{"/v1/counters/as-known?t=2999-01-01T00:00:00%2B01:00", http.StatusBadRequest, `"field":"t","message":"t=2999-01-01T00:00:00+01:00 is after the ledger's time now`},
	} {
		r := get(t, srv.URL+tc.path, nil)
		if r.status != tc.status || !strings.Contains(r.body, tc.says) {
			t.Errorf("GET %s: %d %s, want %d saying %q", tc.path, r.status, strings.TrimSpace(r.body), tc.status, tc.says)
		}
	}
}

// Builds as known run one at a time: each replays the whole ledger into a temporary store of
// its own (the views' Pebble, up to 192 MB of cache, both cores busy), so requests that came
// together used to build side by side, as many as were sent, each with a store on disk. The
// others wait their turn and are answered all the same.
func TestAsKnownBuildsOneAtATime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js, _ := demoLedger(ctx, t)
	tmp := t.TempDir()
	mux := http.NewServeMux()
	AsKnownRoutes(mux, js, tmp, nil, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// the temporary stores on disk, counted as often as the machine allows while the builds run
	var most atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			default:
			}
			entries, _ := os.ReadDir(tmp)
			if n := int64(len(entries)); n > most.Load() {
				most.Store(n)
			}
		}
	}()

	const requests = 6
	at := time.Now().UTC().Format(time.RFC3339Nano) // after the demo's events: all of them
	var wg sync.WaitGroup
	answers := make([]string, requests)
	for i := range requests {
		wg.Go(func() {
			path := "/v1/counters/as-known?t=" + at
			if i%2 == 1 {
				path = "/v1/reviews/2025-05/as-known?t=" + at
			}
			res, err := http.Get(srv.URL + path)
			if err != nil {
				answers[i] = err.Error()
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			body := strings.TrimSpace(string(b))
			answers[i] = res.Status + " " + body[:min(len(body), 200)]
		})
	}
	wg.Wait()
	close(stop)
	<-watched
	for i, a := range answers {
		if !strings.HasPrefix(a, "200 ") {
			t.Errorf("request %d: %s", i, a)
		}
	}
	if n := most.Load(); n > 1 {
		t.Errorf("%d builds as known ran at once, each with its store in %s; want one at a time", n, tmp)
	}
	// the last build removes its store after its answer is written: give it the time
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		entries, _ := os.ReadDir(tmp)
		if len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d temporary stores left after the answers", len(entries))
			break
		}
	}
}
