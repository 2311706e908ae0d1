package render

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"compact/ledger"
	"compact/ledger/natstest"
	"compact/projections"
)

// The change stream says it is watching only once the subscription is in place: a change
// published the moment the client reads that line reaches it. Changes of other periods
// do not.
func TestWatchStreamsChanges(t *testing.T) {
	nc, srv := watchServer(t)

	// The error names the path's period, as GET /v1/reviews/{period}'s does.
	if r := get(t, srv.URL+"/v1/reviews/2025-13/changes", nil); r.status != http.StatusNotFound || !strings.Contains(r.body, `"field":"period"`) {
		t.Fatalf("a period that does not exist: status %d, want 404 naming the period (%s)", r.status, r.body)
	}

	pub, lines := watchMay2025(t, srv.URL, nc)

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
	nc, srv := watchServer(t)
	pub, lines := watchMay2025(t, srv.URL, nc)
	forged := "{\"period\":\"2025-05\"}\n\nevent: change\ndata: {\"forged\":true}\r\nid: 9\rretry: 1"
	msgs := []string{forged, `{"period":"2025-05","version":7}`}
	publishNext := func() {
		if err := pub.Publish(projections.SubjectReviewPrefix+"2025-05", []byte(msgs[0])); err != nil {
			t.Fatal(err)
		}
		msgs = msgs[1:]
	}
	// Read two events as a client does (https://html.spec.whatwg.org/multipage/server-sent-events.html),
	// each published once the one before is read: a watcher behind gets only the latest.
	var events [][]string
	var data []string
	publishNext()
	for len(events) < 2 && lines.Scan() {
		line := lines.Text()
		switch {
		case line == "":
			if data != nil {
				events = append(events, data)
				data = nil
				if len(msgs) > 0 {
					publishNext()
				}
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

// watchMay2025 opens the watch of the 2025-05 review on srvURL, reads it to its watching
// comment, and returns a connection to nc's server to publish changes from (connected
// beforehand, so that it publishes the moment a line is read, as the projections' feed does)
// and the stream's lines. Both end with the test.
func watchMay2025(t *testing.T, srvURL string, nc *nats.Conn) (*nats.Conn, *bufio.Scanner) {
	t.Helper()
	pub, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srvURL+"/v1/reviews/2025-05/changes", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	lines := bufio.NewScanner(res.Body)
	if !lines.Scan() || lines.Text() != ": watching 2025-05" {
		t.Fatalf("first line %q, want the watching comment", lines.Text())
	}
	return pub, lines
}

// A watch the server ends (the request's context cancelled with a cause: the watcher's token
// revoked, ledger/hold.go) ends with an "end" event saying why; one the client ends does not.
func TestWatchEndedByTheServerSaysWhy(t *testing.T) {
	nc, _ := natstest.Connect(t, natstest.Start(t))
	end := make(chan context.CancelCauseFunc, 1)
	guard := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithCancelCause(r.Context())
			end <- cancel
			h.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	mux := http.NewServeMux()
	WatchRoutes(mux, nc, nil, guard)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, lines := watchMay2025(t, srv.URL, nc)
	(<-end)(errors.New("unauthenticated: the token of UNODC was revoked"))
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	want := []string{"", "event: end", `data: {"error":"unauthenticated: the token of UNODC was revoked"}`, ""} // the blank line ends the watching comment
	if !slices.Equal(rest, want) {
		t.Fatalf("after the server ended the watch: %q, want %q", rest, want)
	}
}

// A watcher slower than the changes ends on the latest: while its writes are held up, 300
// changes are committed, and the last it is sent is the 300th (a queue that filled dropped
// the newest, and the client stayed on an older review for good).
func TestWatchBehindGetsTheLatestChange(t *testing.T) {
	nc, _ := natstest.Connect(t, natstest.Start(t))
	hold := make(chan struct{})
	guard := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(&heldWriter{ResponseWriter: w, hold: hold}, r)
		})
	}
	mux := http.NewServeMux()
	WatchRoutes(mux, nc, nil, guard)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	pub, lines := watchMay2025(t, srv.URL, nc) // the watching line passes: held from the next write
	const changes = 300
	for v := 1; v <= changes; v++ {
		b, _ := json.Marshal(projections.ReviewChange{Period: "2025-05", Version: uint64(v), Seq: uint64(v)})
		if err := pub.Publish(projections.SubjectReviewPrefix+"2025-05", b); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	close(hold) // the changes not yet delivered to the watch come after: it waits for the 300th

	last := uint64(0)
	for lines.Scan() && last < changes {
		if d, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
			var ch projections.ReviewChange
			if err := json.Unmarshal([]byte(d), &ch); err != nil {
				t.Fatalf("data %q: %v", d, err)
			}
			if ch.Version <= last {
				t.Fatalf("version %d after %d", ch.Version, last)
			}
			last = ch.Version
		}
	}
	if last != changes {
		t.Fatalf("the last change sent is version %d, want %d", last, changes)
	}
}

// heldWriter holds every write after the first until hold is closed.
type heldWriter struct {
	http.ResponseWriter
	hold   chan struct{}
	writes int
}

func (w *heldWriter) Write(b []byte) (int, error) {
	if w.writes++; w.writes > 1 {
		<-w.hold
	}
	return w.ResponseWriter.Write(b)
}

func (w *heldWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

// TestWatchSendsAChangeOnceTheViewsHaveIt: the feed's subject carries every replica's
// changes, and another replica's can announce a sequence this server's views have not applied
// yet (a replica run with --no-feed hears only those). The watch holds such a change until the
// views have it, so that a client reading the review on it reads what it announces: it used
// to relay it at once, and the client rendered the review without the change, until the next.
func TestWatchSendsAChangeOnceTheViewsHaveIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, js := natstest.Connect(t, natstest.Start(t))
	if _, err := js.CreateStream(ctx, ledger.StreamConfig(ledger.StreamOptions{})); err != nil {
		t.Fatal(err)
	}
	append1 := func(id string) uint64 {
		t.Helper()
		var e ledger.Event
		raw := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/UNOCT","type":"compact.training.delivered","time":"2025-06-24T09:00:00Z","data":{"title":"UNOCT training %s","start":"2025-06-24","organizers":[{"entity":"UNOCT"}],"format":"training"}}`, id, id)
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(&e)
		ack, err := js.Publish(ctx, e.Subject(), body)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	first := append1("t-1")
	views := startViews(ctx, t, js, first)
	mux := http.NewServeMux()
	WatchRoutes(mux, nc, views.Applied, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	pub, lines := watchMay2025(t, srv.URL, nc)

	// Another replica announces seq first+1 before the event is even in the stream here; it
	// comes a moment later.
	b, _ := json.Marshal(projections.ReviewChange{Period: "2025-05", Version: 2, Seq: first + 1})
	if err := pub.Publish(projections.SubjectReviewPrefix+"2025-05", b); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	later := time.AfterFunc(500*time.Millisecond, func() { append1("t-2") })
	defer later.Stop()
	for lines.Scan() {
		if _, ok := strings.CutPrefix(lines.Text(), "data: "); !ok {
			continue
		}
		ck, err := views.Checkpoint(ctx, projections.ViewReview)
		if err != nil {
			t.Fatal(err)
		}
		if ck < first+1 {
			t.Fatalf("the change of seq %d was sent while the review view had applied %d", first+1, ck)
		}
		rev, err := views.Review(ctx, "2025-05")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(slices.Concat(sectionItems(rev)...)); n != 2 {
			t.Fatalf("on the change, the review lists %d items, want 2", n)
		}
		return
	}
	t.Fatalf("the stream ended without the change: %v", lines.Err())
}

func sectionItems(r *projections.Review) [][]projections.Item {
	var out [][]projections.Item
	for _, s := range r.Sections {
		out = append(out, s.Items)
	}
	return out
}

// Every read replica sends each change of the feed's subject, and one behind the others (a
// replica catching up from sequence 1) sends the changes of long ago. The watch relayed them
// all: after version 7 its client was told of version 3, as if the review had gone back. It
// sends a change only when it is newer than the last it sent: a later seq, or the same seq
// with another version (a rebuild for new code, swapped in at the checkpoint its old code
// announced last).
func TestWatchSendsNoChangeOlderThanTheLastItSent(t *testing.T) {
	nc, srv := watchServer(t)
	pub, lines := watchMay2025(t, srv.URL, nc)
	publish := func(changes ...projections.ReviewChange) {
		t.Helper()
		for _, ch := range changes {
			b, _ := json.Marshal(ch)
			if err := pub.Publish(projections.SubjectReviewPrefix+"2025-05", b); err != nil {
				t.Fatal(err)
			}
		}
		if err := pub.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	next := func() projections.ReviewChange {
		t.Helper()
		for lines.Scan() {
			if d, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
				var ch projections.ReviewChange
				if err := json.Unmarshal([]byte(d), &ch); err != nil {
					t.Fatalf("data %q: %v", d, err)
				}
				return ch
			}
		}
		t.Fatalf("the stream ended: %v", lines.Err())
		return projections.ReviewChange{}
	}
	change := func(version, seq uint64) projections.ReviewChange {
		return projections.ReviewChange{Period: "2025-05", Version: version, Seq: seq}
	}
	publish(change(7, 170))
	if got := next(); got != change(7, 170) {
		t.Fatalf("first change %+v", got)
	}
	// Each round: the replica behind, the same change as the last from another replica, then a
	// new one. (A watcher busy when they come gets only the latest of them: the rounds make the
	// one behind reach it by itself.)
	v := uint64(7)
	for behind := uint64(1); behind <= 20; behind++ {
		publish(change(behind, 10*behind), change(v, 100+10*v))
		v++
		publish(change(v, 100+10*v))
		if got := next(); got != change(v, 100+10*v) {
			t.Fatalf("after version %d at seq %d the watch sent %+v; want version %d at seq %d", v-1, 100+10*(v-1), got, v, 100+10*v)
		}
	}
	// new code swapped in at the same checkpoint counts otherwise: it is sent
	publish(change(5, 100+10*v))
	if got := next(); got != change(5, 100+10*v) {
		t.Fatalf("after version %d the watch sent %+v; want version 5 at the same seq", v, got)
	}
}

// watchServer serves the change stream on a connection to a NATS server of its own (no
// views: every change is sent as it comes).
func watchServer(t *testing.T) (*nats.Conn, *httptest.Server) {
	t.Helper()
	nc, _ := natstest.Connect(t, natstest.Start(t))
	mux := http.NewServeMux()
	WatchRoutes(mux, nc, nil, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return nc, srv
}
