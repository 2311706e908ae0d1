package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"compact/schemas"
)

// The fast path (scan.go, decodeFast, splitFast) must agree with the reference path
// (encoding/json, checkInterop, decodeReference) on every input it takes: the same events,
// bodies and errors. These tests hold it to that on the examples, the bad-input corpus and
// variations of them; FuzzFastMatchesReference on anything.

// fastSeeds are the schema examples, the bad-input corpus, and events that the fast path
// must take: every kind of string escape, numbers of every form, nesting, space.
func fastSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	exs, err := schemas.Examples()
	if err != nil {
		tb.Fatal(err)
	}
	var seeds [][]byte
	for _, ex := range exs {
		seeds = append(seeds, ex.Event)
	}
	ins, err := filepath.Glob(filepath.Join("testdata", "badinput", "*.in"))
	if err != nil || len(ins) == 0 {
		tb.Fatalf("no bad inputs: %v", err)
	}
	for _, name := range ins {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return append(seeds, fastVariants()...)
}

const fastBase = `{"specversion":"1.0","id":"v-1","source":"/entities/UNODC","type":"compact.meeting.held","time":"2025-05-05T09:00:00Z","data":{"title":"TITLE","start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"}}`

// manyMembers is n members "m0":0, "m1":1… of an object.
func manyMembers(n int) string {
	ms := make([]string, n)
	for i := range ms {
		ms[i] = fmt.Sprintf(`"m%d":%d`, i, i)
	}
	return strings.Join(ms, ",")
}

func fastVariants() [][]byte {
	var out [][]byte
	add := func(from, to string) {
		out = append(out, []byte(strings.Replace(fastBase, from, to, 1)))
	}
	for _, title := range []string{
		`"tab\tquote\" slash\/ back\\ \b\f\n\r \u00e9 \u2028 \u2029 \uD83D\uDE00 \ud83d\ude00"`,
		`"<script> & </script>"`,
		"\"\u2028 and \u2029 raw, é, 区域会议, \U0001F600\"",
		`"\u0000"`, `"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\ud800x"`, `"\u00"`, `"\x41"`, `"\'"`,
		"\"\x01\"", "\"\x7f\"", `"C:\\ud800\\dir"`,
		`5`, `-0`, `1.5e3`, `1E+2`, `9007199254740991`, `9007199254740992`, `-9007199254740992`,
		`1e400`, `0.0000000000000000001`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `0x10`,
		`true`, `false`, `null`, `tru`, `nul`, `[]`, `{}`, `[1,2,]`, `{"a":1,}`, `{"a" 1}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"\u0061":1}`, `{"A":1,"a":2}`,
	} {
		add(`"TITLE"`, title)
	}
	for _, c := range [][2]string{
		{`{"specversion"`, " \t\r\n{ \"specversion\" "},
		{`}}`, "} \n} \n"},
		{`"data":`, `"data" : `},
		{`"start":"2025-05-05",`, `"start" : "2025-05-05" , "end":"2025-05-06",`},
		{`"format":"conference"`, `"format":"working_group_meeting","working_group":"wg-1"`},
		{`"format":"conference"`, `"format":"conference","participants":45,"countries":["USA","FRA"],"partners":[{"org":"OSCE","kind":"regional"},{"state":"QAT"}]`},
		{`"format":"conference"`, `"format":"conference","participants":4.5`},
		{`"format":"conference"`, `"format":"conference","participants":45.0`},
		{`"format":"conference"`, `"format":"conference","participants":4.5e1`},
		{`"format":"conference"`, `"format":"conference","links":[{"url":"https://example.org/a?b=1&c=<2>"}]`},
		{`"time"`, `"subject":"a <b> & c \u2028","time"`},
		{`"time"`, "\"subject\":\"a <b> & c \u2028 é\",\"time\""},
		{`"time"`, `"subject":"","datacontenttype":"","dataschema":"","time"`},
		{`"time"`, `"subject":null,"time"`},
		{`"time"`, `"datacontenttype":"application/json; charset=utf-8","dataschema":"https://compact.example/schemas/compact.meeting.held.json","time"`},
		{`"time"`, `"datacontenttype":"text/plain","time"`},
		{`"time"`, `"ID":"v-2","time"`},
		{`"time"`, `"Id":"v-2","time"`},
		{`"time"`, `"id":"v-2","time"`},
		{`"time"`, `"extra":"x","time"`},
		{`"v-1"`, `"v\u002d1"`},
		{`"v-1"`, `5`},
		{`"v-1"`, `null`},
		{`"v-1"`, `"v..1"`},
		{`"v-1"`, `""`},
		{`"2025-05-05T09:00:00Z"`, `"2025-05-05T09:00:00.123456789+02:00"`},
		{`"2025-05-05T09:00:00Z"`, `"2025-05-05 09:00:00Z"`},
		{`"/entities/UNODC"`, `"/entities/UNOCT"`},
		{`"/entities/UNODC"`, `"/entities/unodc"`},
		{`"compact.meeting.held"`, `"compact.review.curated"`},
		{`"compact.meeting.held"`, `"compact.nothing"`},
		{`"1.0"`, `"1.1"`},
		{`{"title"`, `{"colour":"red","title"`},
		{`"2025-05-05","organizers"`, `"2025-02-30","organizers"`},
		// a name written twice in the data (the fast path leaves it to the reference path)
		{`"format":"conference"`, `"format":"nonsense","format":"conference"`},
		{`"format":"conference"`, `"format":"conference","format":"nonsense"`},
		{`"start":"2025-05-05",`, `"start":"2025-05-05","end":"2025-05-01","end":"2025-05-06",`},
		{`"start":"2025-05-05",`, `"start":"2025-05-05","end":"2025-05-06","end":"2025-05-01",`},
		{`[{"entity":"UNODC"}]`, `[{"entity":"nonsense","entity":"UNODC"}]`},
		{`[{"entity":"UNODC"}]`, `[{"entity":"UNODC"},{"entity":"OSCE","entity":"UNODC"}]`},
		{`"format":"conference"`, `"format":"nonsense",` + manyMembers(20) + `,"format":"conference"`},
		{`[{"entity":"UNODC"}]`, `[{"entity":"nonsense",` + manyMembers(20) + `,"entity":"UNODC"}]`},
		{`,"data":{"title":"TITLE","start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"}`, ``},
		{`,"data":{"title":"TITLE","start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"}`, `,"data":null`},
		{`,"data":{"title":"TITLE","start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"}`, `,"data":[]`},
		{`"specversion":"1.0",`, `"data":{"title":"x","start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"},"specversion":"1.0",`},
	} {
		add(c[0], c[1])
	}
	out = append(out, []byte(fastBase+" "), []byte(fastBase+"{}"), []byte(fastBase+"\u00a0"), []byte("\ufeff"+fastBase))
	return out
}

func principalOf(raw []byte) Principal {
	var head struct{ Source string }
	json.Unmarshal(raw, &head)
	entity, ok := strings.CutPrefix(head.Source, SourcePrefix)
	if !ok || entity == "" {
		entity = "UNODC"
	}
	return Principal{Entity: entity, Role: RoleSecretariat}
}

// sameOutcome fails t when the fast path took raw and disagrees with the reference.
func sameOutcome(t *testing.T, raw []byte, p Principal, v *schemas.Validator) (fast bool) {
	t.Helper()
	c, fe, ok := decodeFast(raw, p, v)
	if !ok {
		if c != nil || fe != nil {
			t.Fatalf("fast path gave up but returned %v %v", c, fe)
		}
		return false
	}
	rc, rfe := decodeReference(raw, p, v)
	switch {
	case (fe == nil) != (rfe == nil):
		t.Fatalf("input %q:\nfast error %v\nreference error %v", raw, fe, rfe)
	case fe != nil:
		if fe.Field != rfe.Field || fe.Message != rfe.Message || fe.Kind != rfe.Kind {
			t.Fatalf("input %q:\nfast error %q %q %v\nreference    %q %q %v", raw, fe.Field, fe.Message, fe.Kind, rfe.Field, rfe.Message, rfe.Kind)
		}
	default:
		if !bytes.Equal(c.Body, rc.Body) {
			t.Fatalf("input %q:\nfast body %s\nreference %s", raw, c.Body, rc.Body)
		}
		if !reflect.DeepEqual(c.Event, rc.Event) {
			t.Fatalf("input %q:\nfast event %+v\nreference  %+v", raw, c.Event, rc.Event)
		}
	}
	return true
}

// sameSplit fails t when splitFast took body and disagrees with json.Unmarshal.
func sameSplit(t *testing.T, body []byte) {
	t.Helper()
	raws, ok := splitFast(body)
	if !ok {
		return
	}
	if len(raws) > MaxBatchEvents {
		// It stopped there, the rest unread (refused anyway): what it found must be values.
		for i, r := range raws {
			if !json.Valid(r) {
				t.Fatalf("input %q: element %d %q is no JSON value", body, i, r)
			}
		}
		return
	}
	var want []json.RawMessage
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("input %q: the fast split took what json.Unmarshal refuses: %v", body, err)
	}
	if len(raws) != len(want) {
		t.Fatalf("input %q: %d elements, json.Unmarshal finds %d", body, len(raws), len(want))
	}
	for i := range raws {
		if !bytes.Equal(raws[i], want[i]) {
			t.Fatalf("input %q: element %d is %q, json.Unmarshal has %q", body, i, raws[i], want[i])
		}
	}
}

// sameSlowSplit fails t when splitSlow disagrees with json.Unmarshal on body: the same
// elements (the first MaxBatchEvents+1 of a longer batch), or the same error.
func sameSlowSplit(t *testing.T, body []byte) {
	t.Helper()
	raws, err := splitSlow(body)
	var want []json.RawMessage
	wantErr := json.Unmarshal(body, &want)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("input %q: splitSlow says %v, json.Unmarshal %v", body, err, wantErr)
	}
	want = want[:min(len(want), MaxBatchEvents+1)]
	if len(raws) != len(want) {
		t.Fatalf("input %q: %d elements, json.Unmarshal finds %d", body, len(raws), len(want))
	}
	for i := range raws {
		if !bytes.Equal(raws[i], want[i]) {
			t.Fatalf("input %q: element %d is %q, json.Unmarshal has %q", body, i, raws[i], want[i])
		}
	}
}

func TestSlowSplitMatchesUnmarshal(t *testing.T) {
	for _, raw := range fastSeeds(t) {
		for _, batch := range [][]byte{
			append(append([]byte("[ "), raw...), " ,\n"+fastBase+"]"...),
			append(append([]byte("["), raw...), ']'),
			append(append([]byte("\t[\n"), raw...), "\n]\n"...),
			append(append([]byte("["), raw...), "] x"...),
		} {
			if len(batch) < 1<<20 {
				sameSlowSplit(t, batch)
			}
		}
	}
	for _, body := range []string{"[]", "[ ]", "[1,2", "[1,]", "[1 2]", `[{"a":1},"b",[3]]`, `[0] [1]`,
		"[" + strings.Repeat("0,", MaxBatchEvents+5) + "0]"} {
		sameSlowSplit(t, []byte(body))
	}
}

func TestFastMatchesReference(t *testing.T) {
	v := schemas.Default()
	seeds := fastSeeds(t)
	fast := 0
	for _, raw := range seeds {
		for _, p := range []Principal{principalOf(raw), {Entity: "UNODC", Role: RolePublisher}} {
			if sameOutcome(t, raw, p, v) {
				fast++
			}
		}
		batch := append(append([]byte("[ "), raw...), " ,\n"+fastBase+"]"...)
		sameSplit(t, raw)
		sameSplit(t, batch)
		if raws, err := SplitBatch(batch); err == nil {
			for _, r := range raws {
				sameOutcome(t, r, principalOf(r), v)
			}
		}
	}
	// The fast path is the one taken: by every valid example and every plain variant.
	exs, _ := schemas.Examples()
	for _, ex := range exs {
		if !ex.Valid {
			continue
		}
		if _, _, ok := decodeFast(ex.Event, principalOf(ex.Event), v); !ok {
			t.Errorf("%s: the fast path gave up on a valid example", ex.Name)
		}
	}
	for _, raw := range []string{fastBase, strings.Replace(fastBase, `"TITLE"`, `"tab\tquote\" \u00e9 \ud83d\ude00 <&>"`, 1)} {
		if _, _, ok := decodeFast([]byte(raw), principalOf([]byte(raw)), v); !ok {
			t.Errorf("the fast path gave up on %s", raw)
		}
		batch := []byte("[" + raw + "," + raw + "]")
		if _, ok := splitFast(batch); !ok {
			t.Errorf("the fast split gave up on %s", batch)
		}
	}
	t.Logf("%d of %d decodes took the fast path", fast, 2*len(seeds))
}

// Decoding from many goroutines at once (the ingest does) gives each the outcome it gets
// alone: the pooled scanners share nothing. Run with -race.
func TestFastConcurrently(t *testing.T) {
	v := schemas.Default()
	seeds := fastSeeds(t)
	want := make([]string, len(seeds))
	outcome := func(raw []byte) string {
		c, fe := Decode(raw, principalOf(raw), v)
		if fe != nil {
			return fe.Error()
		}
		return string(c.Body)
	}
	for i, raw := range seeds {
		want[i] = outcome(raw)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range seeds {
				i := (k + g*len(seeds)/8) % len(seeds)
				if got := outcome(seeds[i]); got != want[i] {
					t.Errorf("input %q: concurrently %q, alone %q", seeds[i], got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

// FuzzFastMatchesReference: whatever the fast path takes, it decodes as the reference does.
func FuzzFastMatchesReference(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add(s)
	}
	v := schemas.Default()
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameOutcome(t, raw, principalOf(raw), v)
		sameSplit(t, raw)
	})
}

func TestIDAndAcronymLoops(t *testing.T) {
	id := regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	acronym := regexp.MustCompile(`^[A-Z0-9-]{2,24}$`)
	for _, s := range []string{"", "a", "A-1", "a..b", "a b", "a/b", "é", "UNODC", "U", "unodc", "UN-ODC", "A\n",
		strings.Repeat("x", 128), strings.Repeat("x", 129), strings.Repeat("X", 24), strings.Repeat("X", 25), "3f2504e0-4f89:11d3_9a0c.0305"} {
		if isEventID(s) != id.MatchString(s) {
			t.Errorf("isEventID(%q) = %v", s, isEventID(s))
		}
		if isAcronym(s) != acronym.MatchString(s) {
			t.Errorf("isAcronym(%q) = %v", s, isAcronym(s))
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "<>&", "\b\f\n\r\t\x00\x1f\x7f", "é 区 \U0001F600 \u2028\u2029", "\xff", "a\xe2\x80"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, json.Marshal %s", s, got, want)
		}
	}
}

func BenchmarkSplitFast(b *testing.B) {
	var batch bytes.Buffer
	batch.WriteByte('[')
	for i := range 16 {
		if i > 0 {
			batch.WriteByte(',')
		}
		batch.WriteString(strings.Replace(fastBase, `"TITLE"`, `"UNODC-OAS and partners held a PCVE workshop to promote multisectoral cooperation in Latin America, with national authorities and civil society"`, 1))
	}
	batch.WriteByte(']')
	b.SetBytes(int64(batch.Len()))
	for b.Loop() {
		if _, ok := splitFast(batch.Bytes()); !ok {
			b.Fatal("gave up")
		}
	}
}
