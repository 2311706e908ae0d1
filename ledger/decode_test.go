package ledger_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"compact/ledger"
	"compact/schemas"
)

// Every example event in schemas/ goes through the whole decoder (envelope, data,
// authorization) as its own source would publish it, and is accepted or rejected as
// labelled, the error naming the labelled field.
func TestSchemaExamplesThroughDecode(t *testing.T) {
	exs, err := schemas.Examples()
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) < 2*len(schemas.Types()) {
		t.Fatalf("only %d examples for %d types", len(exs), len(schemas.Types()))
	}
	v := schemas.Default()
	for _, ex := range exs {
		t.Run(ex.Name, func(t *testing.T) {
			var head struct{ Source string }
			json.Unmarshal(ex.Event, &head)
			p := ledger.Principal{Entity: strings.TrimPrefix(head.Source, ledger.SourcePrefix), Role: ledger.RolePublisher}
			if p.Entity == "SECRETARIAT" {
				p.Role = ledger.RoleSecretariat
			}
			c, fe := ledger.Decode(ex.Event, p, v)
			if ex.Valid {
				if fe != nil {
					t.Fatalf("valid example rejected: %v", fe)
				}
				if !json.Valid(c.Body) {
					t.Fatalf("stored body is not JSON: %s", c.Body)
				}
				return
			}
			if fe == nil {
				t.Fatalf("invalid example accepted")
			}
			if fe.Field != ex.Field || !strings.Contains(fe.Message, ex.Message) {
				t.Fatalf("error %q, want field %q with %q", fe.Error(), ex.Field, ex.Message)
			}
		})
	}
}

func TestDecodeEnvelope(t *testing.T) {
	unodc := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	base := `{"specversion":"1.0","id":"a-1","source":"/entities/UNODC","type":"compact.meeting.held","time":"2025-05-05T09:00:00.123Z","data":{"title":"t","start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"}}`
	cases := []struct {
		name, event     string
		p               ledger.Principal
		field, contains string
	}{
		{"ok, SDK style: uuid id, millisecond time, no datacontenttype", strings.Replace(base, `"a-1"`, `"3f2504e0-4f89-11d3-9a0c-0305e82c3301"`, 1), unodc, "", ""},
		{"ok with datacontenttype", strings.Replace(base, `"time"`, `"datacontenttype":"application/json","time"`, 1), unodc, "", ""},
		{"spoofed source", strings.Replace(base, "/entities/UNODC", "/entities/UNOCT", 1), unodc, "/source", "authenticated as UNODC"},
		{"bad source form", strings.Replace(base, "/entities/UNODC", "unodc", 1), unodc, "/source", "/entities/<ENTITY>"},
		{"unknown type", strings.Replace(base, "compact.meeting.held", "compact.party.thrown", 1), unodc, "/type", "unknown event type"},
		{"id with star", strings.Replace(base, `"a-1"`, `"a*1"`, 1), unodc, "/id", "A-Z a-z 0-9"},
		{"id with >", strings.Replace(base, `"a-1"`, `"a>"`, 1), unodc, "/id", "A-Z a-z 0-9"},
		{"id with space", strings.Replace(base, `"a-1"`, `"a 1"`, 1), unodc, "/id", "A-Z a-z 0-9"},
		{"id with dot run", strings.Replace(base, `"a-1"`, `"a..1"`, 1), unodc, "/id", ".."},
		{"subject empty", strings.Replace(base, `"time"`, `"subject":"","time"`, 1), unodc, "/subject", "not empty"},
		{"subject empty, spaced", strings.Replace(base, `"time"`, `"subject" : "" ,"time"`, 1), unodc, "/subject", "not empty"},
		{"ok: subject null (absent)", strings.Replace(base, `"time"`, `"subject":null,"time"`, 1), unodc, "", ""},
		{"dataschema empty", strings.Replace(base, `"time"`, `"dataschema":"","time"`, 1), unodc, "/dataschema", "absolute URI"},
		{"dataschema not a URI", strings.Replace(base, `"time"`, `"dataschema":"meeting schema","time"`, 1), unodc, "/dataschema", "absolute URI"},
		{"ok: dataschema", strings.Replace(base, `"time"`, `"dataschema":"https://compact.example/schemas/compact.meeting.held.json","time"`, 1), unodc, "", ""},
		{"id a dot alone", strings.Replace(base, `"a-1"`, `"."`, 1), unodc, "/id", `"."`},
		{"ok: id starting with a dot", strings.Replace(base, `"a-1"`, `".a"`, 1), unodc, "", ""},
		{"id too long", strings.Replace(base, `"a-1"`, `"`+strings.Repeat("x", 129)+`"`, 1), unodc, "/id", "1-128"},
		{"id a number", strings.Replace(base, `"a-1"`, `5`, 1), unodc, "/id", "must be a string"},
		{"specversion", strings.Replace(base, `"1.0"`, `"0.3"`, 1), unodc, "/specversion", "1.0"},
		{"time", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `yesterday`, 1), unodc, "/time", "RFC 3339"},
		{"datacontenttype", strings.Replace(base, `"time"`, `"datacontenttype":"text/xml","time"`, 1), unodc, "/datacontenttype", "application/json"},
		{"ok: time with an offset", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `2025-05-05T11:00:00.123+02:00`, 1), unodc, "", ""},
		{"ok: time with nanoseconds", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `2025-05-05T09:00:00.123456789Z`, 1), unodc, "", ""},
		{"time: one-digit hour", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `2025-05-05T9:00:00Z`, 1), unodc, "/time", "RFC 3339"},
		{"time: comma before the fraction", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `2025-05-05T09:00:00,5Z`, 1), unodc, "/time", "RFC 3339"},
		{"time: offset hour 24", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `2025-05-05T09:00:00+24:00`, 1), unodc, "/time", "RFC 3339"},
		{"time: offset minute 60", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `2025-05-05T09:00:00+01:60`, 1), unodc, "/time", "RFC 3339"},
		{"time: lower-case t and z (RFC 3339 allows them; the ledger asks for upper case)", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `2025-05-05t09:00:00z`, 1), unodc, "/time", "RFC 3339"},
		{"time: a leap second (Go's time has none)", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `2016-12-31T23:59:60Z`, 1), unodc, "/time", "RFC 3339"},
		{"time: no seconds", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `2025-05-05T09:00Z`, 1), unodc, "/time", "RFC 3339"},
		{"time: February 30", strings.Replace(base, `2025-05-05T09:00:00.123Z`, `2025-02-30T09:00:00Z`, 1), unodc, "/time", "RFC 3339"},
		{"ok: datacontenttype with charset=utf-8", strings.Replace(base, `"time"`, `"datacontenttype":"application/json; charset=UTF-8","time"`, 1), unodc, "", ""},
		{"datacontenttype with another charset", strings.Replace(base, `"time"`, `"datacontenttype":"application/json; charset=latin1","time"`, 1), unodc, "/datacontenttype", "application/json"},
		{"datacontenttype empty", strings.Replace(base, `"time"`, `"datacontenttype":"","time"`, 1), unodc, "/datacontenttype", "application/json"},
		{"datacontenttype null", strings.Replace(base, `"time"`, `"datacontenttype":null,"time"`, 1), unodc, "/datacontenttype", "application/json"},
		{"a member that differs from one by case is named, not the one it folds into", strings.Replace(base, `"id":"a-1",`, `"id":"a-1","ID":5,`, 1), unodc, "/ID", "unknown attribute"},
		{"a member that folds into specversion", strings.Replace(base, `"specversion":"1.0",`, `"specversion":"1.0","ſpecversion":5,`, 1), unodc, "/ſpecversion", "unknown attribute"},
		{"padded with a vertical tab (not JSON white space)", "\v" + base, unodc, "", "JSON object"},
		{"padded with U+2028", base + "\u2028", unodc, "", "trailing"},
		{"ok: padded with JSON white space", " \t\r\n" + base + "\n", unodc, "", ""},
		{"unknown attribute", strings.Replace(base, `"time"`, `"colour":"red","time"`, 1), unodc, "/colour", "unknown attribute"},
		{"data not object", base[:strings.Index(base, `"data":`)] + `"data":"x"}`, unodc, "/data", "must be an object"},
		{"bad data date", strings.Replace(base, `"start":"2025-05-05"`, `"start":"2025-02-30"`, 1), unodc, "/data/start", "not a date"},
		{"not json", `{"id": `, unodc, "", "not valid JSON"},
		{"trailing", base + `{}`, unodc, "", "trailing"},
		{"invalid utf-8", strings.Replace(base, `"t"`, "\"\xff\"", 1), unodc, "/data/title", "UTF-8"},
		{"array", `[1]`, unodc, "", "JSON object"},
		{"too large", strings.Replace(base, `"title":"t"`, `"title":"`+strings.Repeat("x", 70000)+`"`, 1), unodc, "", "at most"},
		{"curation by a publisher", `{"specversion":"1.0","id":"c-1","source":"/entities/UNODC","type":"compact.review.curated","time":"2025-05-05T09:00:00Z","data":{"period":"2025-05","item":{"source":"/entities/UNODC","id":"a-1"},"action":"omit"}}`, unodc, "/type", "only the Secretariat"},
		{"auditor publishes", base, ledger.Principal{Entity: "UNODC", Role: ledger.RoleAuditor}, "/type", "may not publish"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, fe := ledger.Decode([]byte(c.event), c.p, schemas.Default())
			if c.contains == "" && c.field == "" {
				if fe != nil {
					t.Fatalf("rejected: %v", fe)
				}
				return
			}
			if fe == nil {
				t.Fatalf("accepted, want %s: %s", c.field, c.contains)
			}
			if fe.Field != c.field || !strings.Contains(fe.Message, c.contains) {
				t.Fatalf("got %q, want field %q containing %q", fe.Error(), c.field, c.contains)
			}
		})
	}
}

// A batch over MaxBatchEvents is refused as soon as its element MaxBatchEvents+1 is found,
// without first splitting the rest: an 8 MiB body of tiny elements ([0,0,…], four million
// of them) made SplitBatch build a slice of every one, some 70 times the body in memory (and
// over a second of CPU), before refusing it; any publisher can send one. Both splits are
// held to it: the fast one, and encoding/json's, which a first element the fast scan does
// not take (an escaped member name) sends the whole body to.
func TestSplitBatchRefusesALongBatchWithoutSplittingIt(t *testing.T) {
	tiny := func(first string) []byte {
		body := append(make([]byte, 0, ledger.MaxRequestBytes), '[')
		body = append(body, first...)
		for len(body) < ledger.MaxRequestBytes-2 {
			body = append(body, ',', '0')
		}
		return append(body, ']')
	}
	for name, body := range map[string][]byte{
		"fast split":          tiny("0"),
		"encoding/json split": tiny(`{"\u0069d":"x"}`),
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		raws, err := ledger.SplitBatch(body)
		runtime.ReadMemStats(&after)
		var fe *ledger.FieldError
		if !errors.As(err, &fe) || !errors.Is(fe.Kind, ledger.ErrTooLarge) || !strings.Contains(fe.Message, "at most 1000 per request") {
			t.Errorf("%s: %d events, error %v; want refused as too large", name, len(raws), err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		if alloc > uint64(len(body))/8 {
			t.Errorf("%s: refusing a body of %d bytes allocated %d bytes (want at most an eighth of the body)", name, len(body), alloc)
		}
		t.Logf("%s: refusing a body of %d bytes allocated %d bytes", name, len(body), alloc)
	}
}

// eventOfSize is a valid compact.training.delivered event of UNODC whose compact JSON (what
// the ledger stores) is exactly size bytes, its length made up by links.
func eventOfSize(t *testing.T, id string, size int) []byte {
	t.Helper()
	type link struct {
		Label string `json:"label"`
		URL   string `json:"url"`
	}
	data := map[string]any{"title": "t", "start": "2025-06-24", "end": "2025-06-27", "organizers": []any{map[string]string{"entity": "UNODC"}},
		"countries": []string{"KHM"}, "format": "training"}
	ev := map[string]any{"specversion": "1.0", "id": id, "source": "/entities/UNODC", "type": "compact.training.delivered", "time": "2025-06-24T09:00:00Z", "data": data}
	var links []link
	for {
		data["links"] = links
		b, _ := json.Marshal(ev)
		if len(b) == size {
			return b
		}
		if len(b) > size || len(links) == 50 {
			t.Fatalf("cannot make an event of %d bytes (%d)", size, len(b))
		}
		if len(links) == 0 || len(links[len(links)-1].URL) >= 2000 {
			links = append(links, link{"l", "https://example.org/"})
			continue
		}
		l := &links[len(links)-1]
		l.URL += strings.Repeat("a", min(size-len(b), 2000-len(l.URL)))
	}
}

// The size limit is on the event as the ledger stores it, its JSON without white space: an
// event at the limit is taken with a trailing newline (as a file holds it, and as curl
// --data-binary or Python's read() send it) and pretty-printed. It used to be measured on
// the bytes received, white space included, and refused as larger than it is.
func TestEventSizeLimitIsTheStoredSize(t *testing.T) {
	unodc := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	v := schemas.Default()
	at := eventOfSize(t, "at-limit", ledger.MaxEventSize)
	var pretty bytes.Buffer
	json.Indent(&pretty, at, "", "  ")
	for name, raw := range map[string][]byte{
		"compact":              at,
		"with a newline after": append(append([]byte(nil), at...), '\n'),
		"pretty-printed":       pretty.Bytes(),
	} {
		c, fe := ledger.Decode(raw, unodc, v)
		if fe != nil {
			t.Errorf("%s (%d bytes received): refused: %v", name, len(raw), fe)
			continue
		}
		if len(c.Body) != ledger.MaxEventSize {
			t.Errorf("%s: stored %d bytes, want %d", name, len(c.Body), ledger.MaxEventSize)
		}
	}
	over := eventOfSize(t, "over", ledger.MaxEventSize+1)
	pretty.Reset()
	json.Indent(&pretty, over, "", "  ")
	for _, raw := range [][]byte{over, pretty.Bytes()} {
		_, fe := ledger.Decode(raw, unodc, v)
		if fe == nil || !errors.Is(fe, ledger.ErrTooLarge) || !strings.Contains(fe.Message, "event of 65537 bytes") || !strings.Contains(fe.Message, "shorten") {
			t.Errorf("one byte over the limit (%d bytes received): %v; want too large, its size and what to do", len(raw), fe)
		}
	}
}
