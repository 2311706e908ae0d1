package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"compact/ledger"
	"compact/projections"
)

// TestStatusTableSaysWhatTheJSONSays: the table of `compact status` shows a stream that cannot
// be read as such, with unknown lags, and the rebuilds in progress. It used to print "last
// sequence 0" and a lag of 0 for every view when the stream could not be read (a replica cut
// off from NATS looked caught up), and nothing of a rebuild.
func TestStatusTableSaysWhatTheJSONSays(t *testing.T) {
	var events []ledger.Event
	for i := range 5 {
		events = append(events, ledger.Event{SpecVersion: "1.0", ID: "v" + string(rune('0'+i)), Source: "/entities/UNODC", Type: "compact.document.shared",
			Time: "2025-06-01T10:00:00Z", Data: json.RawMessage(`{"document":"d","title":"t","shared_by":{"entity":"UNODC"},"date":"2025-06-01"}`)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, nc, _ := viewsOver(t, ctx, events...)
	var err error

	// a rebuild in progress (it stays recorded until it is swapped in; the status is read
	// before that, so what is in progress may have finished meanwhile: read until one shows)
	var st *projections.Status
	for range 50 {
		if _, err := v.StartRebuild("review"); err != nil {
			t.Fatal(err)
		}
		if st, err = v.Status(ctx); err != nil {
			t.Fatal(err)
		}
		if st.Views[1].Rebuild != nil {
			break
		}
	}
	if st.Views[1].Rebuild == nil {
		t.Fatal("no status showed the review's rebuild in progress")
	}
	var out bytes.Buffer
	if err := printStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "last sequence 5") || !strings.Contains(out.String(), "review: rebuilding as generation") {
		t.Errorf("status with a rebuild in progress printed:\n%s", out.String())
	}
	if err := v.Rebuild(ctx, "review"); err != nil {
		t.Fatal(err)
	}

	// the stream out of reach
	nc.Close()
	if st, err = v.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if st.StreamError == "" {
		t.Fatalf("the status of views whose connection is closed has no stream error: %+v", st)
	}
	out.Reset()
	if err := printStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "cannot be read") || !strings.Contains(text, st.StreamError) || strings.Contains(text, "last sequence 0") {
		t.Errorf("status with the stream out of reach does not say so:\n%s", text)
	}
	for line := range strings.Lines(text) {
		if f := strings.Fields(line); len(f) == 7 && f[0] != "VIEW" && f[4] != "?" {
			t.Errorf("status with the stream out of reach prints a lag of %s for %s: want ?\n%s", f[4], f[0], text)
		}
	}
}
