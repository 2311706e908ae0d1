package ledger_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"compact/ledger"
	"compact/schemas"
)

// badInput is one hostile request and what the ingest must answer: see
// testdata/badinput/README.md for the sidecar format.
type badInput struct {
	name        string
	body        []byte
	status      int    // HTTP status
	field       string // JSON pointer named by the error ("" for the request or event as a whole)
	message     string // a substring of the error's message
	as          string // the entity that sends it
	contentType string // HTTP Content-Type; "" sends none
	natsField   string // over NATS, when it differs from field (415: HTTP refuses before the body)
	natsMessage string
	index       int   // the result of a batch that carries the error
	natsErr     error // over NATS, the client refuses the request with this error
	natsDenied  bool  // over NATS, the server refuses the entity the ingest subject itself
}

const badInputDir = "testdata/badinput"

// loadBadInputs reads every NAME.in with its NAME.want. A sidecar without an input, an input
// without a sidecar, or an unknown key is a broken corpus, not a skipped case.
func loadBadInputs(t testing.TB) []badInput {
	t.Helper()
	entries, err := os.ReadDir(badInputDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []badInput
	seen := map[string]bool{}
	for _, e := range entries {
		ext := strings.TrimPrefix(filepath.Ext(e.Name()), ".")
		name := strings.TrimSuffix(e.Name(), "."+ext)
		switch ext {
		case "in", "want":
			seen[name+"."+ext] = true
		case "md":
			continue
		default:
			t.Fatalf("%s/%s: not an input (.in) or a sidecar (.want)", badInputDir, e.Name())
		}
	}
	for f := range seen {
		ext := strings.TrimPrefix(filepath.Ext(f), ".")
		name := strings.TrimSuffix(f, "."+ext)
		other := map[string]string{"in": "want", "want": "in"}[ext]
		if !seen[name+"."+other] {
			t.Fatalf("%s/%s has no %s.%s", badInputDir, f, name, other)
		}
		if ext != "in" {
			continue
		}
		body, err := os.ReadFile(filepath.Join(badInputDir, f))
		if err != nil {
			t.Fatal(err)
		}
		in := parseWant(t, name, filepath.Join(badInputDir, name+".want"))
		in.body = body
		if in.contentType == "" {
			in.contentType = defaultContentType(body)
		} else if in.contentType == "none" {
			in.contentType = ""
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b badInput) int { return strings.Compare(a.name, b.name) })
	return out
}

func defaultContentType(body []byte) string {
	if bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("[")) {
		return ledger.MediaBatch
	}
	return ledger.MediaEvent
}

func parseWant(t testing.TB, name, path string) badInput {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := badInput{name: name, as: "UNODC", natsField: "\x00unset", natsMessage: "\x00unset"}
	have := map[string]bool{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, val, ok := strings.Cut(text, ":")
		if !ok {
			t.Fatalf("%s:%d: want key: value", path, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if strings.HasPrefix(val, `"`) {
			if err := json.Unmarshal([]byte(val), &val); err != nil {
				t.Fatalf("%s:%d: quoted value: %v", path, line, err)
			}
		}
		have[key] = true
		switch key {
		case "http":
			if in.status, err = strconv.Atoi(val); err != nil || !slices.Contains([]int{400, 403, 413, 415}, in.status) {
				t.Fatalf("%s:%d: http %q: want 400, 403, 413 or 415", path, line, val)
			}
		case "field":
			in.field = val
		case "message":
			in.message = val
		case "as":
			in.as = val
		case "content-type":
			in.contentType = val
		case "nats-field":
			in.natsField = val
		case "nats-message":
			in.natsMessage = val
		case "nats":
			if val != "permissions" {
				t.Fatalf("%s:%d: nats %q: the only value is permissions", path, line, val)
			}
			in.natsDenied = true
		case "index":
			if in.index, err = strconv.Atoi(val); err != nil {
				t.Fatalf("%s:%d: index %q", path, line, val)
			}
		default:
			t.Fatalf("%s:%d: unknown key %q", path, line, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"http", "field", "message"} {
		if !have[k] {
			t.Fatalf("%s: %q is required", path, k)
		}
	}
	if in.field != "" && !strings.HasPrefix(in.field, "/") {
		t.Fatalf("%s: field %q is not a JSON pointer", path, in.field)
	}
	return in
}

// generatedBadInputs are the inputs too big to check in.
func generatedBadInputs() []badInput {
	ev := func(id, data string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"/entities/UNODC","type":"compact.meeting.held","time":"2025-05-05T09:00:00Z","data":` + data + `}`
	}
	meeting := func(title string) string {
		return `{"title":` + title + `,"start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"}`
	}
	var tenMB bytes.Buffer
	tenMB.WriteByte('[')
	for i := 0; tenMB.Len() < 10<<20; i++ {
		if i > 0 {
			tenMB.WriteByte(',')
		}
		tenMB.WriteString(ev(fmt.Sprintf("big-%d", i), meeting(`"ten megabytes"`)))
	}
	tenMB.WriteByte(']')

	var many bytes.Buffer
	many.WriteByte('[')
	for i := range 100_000 {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `{"id":"m-%d"}`, i)
	}
	many.WriteByte(']')

	var thousand1 []string
	for i := range ledger.MaxBatchEvents + 1 {
		// Each invalid (2025-02-30), so that even a wrongly accepted batch stores nothing.
		thousand1 = append(thousand1, ev(fmt.Sprintf("k-%d", i), `{"title":"t","start":"2025-02-30","organizers":[{"entity":"UNODC"}],"format":"conference"}`))
	}

	deepArray := strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000)
	deepObject := strings.Repeat(`{"a":`, 10_000) + "1" + strings.Repeat("}", 10_000)
	nearlyDeep := strings.Repeat(`{"a":`, 9_000) + "1" + strings.Repeat("}", 9_000)
	twiceDeep := strings.Repeat(`{"a":`, 4_000) + "1" + strings.Repeat("}", 4_000) // two fit in one event
	nearlyDeepArray := strings.Repeat("[", 9_000) + strings.Repeat("]", 9_000)
	return []badInput{
		{name: "gen/body-10MB", body: tenMB.Bytes(), status: 413, message: "split the batch",
			natsErr: nats.ErrMaxPayload},
		{name: "gen/batch-100000-events", body: many.Bytes(), status: 413, message: "at most 1000"},
		{name: "gen/batch-1001-events", body: []byte("[" + strings.Join(thousand1, ",") + "]"), status: 413, message: "at most 1000"},
		// 10,000 levels is within encoding/json's limit for the batch array itself: its one
		// element, 9,999 levels deep, is no event.
		{name: "gen/nesting-10000-arrays-as-batch", body: []byte(deepArray), status: 400, message: "JSON object"},
		{name: "gen/nesting-20000-arrays-as-batch", body: []byte(strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000)), status: 400, message: "nested more than 10000 levels deep"},
		{name: "gen/nesting-10000-objects-in-data", body: []byte(ev("deep-1", meeting(deepObject))), status: 400, message: "nested more than 10000 levels deep"},
		{name: "gen/nesting-10000-arrays-in-data", body: []byte(ev("deep-2", meeting(deepArray))), status: 400, message: "nested more than 10000 levels deep"},
		{name: "gen/nesting-9000-objects-in-title", body: []byte(ev("deep-3", meeting(nearlyDeep))), status: 400,
			field: "/data/title", message: "must be a string"},
		{name: "gen/nesting-9000-in-actor", body: []byte(ev("deep-4", `{"title":"t","start":"2025-05-05","organizers":[{"entity":"UNODC","x":`+nearlyDeepArray+`}],"format":"conference"}`)),
			status: 400, field: "/data/organizers/0/x", message: "unknown field"},
		{name: "gen/nesting-9000-twice-unique-items", body: []byte(ev("deep-5", `{"title":"t","start":"2025-05-05","organizers":[{"entity":"UNODC","x":`+twiceDeep+`},{"entity":"UNODC","x":`+twiceDeep+`}],"format":"conference"}`)),
			status: 400, field: "/data/organizers/0/x", message: "unknown field"},
		{name: "gen/id-10000-chars", body: []byte(ev(strings.Repeat("i", 10_000), meeting(`"t"`))), status: 400, field: "/id", message: "1-128"},
		{name: "gen/title-60KB", body: []byte(ev("long-title", meeting(`"`+strings.Repeat("t", 60_000)+`"`))), status: 400,
			field: "/data/title", message: "longer than 500"},
		{name: "gen/title-70KB", body: []byte(ev("huge-title", meeting(`"`+strings.Repeat("t", 70_000)+`"`))), status: 413, message: "at most 65536"},
		{name: "gen/type-60KB", body: []byte(strings.Replace(ev("long-type", meeting(`"t"`)), "compact.meeting.held", "compact."+strings.Repeat("x", 60_000), 1)),
			status: 400, field: "/type", message: "unknown event type"},
		{name: "gen/attribute-name-60KB", body: []byte(strings.Replace(ev("long-attr", meeting(`"t"`)), `"time"`, `"`+strings.Repeat("k", 60_000)+`":1,"time"`, 1)),
			// the name is cut in the pointer: an error never echoes kilobytes of the input
			status: 400, field: "/" + strings.Repeat("k", 64) + "…", message: "unknown attribute"},
		{name: "gen/batch-of-1000-oversized-events", body: []byte("[" + strings.Repeat(ev("fat", meeting(`"`+strings.Repeat("f", 7_000)+`"`))+",", 999) + ev("fat", meeting(`"`+strings.Repeat("f", 7_000)+`"`)) + "]"),
			status: 400, field: "/data/title", message: "longer than 500"},
	}
}

// corpusEntities are the principals of the corpus: the publisher that sends most inputs, the
// other entity whose events it may not touch, the Secretariat and an auditor.
var corpusEntities = []struct {
	name string
	role ledger.Role
}{
	{"UNODC", ledger.RolePublisher},
	{"UNOCT", ledger.RolePublisher},
	{"SECRETARIAT", ledger.RoleSecretariat},
	{"AUDIT", ledger.RoleAuditor},
}

// Every hostile input of the corpus, sent over HTTP and over NATS as its entity, gets an
// error naming the field; nothing enters the ledger; the server keeps serving: afterwards
// another entity's valid event is stored at the next sequence.
func TestBadInputCorpus(t *testing.T) {
	corpus := loadBadInputs(t)
	if len(corpus) < 100 {
		t.Fatalf("the corpus has %d inputs, want at least 100", len(corpus))
	}
	for _, in := range generatedBadInputs() {
		in.as, in.contentType = "UNODC", defaultContentType(in.body)
		in.natsField, in.natsMessage = "\x00unset", "\x00unset"
		corpus = append(corpus, in)
	}

	dir := t.TempDir()
	n := testNode(t, dir)
	creds := map[string]*ledger.Credentials{}
	conns := map[string]*nats.Conn{}
	asyncErrs := map[string]*asyncErrors{}
	for _, e := range corpusEntities {
		creds[e.name] = addEntity(t, n, dir, e.name, e.role)
		asyncErrs[e.name] = &asyncErrors{}
		nc, err := connectAs(n, creds[e.name], nats.ErrorHandler(asyncErrs[e.name].handler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[e.name] = nc
		if e.role.CanPublish() {
			waitIngest(t, nc, e.name)
		}
	}
	srv := httpServer(t, n)

	// The events the corpus refers to: another entity's event, and an event of UNODC's own
	// with its retraction.
	for _, f := range []struct{ as, body string }{
		{"UNOCT", activity("UNOCT", "b-1", "UNOCT's own")},
		{"UNODC", activity("UNODC", "a-1", "first")},
		{"UNODC", activity("UNODC", "a-2", "second")},
		{"UNODC", `{"specversion":"1.0","id":"a-2-rt","source":"/entities/UNODC","type":"compact.event.retracted","time":"2025-05-06T00:00:00Z","data":{"retracts":"a-2","reason":"published by mistake"}}`},
	} {
		r := natsPublish(t, conns[f.as], f.as, f.body)
		if len(r.Results) != 1 || r.Results[0].Error != nil || r.Results[0].Duplicate {
			t.Fatalf("fixture %s: %+v", f.body, r)
		}
	}
	msgsBefore, lastBefore := streamState(t, n)

	for _, in := range corpus {
		t.Run(in.name, func(t *testing.T) {
			if creds[in.as] == nil {
				t.Fatalf("sidecar names entity %q; the corpus has %v", in.as, corpusEntities)
			}
			status, r := httpPublish(t, srv.URL, creds[in.as].Token, in.contentType, string(in.body))
			if status != in.status {
				t.Errorf("HTTP status %d, want %d: %s", status, in.status, describeReply(r))
			}
			checkRefused(t, "HTTP", r, in.index, in.field, in.message)

			if in.natsDenied {
				if _, err := conns[in.as].Request(ledger.IngestSubjectPrefix+in.as, in.body, time.Second); err == nil {
					t.Fatalf("NATS: %s's request on its ingest subject was answered", in.as)
				}
				asyncErrs[in.as].waitFor(t, `Permissions Violation for Publish to "`+ledger.IngestSubjectPrefix+in.as+`"`)
				return
			}
			if in.natsErr != nil {
				_, err := conns[in.as].Request(ledger.IngestSubjectPrefix+in.as, in.body, 10*time.Second)
				if !errors.Is(err, in.natsErr) {
					t.Fatalf("NATS: %v, want %v", err, in.natsErr)
				}
				return
			}
			field, message := in.field, in.message
			if in.natsField != "\x00unset" {
				field = in.natsField
			}
			if in.natsMessage != "\x00unset" {
				message = in.natsMessage
			}
			checkRefused(t, "NATS", natsPublish(t, conns[in.as], in.as, string(in.body)), in.index, field, message)
		})
	}

	if msgs, last := streamState(t, n); msgs != msgsBefore || last != lastBefore {
		t.Fatalf("the corpus changed the ledger: %d messages up to seq %d before, %d up to %d after", msgsBefore, lastBefore, msgs, last)
	}
	// The server is up and serves others, over both paths, at the next sequences.
	r := natsPublish(t, conns["UNOCT"], "UNOCT", activity("UNOCT", "after-corpus-1", "after the corpus"))
	if len(r.Results) != 1 || r.Results[0].Error != nil || r.Results[0].Seq != lastBefore+1 {
		t.Fatalf("valid event after the corpus over NATS: %s, want seq %d", describeReply(r), lastBefore+1)
	}
	status, r := httpPublish(t, srv.URL, creds["UNOCT"].Token, ledger.MediaEvent, activity("UNOCT", "after-corpus-2", "after the corpus"))
	if status != http.StatusCreated || r.Results[0].Seq != lastBefore+2 {
		t.Fatalf("valid event after the corpus over HTTP: %d %s, want seq %d", status, describeReply(r), lastBefore+2)
	}
	// And the 10 MB request did not cost the publisher its connection.
	if !conns["UNODC"].IsConnected() {
		t.Fatal("UNODC's connection did not survive the corpus")
	}
	r = natsPublish(t, conns["UNODC"], "UNODC", activity("UNODC", "after-corpus-3", "after the corpus"))
	if r.Results[0].Error != nil || r.Results[0].Seq != lastBefore+3 {
		t.Fatalf("UNODC after the corpus: %s", describeReply(r))
	}
}

// waitIngest waits until the entity's ingest subject is served: the accounts of an entity
// just added are applied by a configuration reload, a moment after its user can connect.
func waitIngest(t *testing.T, nc *nats.Conn, entity string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := nc.Request(ledger.IngestSubjectPrefix+entity, []byte("[]"), 2*time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("compact.ingest.%s not served after 10s: %v", entity, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkRefused asserts that nothing of the request was stored and that the error at index
// (or of the request as a whole) names field and says message, in words meant for a person.
func checkRefused(t *testing.T, via string, r reply, index int, field, message string) {
	t.Helper()
	for i, res := range r.Results {
		if res.Error == nil {
			t.Errorf("%s: result %d accepted (seq %d, duplicate %v): %s", via, i, res.Seq, res.Duplicate, describeReply(r))
		}
	}
	var fe *struct{ Field, Message, Reason string }
	switch {
	case r.Error != nil:
		fe = r.Error
	case index < len(r.Results):
		fe = r.Results[index].Error
	}
	if fe == nil {
		t.Fatalf("%s: no error for result %d: %s", via, index, describeReply(r))
	}
	if fe.Field != field || !strings.Contains(fe.Message, message) {
		t.Errorf("%s: error %s, want field %q and a message containing %q", via, shorten(fmt.Sprintf("field %q: %q", fe.Field, fe.Message)), field, message)
	}
	if why := unclear(fe.Message); why != "" {
		t.Errorf("%s: unclear message (%s): %s", via, why, shorten(fe.Message))
	}
	switch fe.Reason { // what a program acts on, beside the words
	case "invalid", "forbidden", "too_large", "unauthenticated", "unavailable", "conflict":
	default:
		t.Errorf("%s: error with reason %q, want one of invalid, forbidden, too_large, unauthenticated, unavailable, conflict", via, fe.Reason)
	}
}

// unclear says why a message would not help a publisher: it is empty, echoes megabytes back,
// or leaks Go internals.
func unclear(msg string) string {
	switch {
	case strings.TrimSpace(msg) == "":
		return "empty"
	case len(msg) > 1000:
		return fmt.Sprintf("%d bytes long", len(msg))
	}
	for _, leak := range []string{"%!", "<nil>", "ledger.", "json.", "Go struct", "Go value", "interface {}", "panic", "runtime error"} {
		if strings.Contains(msg, leak) {
			return "mentions " + leak
		}
	}
	return ""
}

func describeReply(r reply) string {
	b, _ := json.Marshal(r)
	return shorten(string(b))
}

func shorten(s string) string {
	if len(s) > 400 {
		return s[:400] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

func streamState(t *testing.T, n *ledger.Node) (msgs, last uint64) {
	t.Helper()
	s, err := n.JS.Stream(context.Background(), ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs, info.State.LastSeq
}

// The interoperability rules refuse only what readers would disagree on: paired surrogate
// escapes, an escaped backslash before "u", integers up to 2^53-1, text in any script, and
// member names that are only alike in case inside data all stay accepted.
func TestDecodeAcceptsInteroperableJSON(t *testing.T) {
	p := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	base := activity("UNODC", "ok-1", "TITLE")
	for _, c := range []struct{ name, from, to string }{
		{"surrogate pair", `"TITLE"`, `"Emoji \ud83d\ude00 ok"`},
		{"escaped backslash before u", `"TITLE"`, `"C:\\ud800\\dir"`},
		{"escapes of every kind", `"TITLE"`, `"tab\tquote\" slash\/ \u00e9 \u2028"`},
		{"non-ASCII text", `"TITLE"`, `"Réunion régionale — 区域会议 — اجتماع"`},
		{"largest safe integer", `"format":"conference"`, `"format":"conference","participants":9007199254740991`},
		{"exponent integer", `"format":"conference"`, `"format":"conference","participants":1e3`},
		{"same name in two objects", `"organizers":[{"entity":"UNODC"}]`, `"organizers":[{"entity":"UNODC"},{"entity":"UNOCT"}]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := strings.Replace(base, c.from, c.to, 1)
			if ev == base {
				t.Fatalf("%q not in the base event", c.from)
			}
			cand, fe := ledger.Decode([]byte(ev), p, schemas.Default())
			if fe != nil {
				t.Fatalf("refused: %v", fe)
			}
			if !json.Valid(cand.Body) {
				t.Fatalf("Body is not JSON: %s", cand.Body)
			}
		})
	}
}
