package ledger_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"compact/ledger"
	"compact/schemas"
)

// fuzzSeeds are the schema examples and the small inputs of the bad-input corpus.
func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	exs, err := schemas.Examples()
	if err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	for _, ex := range exs {
		seeds = append(seeds, ex.Event)
	}
	ins, err := filepath.Glob(filepath.Join(badInputDir, "*.in"))
	if err != nil {
		f.Fatal(err)
	}
	if len(ins) == 0 {
		f.Fatalf("no bad inputs in %s", badInputDir)
	}
	for _, name := range ins {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// principalFor publishes as the event's own source when it names an entity, as the
// Secretariat (which may publish every type), so that the fuzzer reaches the data checks.
func principalFor(raw []byte) ledger.Principal {
	var head struct{ Source string }
	json.Unmarshal(raw, &head)
	entity := strings.TrimPrefix(head.Source, ledger.SourcePrefix)
	if entity == "" || entity == head.Source {
		entity = "UNODC"
	}
	return ledger.Principal{Entity: entity, Role: ledger.RoleSecretariat}
}

// FuzzDecode: no input makes SplitBatch or Decode panic; an error names a JSON pointer and
// says something; an accepted event's Body is valid JSON of at most MaxEventSize bytes that
// decodes back to the same event, and encodes to the same Body again.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	v := schemas.Default()
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, err := ledger.SplitBatch(body)
		if err != nil {
			var fe *ledger.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("SplitBatch error %T %v is no *FieldError", err, err)
			}
			checkFieldError(t, fe)
			return
		}
		if len(raws) == 0 || len(raws) > ledger.MaxBatchEvents {
			t.Fatalf("SplitBatch returned %d events", len(raws))
		}
		for _, raw := range raws {
			p := principalFor(raw)
			c, fe := ledger.Decode(raw, p, v)
			if fe != nil {
				if c != nil {
					t.Fatalf("Decode returned a candidate and an error %v", fe)
				}
				checkFieldError(t, fe)
				continue
			}
			checkCandidate(t, c, p, v)
			if why := interopProblem(raw); why != "" {
				t.Fatalf("accepted an event readers would disagree on: %s", why)
			}
		}
	})
}

func checkCandidate(t *testing.T, c *ledger.Candidate, p ledger.Principal, v *schemas.Validator) {
	t.Helper()
	if !json.Valid(c.Body) {
		t.Fatalf("accepted event's Body is not JSON: %q", c.Body)
	}
	if len(c.Body) > ledger.MaxEventSize {
		t.Fatalf("accepted event's Body is %d bytes, over %d", len(c.Body), ledger.MaxEventSize)
	}
	again, fe := ledger.Decode(c.Body, p, v)
	if fe != nil {
		t.Fatalf("the stored Body %q is refused on re-decoding: %v", c.Body, fe)
	}
	if !bytes.Equal(again.Body, c.Body) {
		t.Fatalf("Body is not stable:\n%s\n%s", c.Body, again.Body)
	}
	stored, err := ledger.DecodeStored(c.Body)
	if err != nil {
		t.Fatalf("DecodeStored(Body): %v", err)
	}
	for _, e := range []*ledger.Event{again.Event, stored} {
		if !sameEvent(c.Event, e) {
			t.Fatalf("Body decodes to another event:\nwant %+v\n got %+v", c.Event, e)
		}
	}
}

// sameEvent compares events with their data compacted: the Body holds the data compacted.
func sameEvent(a, b *ledger.Event) bool {
	x, y := *a, *b
	x.Data, y.Data = compactJSON(x.Data), compactJSON(y.Data)
	return reflect.DeepEqual(x, y)
}

func compactJSON(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	// json.Marshal escapes <, > and & in RawMessage; compare in that form.
	var out bytes.Buffer
	json.HTMLEscape(&out, buf.Bytes())
	return out.Bytes()
}

func checkFieldError(t *testing.T, fe *ledger.FieldError) {
	t.Helper()
	if fe.Kind == nil {
		t.Fatalf("error %q has no Kind", fe.Error())
	}
	if strings.TrimSpace(fe.Message) == "" {
		t.Fatalf("error at %q has no message", fe.Field)
	}
	if err := checkPointer(fe.Field); err != "" {
		t.Fatalf("error field %q: %s (%s)", fe.Field, err, fe.Message)
	}
	if why := unclear(fe.Message); why != "" {
		t.Fatalf("unclear message (%s): %s", why, shorten(fe.Message))
	}
}

// checkPointer says what is wrong with a JSON pointer (RFC 6901), "" if nothing.
func checkPointer(p string) string {
	if p == "" {
		return ""
	}
	if p[0] != '/' {
		return "does not start with /"
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			return "~ not followed by 0 or 1"
		}
	}
	return ""
}

// FuzzValidate: for every type, no data makes the validator panic, and an error is a
// *schemas.ValidationError whose problems each name a JSON pointer into the data: the value
// at fault, or a member missing from an object the data has.
func FuzzValidate(f *testing.F) {
	types := schemas.Types()
	typeIndex := map[string]uint{}
	for i, typ := range types {
		typeIndex[typ] = uint(i)
	}
	for _, s := range fuzzSeeds(f) {
		var ev struct {
			Type string
			Data json.RawMessage
		}
		if json.Unmarshal(s, &ev) != nil || len(ev.Data) == 0 {
			continue
		}
		i, ok := typeIndex[ev.Type]
		if !ok {
			i = uint(len(s))
		}
		f.Add(i, []byte(ev.Data))
	}
	for i := range types {
		f.Add(uint(i), []byte(`{}`))
		f.Add(uint(i), []byte(`null`))
	}
	v := schemas.Default()
	f.Fuzz(func(t *testing.T, i uint, data []byte) {
		typ := types[i%uint(len(types))]
		err := v.Validate(typ, data)
		if err == nil {
			if !json.Valid(data) {
				t.Fatalf("%s: accepted data that is not JSON: %q", typ, data)
			}
			return
		}
		var ve *schemas.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: error %T %v is no *schemas.ValidationError", typ, err, err)
		}
		if len(ve.Problems) == 0 {
			t.Fatalf("%s: a ValidationError without problems", typ)
		}
		var doc any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		parsed := dec.Decode(&doc) == nil
		for _, p := range ve.Problems {
			if why := checkPointer(p.Field); why != "" {
				t.Fatalf("%s: problem field %q: %s", typ, p.Field, why)
			}
			if strings.TrimSpace(p.Message) == "" {
				t.Fatalf("%s: problem at %q has no message", typ, p.Field)
			}
			if p.Field != "" && parsed && !parentExists(doc, p.Field) {
				t.Fatalf("%s: problem field %q is not in the data %s", typ, p.Field, shorten(string(data)))
			}
		}
	})
}

// parentExists reports whether the pointer's parent resolves in doc and is an object or an
// array (the named member itself may be the one missing).
func parentExists(doc any, pointer string) bool {
	tokens := strings.Split(pointer[1:], "/")
	cur := doc
	for _, tok := range tokens[:len(tokens)-1] {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return false
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n >= len(c) {
				return false
			}
			cur = c[n]
		default:
			return false
		}
	}
	switch cur.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// interopProblem is a reference for the ingest's interoperability rules, written another way
// (encoding/json's tokenizer): what an accepted event must not hold. "" if nothing.
func interopProblem(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	type frame struct {
		object, wantKey bool
		names           map[string]bool
	}
	var stack []*frame
	done := func() {
		if len(stack) > 0 {
			if top := stack[len(stack)-1]; top.object {
				top.wantKey = true
			}
		}
	}
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &frame{object: true, wantKey: true, names: map[string]bool{}})
			case '[':
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			if strings.ContainsRune(v, 0) {
				return "U+0000 in " + strconv.Quote(v)
			}
			lit := string(raw[before:dec.InputOffset()])
			lit = lit[strings.IndexByte(lit, '"'):]
			var u []uint16
			for i := 1; i < len(lit)-1; i++ {
				if lit[i] == '\\' {
					if lit[i+1] == 'u' {
						n, _ := strconv.ParseUint(lit[i+2:i+6], 16, 16)
						u = append(u, uint16(n))
						i += 5
						continue
					}
					i++
				}
				u = append(u, 0) // not a surrogate
			}
			for i := 0; i < len(u); i++ {
				switch {
				case u[i] >= 0xD800 && u[i] < 0xDC00 && i+1 < len(u) && u[i+1] >= 0xDC00 && u[i+1] < 0xE000:
					i++
				case u[i] >= 0xD800 && u[i] < 0xE000:
					return "unpaired surrogate in " + lit
				}
			}
			if top := stack[len(stack)-1]; top.object && top.wantKey {
				if top.names[v] {
					return "duplicate member " + strconv.Quote(v)
				}
				if len(stack) == 1 && v != strings.ToLower(v) {
					return "envelope member " + strconv.Quote(v)
				}
				top.names[v], top.wantKey = true, false
				continue
			}
			done()
		case json.Number:
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil || f > 1<<53-1 || f < -(1<<53-1) {
				return "number " + string(v)
			}
			done()
		default:
			done()
		}
	}
}
