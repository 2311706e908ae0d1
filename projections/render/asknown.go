package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/projections"
)

// asKnownPrefix begins the name of a build's temporary store under tmpDir.
const asKnownPrefix = "as-known-"

// RemoveAsKnownLeftovers removes the temporary stores of builds as known under tmpDir and
// returns their names. A build removes its own when it answers, but a process killed during
// one leaves it, and nothing else ever would. Call it only when no build can be running on
// tmpDir: at start-up, before AsKnownRoutes serves, in the only process using it.
func RemoveAsKnownLeftovers(tmpDir string) ([]string, error) {
	entries, err := os.ReadDir(tmpDir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), asKnownPrefix) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(tmpDir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// ProvenanceAt adds to the provenance of a review as known at ledger time at what the views
// cannot know themselves: the latest signed checkpoint appended by then.
type ProvenanceAt func(ctx context.Context, at time.Time, p *projections.Provenance) error

// AsKnownRoutes registers the auditors' reads of the past, each built from the events the
// ledger had appended up to ledger time t, into a temporary Pebble under tmpDir that is
// removed after the answer:
//
//	GET /v1/reviews/{period}/as-known?t=T[&format=json|md|html]
//	GET /v1/counters/as-known?t=T[&as_of=DATE]
//
// A review's provenance carries t and what provenance adds (nil: nothing). A build replays
// the ledger from sequence 1, so guard should admit auditors only, and a request that would
// be refused anyway (a period, format or as_of date that is not one) is refused before it.
// The routes build one at a time; a request that comes during a build waits its turn.
func AsKnownRoutes(mux *http.ServeMux, js jetstream.JetStream, tmpDir string, provenance ProvenanceAt, guard func(http.Handler) http.Handler) {
	// A build holds a store of the views' size (their Pebble, up to 192 MB of cache and
	// memtables) and keeps both cores busy for as long as a rebuild takes: two at once
	// would take a node past the 512 MB it is meant to fit in, and nothing bounded how
	// many an auditor (or a script run twice) could start side by side. Waiting costs a
	// request only its goroutine, and it leaves the line when its client goes.
	builds := make(chan struct{}, 1)
	mux.Handle("GET /v1/reviews/{period}/as-known", ledger.NoHead(guard(ledger.Params(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := CheckPeriod(r.PathValue("period")); err != nil {
			writeJSONError(w, http.StatusNotFound, "period", err.Error())
			return
		}
		if _, err := chooseFormat(r); err != nil {
			writeJSONError(w, http.StatusBadRequest, "format", err.Error())
			return
		}
		buildAsKnown(w, r, js, tmpDir, builds, func(v *projections.Views, at time.Time) {
			(&handlers{src: asKnownSource{Views: v, at: at, provenance: provenance}}).apiReview(w, r)
		})
	}), "t", "format"))))
	mux.Handle("GET /v1/counters/as-known", ledger.NoHead(guard(ledger.Params(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if asOf := r.URL.Query().Get("as_of"); asOf != "" {
			if _, err := projections.ParseDate(asOf); err != nil {
				writeJSONError(w, http.StatusBadRequest, "as_of", err.Error())
				return
			}
		}
		buildAsKnown(w, r, js, tmpDir, builds, func(v *projections.Views, _ time.Time) {
			c, err := v.Counters(r.Context(), r.URL.Query().Get("as_of"))
			if err != nil {
				writeJSONError(w, http.StatusBadRequest, "as_of", err.Error())
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(c)
		})
	}), "t", "as_of"))))
}

// asKnownSource reads the reviews of views built as known at a time.
type asKnownSource struct {
	*projections.Views
	at         time.Time
	provenance ProvenanceAt
}

func (s asKnownSource) Review(ctx context.Context, period string) (*projections.Review, error) {
	r, err := s.Views.Review(ctx, period)
	if err != nil {
		return nil, err
	}
	r.Provenance.AsKnownAt = s.at
	if s.provenance != nil {
		if err := s.provenance(ctx, s.at, &r.Provenance); err != nil {
			return nil, fmt.Errorf("the provenance as known at %s: %w", s.at.Format(time.RFC3339Nano), err)
		}
	}
	return r, nil
}

// buildAsKnown builds the views as known at the request's t, once builds has room for it,
// and calls fn with them.
func buildAsKnown(w http.ResponseWriter, r *http.Request, js jetstream.JetStream, tmpDir string, builds chan struct{}, fn func(*projections.Views, time.Time)) {
	t, err := time.Parse(time.RFC3339Nano, r.URL.Query().Get("t"))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "t", "t must be an RFC 3339 ledger time, e.g. 2025-07-01T00:00:00Z")
		return
	}
	// A build as known at a time to come would be the views now, labelled as known then (the
	// latest checkpoint "at that time" among them), and a later request for the same t would
	// be answered otherwise: what is known at t is fixed only once t has passed.
	if now := time.Now(); t.After(now) {
		writeJSONError(w, http.StatusBadRequest, "t", fmt.Sprintf("t=%s is after the ledger's time now (%s): "+
			"what the ledger will hold then is not known yet; give a time up to now", t.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339)))
		return
	}
	select {
	case builds <- struct{}{}:
		defer func() { <-builds }()
	case <-r.Context().Done():
		writeJSONError(w, http.StatusServiceUnavailable, "", "waiting for another build as known to end: "+context.Cause(r.Context()).Error())
		return
	}
	dir, err := os.MkdirTemp(tmpDir, asKnownPrefix)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
	defer cancel()
	v, err := projections.BuildAsKnown(ctx, js, t, dir)
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "", "building the views as known: "+err.Error())
		return
	}
	defer v.Close(context.Background())
	fn(v, t)
}
