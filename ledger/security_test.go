package ledger_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
)

// asyncErrors collects the errors NATS reports asynchronously (permission violations).
type asyncErrors struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err.Error())
	a.mu.Unlock()
}

func (a *asyncErrors) waitFor(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		for _, e := range a.errs {
			if strings.Contains(e, substr) {
				a.mu.Unlock()
				return
			}
		}
		a.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no asynchronous error containing %q; got %v", substr, a.errs)
}

func TestEntityIsolation(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	b := addEntity(t, n, dir, "UNOCT", ledger.RolePublisher)
	var aErrs asyncErrors
	ncA, err := connectAs(n, a, nats.ErrorHandler(aErrs.handler))
	if err != nil {
		t.Fatal(err)
	}
	defer ncA.Close()
	ncB, err := connectAs(n, b)
	if err != nil {
		t.Fatal(err)
	}
	defer ncB.Close()

	t.Run("publish on another entity's ingest subject", func(t *testing.T) {
		_, err := ncA.Request("compact.ingest.UNOCT", []byte(activity("UNOCT", "spoof-1", "x")), 500*time.Millisecond)
		if err == nil {
			t.Fatal("request on compact.ingest.UNOCT answered for UNODC")
		}
		aErrs.waitFor(t, `Permissions Violation for Publish to "compact.ingest.UNOCT"`)
	})
	t.Run("spoofed source on its own subject", func(t *testing.T) {
		r := natsPublish(t, ncA, "UNODC", activity("UNOCT", "spoof-2", "x"))
		if r.Results[0].Error == nil || r.Results[0].Error.Field != "/source" {
			t.Fatalf("spoofed source: %+v", r.Results[0])
		}
	})
	t.Run("no JetStream API", func(t *testing.T) {
		js, _ := jetstream.New(ncA)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, ledger.StreamName); err == nil {
			t.Fatal("entity deleted the stream")
		}
		if _, err := js.CreateOrUpdateConsumer(ctx, ledger.StreamName, jetstream.ConsumerConfig{Durable: "evil"}); err == nil {
			t.Fatal("entity created a consumer")
		}
		ncA.Publish("$JS.API.STREAM.PURGE.COMPACT", nil)
		aErrs.waitFor(t, `Permissions Violation for Publish to "$JS.API.STREAM.PURGE.COMPACT"`)
		aErrs.waitFor(t, `Permissions Violation for Publish to "$JS.API.STREAM.DELETE.COMPACT"`)
	})
	t.Run("no subject of the ledger's but its ingest", func(t *testing.T) {
		for _, subj := range []string{"compact.events.UNODC.meeting.held", "compact.views.review", ledger.CheckpointSubject} {
			ncA.Publish(subj, []byte(activity("UNODC", "direct", "x")))
			aErrs.waitFor(t, `Permissions Violation for Publish to "`+subj+`"`)
		}
	})
	t.Run("cannot see another entity's replies", func(t *testing.T) {
		spy, err := ncA.SubscribeSync("_INBOX.>")
		if err != nil {
			t.Fatal(err)
		}
		ncA.Flush()
		r := natsPublish(t, ncB, "UNOCT", activity("UNOCT", "b-1", "B's own"))
		if r.Results[0].Error != nil {
			t.Fatalf("B's publish: %+v", r.Results[0])
		}
		if m, err := spy.NextMsg(300 * time.Millisecond); err == nil {
			t.Fatalf("UNODC saw UNOCT's reply on %s", m.Subject)
		}
		if _, err := ncA.SubscribeSync(">"); err == nil {
			ncA.Flush()
		}
		aErrs.waitFor(t, `Permissions Violation for Subscription to ">"`)
	})
	t.Run("ledger unchanged", func(t *testing.T) {
		info, err := n.JS.Stream(context.Background(), ledger.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.CachedInfo().State.Msgs; got != 1 {
			t.Fatalf("stream holds %d messages, want only B's 1", got)
		}
	})

	t.Run("HTTP", func(t *testing.T) {
		srv := httpServer(t, n)
		status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, activity("UNOCT", "spoof-3", "x"))
		if status != http.StatusForbidden || r.Results[0].Error.Field != "/source" {
			t.Fatalf("spoof over HTTP: %d %+v", status, r)
		}
		if status, _ := httpPublish(t, srv.URL, "", ledger.MediaEvent, activity("UNODC", "x", "x")); status != http.StatusUnauthorized {
			t.Fatalf("no token: %d, want 401", status)
		}
		if status, _ := httpPublish(t, srv.URL, "ctk_forged", ledger.MediaEvent, activity("UNODC", "x", "x")); status != http.StatusUnauthorized {
			t.Fatalf("forged token: %d, want 401", status)
		}
		if status, _ := httpPublish(t, srv.URL, a.Token, "text/plain", activity("UNODC", "x", "x")); status != http.StatusUnsupportedMediaType {
			t.Fatalf("text/plain: %d, want 415", status)
		}
		big := `[` + strings.Repeat(activity("UNODC", "x", "x")+",", 40000) + activity("UNODC", "x", "x") + `]`
		if status, _ := httpPublish(t, srv.URL, a.Token, ledger.MediaBatch, big); status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d-byte body: %d, want 413", len(big), status)
		}
		req, _ := http.NewRequest("GET", srv.URL+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+a.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("publisher reading history: %d, want 403", resp.StatusCode)
		}
	})
}

func TestRolesAndSecretariat(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	sec := addEntity(t, n, dir, "SECRETARIAT", ledger.RoleSecretariat)
	aud := addEntity(t, n, dir, "AUDIT", ledger.RoleAuditor)
	pub := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	srv := httpServer(t, n)
	opening := `{"specversion":"1.0","id":"open-1","source":"/entities/%s","type":"compact.counter.opened","time":"2025-05-01T00:00:00Z","data":{"counter":"documents_shared","value":3600,"date":"2025-04-30"}}`
	if status, r := httpPublish(t, srv.URL, pub.Token, ledger.MediaEvent, strings.ReplaceAll(opening, "%s", "UNODC")); status != http.StatusForbidden {
		t.Fatalf("publisher opening a counter: %d %+v", status, r)
	}
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, strings.ReplaceAll(opening, "%s", "SECRETARIAT")); status != http.StatusCreated {
		t.Fatalf("secretariat opening a counter: %d %+v", status, r)
	}
	if status, r := httpPublish(t, srv.URL, aud.Token, ledger.MediaEvent, activity("AUDIT", "a", "a")); status != http.StatusForbidden || r.Error == nil {
		t.Fatalf("auditor publishing: %d %+v", status, r)
	}
	// Curation must point at an event the ledger holds.
	curate := `{"specversion":"1.0","id":"cur-%s","source":"/entities/SECRETARIAT","type":"compact.review.curated","time":"2025-05-01T00:00:00Z","data":{"period":"2025-05","item":{"source":"/entities/UNODC","id":"%s"},"action":"omit"}}`
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, strings.ReplaceAll(curate, "%s", "m-9")); status != http.StatusBadRequest || r.Results[0].Error.Field != "/data/item" {
		t.Fatalf("curating an unknown event: %d %+v", status, r)
	}
	httpPublish(t, srv.URL, pub.Token, ledger.MediaEvent, activity("UNODC", "m-9", "x"))
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, strings.ReplaceAll(curate, "%s", "m-9")); status != http.StatusCreated {
		t.Fatalf("curating a known event: %d %+v", status, r)
	}
	// Only activities are items of a review: curating a counter event would change nothing.
	doc := `{"specversion":"1.0","id":"doc-1","source":"/entities/UNODC","type":"compact.document.shared","time":"2025-05-01T00:00:00Z","data":{"document":"d-1","title":"a document","shared_by":{"entity":"UNODC"},"date":"2025-05-02"}}`
	if status, r := httpPublish(t, srv.URL, pub.Token, ledger.MediaEvent, doc); status != http.StatusCreated {
		t.Fatalf("sharing a document: %d %+v", status, r)
	}
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, strings.ReplaceAll(curate, "%s", "doc-1")); status != http.StatusBadRequest ||
		r.Results[0].Error.Field != "/data/item" || !strings.Contains(r.Results[0].Error.Message, "compact.document.shared") {
		t.Fatalf("curating a document shared: %d %+v, want it refused at /data/item", status, r)
	}
	// Nor is a retracted activity: a curation of it would be stored and change nothing.
	retract := `{"specversion":"1.0","id":"rt-m-9","source":"/entities/UNODC","type":"compact.event.retracted","time":"2025-05-01T00:00:00Z","data":{"retracts":"m-9","reason":"published by mistake"}}`
	if status, r := httpPublish(t, srv.URL, pub.Token, ledger.MediaEvent, retract); status != http.StatusCreated {
		t.Fatalf("retracting m-9: %d %+v", status, r)
	}
	again := strings.ReplaceAll(strings.ReplaceAll(curate, "cur-%s", "cur-again"), "%s", "m-9")
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, again); status != http.StatusBadRequest ||
		r.Results[0].Error.Field != "/data/item" || !strings.Contains(r.Results[0].Error.Message, "retracted") {
		t.Fatalf("curating a retracted activity: %d %+v, want it refused at /data/item", status, r)
	}
	fix := `{"specversion":"1.0","id":"fix-cur","source":"/entities/SECRETARIAT","type":"compact.event.corrected","time":"2025-05-01T00:00:00Z","data":{"corrects":"cur-m-9","reason":"other item","data":{"period":"2025-05","item":{"source":"/entities/UNODC","id":"m-9"},"action":"omit"}}}`
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, fix); status != http.StatusBadRequest ||
		r.Results[0].Error.Field != "/data/data/item" || !strings.Contains(r.Results[0].Error.Message, "retracted") {
		t.Fatalf("a corrected curation of a retracted activity: %d %+v, want it refused at /data/data/item", status, r)
	}
}

func TestCorrectionsAndRetractions(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	b := addEntity(t, n, dir, "UNOCT", ledger.RolePublisher)
	srv := httpServer(t, n)
	httpPublish(t, srv.URL, b.Token, ledger.MediaEvent, activity("UNOCT", "b-1", "B's"))
	httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, activity("UNODC", "a-1", "A's"))
	correct := func(src, target, data string) string {
		return `{"specversion":"1.0","id":"fix-` + target + `","source":"/entities/` + src + `","type":"compact.event.corrected","time":"2025-05-01T00:00:00Z","data":{"corrects":"` + target + `","reason":"typo","data":` + data + `}}`
	}
	good := `{"title":"fixed","start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"}`
	// A correction of another entity's event: the target is looked up in A's own events only.
	if status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, correct("UNODC", "b-1", good)); status != http.StatusBadRequest || r.Results[0].Error.Field != "/data/corrects" {
		t.Fatalf("correcting another entity's event: %d %+v", status, r)
	}
	bad := `{"title":"fixed","start":"2025-02-30","organizers":[{"entity":"UNODC"}],"format":"conference"}`
	if status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, correct("UNODC", "a-1", bad)); status != http.StatusBadRequest || r.Results[0].Error.Field != "/data/data/start" {
		t.Fatalf("invalid replacement data: %d %+v", status, r)
	}
	if status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, correct("UNODC", "a-1", good)); status != http.StatusCreated {
		t.Fatalf("a good correction: %d %+v", status, r)
	}
	// A batch: an event and its retraction together.
	batch := `[` + activity("UNODC", "a-2", "oops") + `,{"specversion":"1.0","id":"rt-a-2","source":"/entities/UNODC","type":"compact.event.retracted","time":"2025-05-01T00:00:00Z","data":{"retracts":"a-2","reason":"published by mistake"}}]`
	if status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaBatch, batch); status != http.StatusCreated {
		t.Fatalf("event and retraction in one batch: %d %+v", status, r)
	}
	if status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, strings.Replace(correct("UNODC", "rt-a-2", good), "fix-rt-a-2", "fix-2", 1)); status != http.StatusBadRequest || !strings.Contains(r.Results[0].Error.Message, "compact.event.retracted") {
		t.Fatalf("correcting a retraction: %d %+v", status, r)
	}
	// A retraction before the event it retracts, in one batch: refused, saying that the event
	// must come first (an event earlier in the same request can be referred to).
	batch = `[{"specversion":"1.0","id":"rt-a-9","source":"/entities/UNODC","type":"compact.event.retracted","time":"2025-05-01T00:00:00Z","data":{"retracts":"a-9","reason":"x"}},` + activity("UNODC", "a-9", "late") + `]`
	if status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaBatch, batch); status != http.StatusMultiStatus || r.Results[0].Error == nil ||
		r.Results[0].Error.Field != "/data/retracts" || !strings.Contains(r.Results[0].Error.Message, "earlier in the same request") || r.Results[1].Seq == 0 {
		t.Fatalf("a retraction before its event in one batch: %d %+v", status, r)
	}
	// A curation of a retraction or a correction is refused as a curation of what is not an
	// activity; it was told that only some events "can be corrected or retracted", as if it
	// were a correction.
	sec := addEntity(t, n, dir, "SECRETARIAT", ledger.RoleSecretariat)
	for _, target := range []string{"rt-a-2", "fix-a-1"} {
		curate := `{"specversion":"1.0","id":"cur-` + target + `","source":"/entities/SECRETARIAT","type":"compact.review.curated","time":"2025-05-01T00:00:00Z","data":{"period":"2025-05","item":{"source":"/entities/UNODC","id":"` + target + `"},"action":"omit"}}`
		status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, curate)
		if status != http.StatusBadRequest || r.Results[0].Error == nil || r.Results[0].Error.Field != "/data/item" || !strings.Contains(r.Results[0].Error.Message, "only activities are items of a review") {
			t.Errorf("curating %s: %d %+v, want /data/item: only activities are items of a review", target, status, r)
		}
	}
}

// A POST /v1/events refused before the ingester sees it (no token, a wrong content type, a
// body over the limit, a batch that is not an array) answers as the ingester answers a
// request refused as a whole: {"results": null, "error": {"field", "message"}}.
func TestRequestsRefusedBeforeIngestHaveTheReplyShape(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	srv := httpServer(t, n)
	for _, c := range []struct {
		name, token, contentType, body string
		status                         int
	}{
		{"no token", "", ledger.MediaEvent, activity("UNODC", "x", "x"), http.StatusUnauthorized},
		{"text/plain", a.Token, "text/plain", activity("UNODC", "x", "x"), http.StatusUnsupportedMediaType},
		{"body over the limit", a.Token, ledger.MediaBatch, "[" + strings.Repeat(" ", ledger.MaxRequestBytes) + "]", http.StatusRequestEntityTooLarge},
		{"a batch that is not an array", a.Token, ledger.MediaBatch, activity("UNODC", "x", "x"), http.StatusBadRequest},
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.contentType)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		var fe struct{ Field, Message *string }
		if err != nil || resp.StatusCode != c.status || string(got["results"]) != "null" ||
			json.Unmarshal(got["error"], &fe) != nil || fe.Field == nil || fe.Message == nil || *fe.Message == "" {
			t.Errorf("%s: %d %v %s, want %d and {\"results\": null, \"error\": {\"field\", \"message\"}}", c.name, resp.StatusCode, err, got, c.status)
		}
	}
}

// A correction of a retracted event is refused at ingest, naming /data/corrects: the views
// would not apply it (a retracted event stays retracted), so storing it would acknowledge an
// event that changes nothing. So it is whether the retraction came in an earlier request, in
// the same batch, or before a restart that lost the dedup index.
func TestCorrectionOfARetractedEventIsRefused(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	srv := httpServer(t, n)
	correct := func(id, target string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"/entities/UNODC","type":"compact.event.corrected","time":"2025-05-01T00:00:00Z","data":{"corrects":"` + target + `","reason":"typo","data":{"title":"fixed","start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"}}}`
	}
	retract := func(id, target string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"/entities/UNODC","type":"compact.event.retracted","time":"2025-05-01T00:00:00Z","data":{"retracts":"` + target + `","reason":"published by mistake"}}`
	}
	refused := func(what string, status int, r reply, i int) {
		t.Helper()
		if status == http.StatusCreated || len(r.Results) <= i || r.Results[i].Error == nil || r.Results[i].Error.Field != "/data/corrects" ||
			!strings.Contains(r.Results[i].Error.Message, "retracted") {
			t.Errorf("%s: %d %+v, want the correction refused at /data/corrects as retracted", what, status, r)
		}
	}
	httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, activity("UNODC", "r-1", "one"))
	httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, activity("UNODC", "r-2", "two"))
	if status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, retract("rt-1", "r-1")); status != http.StatusCreated {
		t.Fatalf("retraction: %d %+v", status, r)
	}
	status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, correct("fix-1", "r-1"))
	refused("a correction after the retraction", status, r, 0)
	// In one batch: the retraction and then the correction. A correction before its
	// retraction is fine.
	status, r = httpPublish(t, srv.URL, a.Token, ledger.MediaBatch, "["+correct("fix-2a", "r-2")+","+retract("rt-2", "r-2")+","+correct("fix-2b", "r-2")+"]")
	if r.Results[0].Error != nil || r.Results[1].Error != nil {
		t.Fatalf("a correction, then the retraction: %d %+v", status, r)
	}
	refused("a correction after the retraction in the same batch", status, r, 2)
	// A second retraction is refused too, at /data/retracts, after the first or beside it.
	for what, body := range map[string]string{
		"a second retraction":                   "[" + retract("rt-1b", "r-1") + "]",
		"a second retraction in the same batch": "[" + activity("UNODC", "r-4", "four") + "," + retract("rt-4", "r-4") + "," + retract("rt-4b", "r-4") + "]",
	} {
		status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaBatch, body)
		last := r.Results[len(r.Results)-1]
		if status == http.StatusCreated || last.Error == nil || last.Error.Field != "/data/retracts" || !strings.Contains(last.Error.Message, "retracted already") {
			t.Errorf("%s: %d %+v, want it refused at /data/retracts as retracted already", what, status, r)
		}
	}
	// Another event's correction is still taken.
	httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, activity("UNODC", "r-3", "three"))
	if status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, correct("fix-3", "r-3")); status != http.StatusCreated {
		t.Fatalf("a correction of an event not retracted: %d %+v", status, r)
	}
	srv.Close()
	n.Close(context.Background())

	// An index written before it recorded retractions (no version key, no 'r' keys) is
	// folded again from the stream's start when it is opened.
	db, err := pebble.Open(filepath.Join(dir, "index"), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteRange([]byte("r"), []byte("s"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete([]byte("\x00version"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	n = testNode(t, dir)
	srv = httpServer(t, n)
	status, r = httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, correct("fix-1-old-index", "r-1"))
	refused("after a restart with an index of the version before", status, r, 0)
	srv.Close()
	n.Close(context.Background())

	// The dedup index lost: rebuilt from the stream, it still knows the retractions.
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	n = testNode(t, dir)
	srv = httpServer(t, n)
	status, r = httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, correct("fix-1-again", "r-1"))
	refused("after a restart without the index", status, r, 0)
	if got := streamMsgs(t, n); got != 9 { // r-1, r-2, rt-1, fix-2a, rt-2, r-4, rt-4, r-3, fix-3
		t.Errorf("stream holds %d messages, want 9", got)
	}
}

// The Secretariat corrects and retracts its curations as any publisher its events (DESIGN:
// a correction or retraction names an earlier event of the same source; the review view
// applies both: a retracted curation gives the item back to its hint or the rules). A
// corrected curation's item is checked as a curation's is: an activity the ledger holds.
func TestCurationsCanBeCorrectedAndRetracted(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	sec := addEntity(t, n, dir, "SECRETARIAT", ledger.RoleSecretariat)
	pub := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	srv := httpServer(t, n)
	httpPublish(t, srv.URL, pub.Token, ledger.MediaEvent, activity("UNODC", "m-1", "one"))
	httpPublish(t, srv.URL, pub.Token, ledger.MediaEvent, activity("UNODC", "m-2", "two"))
	httpPublish(t, srv.URL, pub.Token, ledger.MediaEvent, `{"specversion":"1.0","id":"doc-1","source":"/entities/UNODC","type":"compact.document.shared","time":"2025-05-01T00:00:00Z","data":{"document":"d-1","title":"a document","shared_by":{"entity":"UNODC"},"date":"2025-05-02"}}`)
	curation := func(item string) string {
		return `{"period":"2025-05","item":{"source":"/entities/UNODC","id":"` + item + `"},"action":"omit"}`
	}
	for _, id := range []string{"cur-1", "cur-2"} {
		ev := `{"specversion":"1.0","id":"` + id + `","source":"/entities/SECRETARIAT","type":"compact.review.curated","time":"2025-05-01T00:00:00Z","data":` + curation("m-1") + `}`
		if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, ev); status != http.StatusCreated {
			t.Fatalf("curation %s: %d %+v", id, status, r)
		}
	}
	correct := func(id, target, data string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"/entities/SECRETARIAT","type":"compact.event.corrected","time":"2025-05-01T00:00:00Z","data":{"corrects":"` + target + `","reason":"wrong item","data":` + data + `}}`
	}
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, correct("fix-1", "cur-1", curation("m-2"))); status != http.StatusCreated {
		t.Errorf("correcting a curation: %d %+v", status, r)
	}
	for _, c := range []struct{ name, item, want string }{
		{"an item the ledger does not hold", "m-9", "no event"},
		{"an item that is no activity", "doc-1", "compact.document.shared"},
	} {
		status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, correct("fix-x", "cur-2", curation(c.item)))
		if status != http.StatusBadRequest || r.Results[0].Error == nil || r.Results[0].Error.Field != "/data/data/item" ||
			!strings.Contains(r.Results[0].Error.Message, c.want) {
			t.Errorf("a corrected curation naming %s: %d %+v, want it refused at /data/data/item", c.name, status, r)
		}
	}
	retract := `{"specversion":"1.0","id":"rt-2","source":"/entities/SECRETARIAT","type":"compact.event.retracted","time":"2025-05-01T00:00:00Z","data":{"retracts":"cur-2","reason":"keep it"}}`
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, retract); status != http.StatusCreated {
		t.Errorf("retracting a curation: %d %+v", status, r)
	}
	// Corrections and retractions themselves still cannot be corrected or retracted.
	retractFix := `{"specversion":"1.0","id":"rt-fix","source":"/entities/SECRETARIAT","type":"compact.event.retracted","time":"2025-05-01T00:00:00Z","data":{"retracts":"fix-1","reason":"no"}}`
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, retractFix); status != http.StatusBadRequest || r.Results[0].Error.Field != "/data/retracts" {
		t.Errorf("retracting a correction: %d %+v", status, r)
	}
}
