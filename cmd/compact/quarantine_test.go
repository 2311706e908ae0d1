package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"compact/ledger"
	"compact/projections"
)

// compact quarantine lists a view's quarantine oldest first, through every page of the
// endpoint, and --after and --limit choose a part of it. The events are stored as the ingest
// would never store them (straight into the stream, with a date that is not one), which is
// how a view comes to quarantine anything: a real server, store and views, the endpoint
// served by the views' own routes.
func TestQuarantineListsEveryPage(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const bad = 5
	var events []ledger.Event
	for i := range bad {
		events = append(events, ledger.Event{SpecVersion: "1.0", ID: fmt.Sprintf("m-%d", i), Source: ledger.SourcePrefix + "UNODC",
			Type: "compact.meeting.held", Time: "2025-05-02T10:00:00Z",
			Data: json.RawMessage(`{"title":"A meeting","start":"2025-02-30","format":"expert_meeting","organizers":[{"entity":"UNODC"}]}`)})
	}
	v, _, _ := viewsOver(t, ctx, events...)
	seqs := []uint64{1, 2, 3, 4, 5} // the stream's first five
	mux := http.NewServeMux()
	requests := 0
	var onRequest func()
	v.AdminRoutes(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests++
			if onRequest != nil {
				onRequest()
			}
			h.ServeHTTP(w, r)
		})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := &clientFlags{server: srv.URL}
	old := quarantinePageSize
	quarantinePageSize = 2
	defer func() { quarantinePageSize = old }()

	list := func(after uint64, limit int) []projections.QuarantineEntry {
		t.Helper()
		var out bytes.Buffer
		if err := listQuarantine(ctx, c, &out, projections.ViewReview, after, limit, true); err != nil {
			t.Fatal(err)
		}
		var got []projections.QuarantineEntry
		dec := json.NewDecoder(&out)
		for dec.More() {
			var e projections.QuarantineEntry
			if err := dec.Decode(&e); err != nil {
				t.Fatal(err)
			}
			got = append(got, e)
		}
		return got
	}
	seqsOf := func(es []projections.QuarantineEntry) []uint64 {
		var s []uint64
		for _, e := range es {
			s = append(s, e.Seq)
		}
		return s
	}
	all := list(0, 0)
	if fmt.Sprint(seqsOf(all)) != fmt.Sprint(seqs) || requests != 3 {
		t.Fatalf("listed %v in %d requests, want %v in 3 pages of 2", seqsOf(all), requests, seqs)
	}
	if e := all[0]; e.Type != "compact.meeting.held" || e.ID != "m-0" || !strings.Contains(e.Error, "2025-02-30") {
		t.Errorf("entry %+v", e)
	}
	if got := list(seqs[1], 2); fmt.Sprint(seqsOf(got)) != fmt.Sprint(seqs[2:4]) {
		t.Errorf("--after %d --limit 2: %v, want %v", seqs[1], seqsOf(got), seqs[2:4])
	}
	if got := list(seqs[bad-1], 0); len(got) != 0 {
		t.Errorf("after the last: %v", seqsOf(got))
	}
	for _, tc := range []struct {
		view  string
		lines int
		says  string
	}{
		{projections.ViewReview, bad + 1, "SEQ  LEDGER TIME"},
		{projections.ViewCounters, 1, "the counters view has quarantined nothing"}, // it reads no start date
	} {
		var table bytes.Buffer
		if err := listQuarantine(ctx, c, &table, tc.view, 0, 0, false); err != nil {
			t.Fatal(err)
		}
		if strings.Count(table.String(), "\n") != tc.lines || !strings.Contains(table.String(), tc.says) {
			t.Errorf("the %s table:\n%s", tc.view, table.String())
		}
	}

	// The table is printed a page at a time: each page's lines are out before the next page
	// is asked for, rather than the whole quarantine held (and nothing shown) until the end.
	var table lockedBuffer
	requests = 0
	var shown []int // lines printed when each request came
	onRequest = func() { shown = append(shown, strings.Count(table.String(), "\n")) }
	err := listQuarantine(ctx, c, &table, projections.ViewReview, 0, 0, false)
	onRequest = nil
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(shown) != "[0 3 5]" || strings.Count(table.String(), "\n") != bad+1 {
		t.Errorf("lines printed when each page was asked for: %v, want [0 3 5] (the header and two lines a page); the table:\n%s", shown, table.String())
	}
}
