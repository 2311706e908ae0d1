package render

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"compact/ledger/natstest"
	"compact/projections"
)

// The change stream says it is watching only once the subscription is in place: a change
// published the moment the client reads that line reaches it. Changes of other periods
// do not.
func TestWatchStreamsChanges(t *testing.T) {
	nc, _ := natstest.Connect(t, natstest.Start(t))
	mux := http.NewServeMux()
	WatchRoutes(mux, nc, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	if r := get(t, srv.URL+"/v1/reviews/2025-13/changes", nil); r.status != http.StatusNotFound {
		t.Fatalf("a period that does not exist: status %d, want 404 (%s)", r.status, r.body)
	}

	// From another connection, connected beforehand so that it publishes the moment the line is read, as the projections' feed publishes.
	pub, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/reviews/2025-05/changes", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	lines := bufio.NewScanner(res.Body)
	if !lines.Scan() || lines.Text() != ": watching 2025-05" {
		t.Fatalf("first line %q, want the watching comment", lines.Text())
	}

	for i, period := range []string{"2025-07", "2025-05"} {
		b, _ := json.Marshal(projections.ReviewChange{Period: period, Version: uint64(i + 1), Seq: uint64(10 * (i + 1))})
		if err := pub.Publish(projections.SubjectReviewPrefix+period, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}

	var event, data string
	for lines.Scan() {
		line := lines.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = v
			break
		}
	}
	if event != "change" {
		t.Fatalf("event %q, want change (scan error %v)", event, lines.Err())
	}
	var got projections.ReviewChange
	if err := json.Unmarshal([]byte(data), &got); err != nil {
		t.Fatalf("data %q: %v", data, err)
	}
	if got.Period != "2025-05" || got.Version != 2 || got.Seq != 20 {
		t.Fatalf("change %+v, want 2025-05's (version 2, seq 20); another period's leaked in or it was lost", got)
	}
}

// A message on the change feed whose data holds line ends stays one event: each line is a
// data line of it, and no line of it can start an event or a field of its own.
func TestWatchKeepsAMessageOneEvent(t *testing.T) {
	nc, _ := natstest.Connect(t, natstest.Start(t))
	mux := http.NewServeMux()
	WatchRoutes(mux, nc, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	pub, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/reviews/2025-05/changes", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := bufio.NewScanner(res.Body)
	if !lines.Scan() || lines.Text() != ": watching 2025-05" {
		t.Fatalf("first line %q, want the watching comment", lines.Text())
	}
	forged := "{\"period\":\"2025-05\"}\n\nevent: change\ndata: {\"forged\":true}\r\nid: 9\rretry: 1"
	for _, d := range []string{forged, `{"period":"2025-05","version":7}`} {
		if err := pub.Publish(projections.SubjectReviewPrefix+"2025-05", []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	// Read two events as a client does (https://html.spec.whatwg.org/multipage/server-sent-events.html).
	var events [][]string
	var data []string
	for len(events) < 2 && lines.Scan() {
		line := lines.Text()
		switch {
		case line == "":
			if data != nil {
				events = append(events, data)
				data = nil
			}
		case strings.HasPrefix(line, ":"), line == "event: change":
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		default:
			t.Errorf("a line that is no data of the event: %q", line)
		}
	}
	if len(events) != 2 {
		t.Fatalf("%d events (%q), want 2", len(events), events)
	}
	if got := strings.Join(events[0], "\n"); got != strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(forged) {
		t.Errorf("first event's data %q, want the message's", got)
	}
	if got := strings.Join(events[1], "\n"); got != `{"period":"2025-05","version":7}` {
		t.Errorf("second event's data %q", got)
	}
}
