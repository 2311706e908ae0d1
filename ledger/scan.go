package ledger

import (
	"encoding/json"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"compact/schemas"
)

// The fast scanner: one strict pass over a request's bytes that checks JSON syntax and the
// interoperability rules of checkInterop together, finds a batch's elements and an event's
// members, and records the data's tokens so that the schema validator's value is built
// without a second parse.
//
// It accepts only what is plainly fine: valid JSON nested at most fastMaxDepth levels, no
// escape in a member name, none of the interoperability problems, every envelope attribute a
// string and data an object. Anything else — every error, and the rare oddities such as an
// escaped member name — makes it give up (ok = false), and the caller runs the reference
// path (json.Unmarshal, encoding/json's Decoder, checkInterop), which words the error. So the
// fast path never has to reproduce an error message, only agree with the reference path on
// what it accepts: TestFastMatchesReference and FuzzFastMatchesReference hold it to that.

// fastMaxDepth is the deepest nesting the fast scanner follows; deeper (rare, and legal up to
// encoding/json's 10,000) goes the reference way.
const fastMaxDepth = 64

// token kinds of the tape.
const (
	tokObject = iota + 1
	tokArray
	tokString
	tokNumber
	tokTrue
	tokFalse
	tokNull
)

// token is one JSON value (or member name) of the data, in document order: an object is
// followed by its n members, each a name token and a value; an array by its n elements.
type token struct {
	kind uint8
	// escaped: a string literal with at least one backslash (its text must be unescaped).
	escaped bool
	n       int32
	// start, end: the literal's bytes (quotes included for a string) in the scanned input.
	start, end int32
}

// scanner walks one input. It is reused through scannerPool: its slices keep their capacity.
type scanner struct {
	raw  []byte
	pos  int
	tape []token
	// record: append the values to tape (the data of an event); off for a batch's elements,
	// which are only checked and delimited.
	record bool
	depth  int
	// names holds the member names of the objects being scanned, innermost last, for the
	// duplicate check.
	names [][2]int32
	// loose: the recorded value has space between tokens or may hold a character json.Marshal
	// escapes (<, >, &, or any character whose UTF-8 starts with 0xE2, as U+2028 and U+2029
	// do), so that its stored form must be rewritten (appendCompactData). Most publishers send
	// compact JSON, which is stored as it came.
	loose bool
}

var scannerPool = sync.Pool{New: func() any { return new(scanner) }}

func getScanner(raw []byte) *scanner {
	sc := scannerPool.Get().(*scanner)
	sc.raw, sc.pos, sc.depth, sc.record, sc.loose = raw, 0, 0, false, false
	sc.tape, sc.names = sc.tape[:0], sc.names[:0]
	return sc
}

func putScanner(sc *scanner) {
	if cap(sc.tape) > 1<<16 || cap(sc.names) > 1<<12 {
		return // a hostile request's buffers: let them go
	}
	sc.raw = nil
	scannerPool.Put(sc)
}

func (sc *scanner) skipSpace() {
	for sc.pos < len(sc.raw) {
		switch sc.raw[sc.pos] {
		case ' ', '\t', '\n', '\r':
			sc.pos++
			sc.loose = sc.loose || sc.record
		default:
			return
		}
	}
}

// value scans one value at pos (no leading space).
func (sc *scanner) value() bool {
	if sc.pos >= len(sc.raw) {
		return false
	}
	switch c := sc.raw[sc.pos]; c {
	case '{':
		return sc.object()
	case '[':
		return sc.array()
	case '"':
		start := sc.pos
		escaped, ok := sc.str()
		if ok && sc.record {
			sc.tape = append(sc.tape, token{kind: tokString, escaped: escaped, start: int32(start), end: int32(sc.pos)})
		}
		return ok
	case 't':
		return sc.literal("true", tokTrue)
	case 'f':
		return sc.literal("false", tokFalse)
	case 'n':
		return sc.literal("null", tokNull)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return sc.number()
		}
		return false
	}
}

func (sc *scanner) literal(lit string, kind uint8) bool {
	if len(sc.raw)-sc.pos < len(lit) || string(sc.raw[sc.pos:sc.pos+len(lit)]) != lit {
		return false
	}
	if sc.record {
		sc.tape = append(sc.tape, token{kind: kind, start: int32(sc.pos), end: int32(sc.pos + len(lit))})
	}
	sc.pos += len(lit)
	return true
}

func (sc *scanner) object() bool {
	if sc.depth++; sc.depth > fastMaxDepth {
		return false
	}
	at := len(sc.tape)
	if sc.record {
		sc.tape = append(sc.tape, token{kind: tokObject, start: int32(sc.pos)})
	}
	sc.pos++ // {
	namesFrom := len(sc.names)
	n := 0
	sc.skipSpace()
	if sc.pos < len(sc.raw) && sc.raw[sc.pos] == '}' {
		sc.pos++
	} else {
		for {
			if sc.pos >= len(sc.raw) || sc.raw[sc.pos] != '"' {
				return false
			}
			start := sc.pos
			escaped, ok := sc.str()
			if !ok || escaped {
				return false
			}
			name := [2]int32{int32(start + 1), int32(sc.pos - 1)}
			if sc.seen(namesFrom, name) {
				return false
			}
			sc.names = append(sc.names, name)
			if sc.record {
				sc.tape = append(sc.tape, token{kind: tokString, start: int32(start), end: int32(sc.pos)})
			}
			sc.skipSpace()
			if sc.pos >= len(sc.raw) || sc.raw[sc.pos] != ':' {
				return false
			}
			sc.pos++
			sc.skipSpace()
			if !sc.value() {
				return false
			}
			n++
			sc.skipSpace()
			if sc.pos >= len(sc.raw) {
				return false
			}
			if sc.raw[sc.pos] == '}' {
				sc.pos++
				break
			}
			if sc.raw[sc.pos] != ',' {
				return false
			}
			sc.pos++
			sc.skipSpace()
		}
	}
	sc.names = sc.names[:namesFrom]
	if sc.record {
		sc.tape[at].n, sc.tape[at].end = int32(n), int32(sc.pos)
	}
	sc.depth--
	return true
}

// seen reports whether name is among the names of the current object (from namesFrom on).
// Names carry no escapes here, so equal text is equal bytes. An object of more than a few
// dozen members is no event data: the reference path (linear with its map) takes it.
func (sc *scanner) seen(namesFrom int, name [2]int32) bool {
	names := sc.names[namesFrom:]
	if len(names) >= 64 {
		return true
	}
	text := sc.raw[name[0]:name[1]]
	for _, m := range names {
		if string(sc.raw[m[0]:m[1]]) == string(text) {
			return true
		}
	}
	return false
}

func (sc *scanner) array() bool {
	if sc.depth++; sc.depth > fastMaxDepth {
		return false
	}
	at := len(sc.tape)
	if sc.record {
		sc.tape = append(sc.tape, token{kind: tokArray, start: int32(sc.pos)})
	}
	sc.pos++ // [
	n := 0
	sc.skipSpace()
	if sc.pos < len(sc.raw) && sc.raw[sc.pos] == ']' {
		sc.pos++
	} else {
		for {
			if !sc.value() {
				return false
			}
			n++
			sc.skipSpace()
			if sc.pos >= len(sc.raw) {
				return false
			}
			if sc.raw[sc.pos] == ']' {
				sc.pos++
				break
			}
			if sc.raw[sc.pos] != ',' {
				return false
			}
			sc.pos++
			sc.skipSpace()
		}
	}
	if sc.record {
		sc.tape[at].n, sc.tape[at].end = int32(n), int32(sc.pos)
	}
	sc.depth--
	return true
}

// strSpecial marks the bytes a string literal's scan stops at: the closing quote, a
// backslash, the control characters JSON forbids unescaped, and the bytes json.Marshal
// escapes (<, >, &, and 0xE2 that starts U+2028 and U+2029).
var strSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	t['<'], t['>'], t['&'], t[0xE2] = true, true, true, true
	return t
}()

// str scans a string literal at pos (the opening quote) and moves past it. It refuses what
// checkString refuses too: an escaped U+0000 and an unpaired surrogate escape.
func (sc *scanner) str() (escaped, ok bool) {
	raw := sc.raw
	i := sc.pos + 1
	for {
		for i < len(raw) && !strSpecial[raw[i]] {
			i++
		}
		if i >= len(raw) {
			return false, false
		}
		switch raw[i] {
		case '"':
			sc.pos = i + 1
			return escaped, true
		case '\\':
			escaped = true
			if i+1 >= len(raw) {
				return false, false
			}
			switch raw[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4At(raw, i+2)
				switch {
				case !ok || r == 0:
					return false, false
				case r >= 0xD800 && r < 0xDC00:
					if i+12 > len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
						return false, false
					}
					lo, ok := hex4At(raw, i+8)
					if !ok || lo < 0xDC00 || lo >= 0xE000 {
						return false, false
					}
					i += 12
				case r >= 0xDC00 && r < 0xE000:
					return false, false
				default:
					i += 6
				}
			default:
				return false, false
			}
		case '<', '>', '&', 0xE2:
			sc.loose = sc.loose || sc.record
			i++
		default: // a control character
			return false, false
		}
	}
}

// hex4At reads the four hex digits at raw[i:].
func hex4At(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number scans a number literal: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, within
// ±(2^53-1).
func (sc *scanner) number() bool {
	raw, i := sc.raw, sc.pos
	start := i
	if raw[i] == '-' {
		i++
	}
	digits := func() int {
		from := i
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
		return i - from
	}
	switch {
	case i < len(raw) && raw[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(raw) && raw[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	if numberTooLarge(raw[start:i]) {
		return false
	}
	if sc.record {
		sc.tape = append(sc.tape, token{kind: tokNumber, start: int32(start), end: int32(i)})
	}
	sc.pos = i
	return true
}

// splitFast finds the elements of a batch (body is a JSON array, with optional space around
// it): each element's bytes, as json.Unmarshal into []json.RawMessage would give them. It
// stops at element MaxBatchEvents+1, the rest unread: a batch that long is refused whatever
// follows, and splitting it all first let one request of tiny values cost gigabytes.
func splitFast(body []byte) ([]json.RawMessage, bool) {
	sc := getScanner(body)
	defer putScanner(sc)
	sc.skipSpace()
	if sc.pos >= len(body) || body[sc.pos] != '[' {
		return nil, false
	}
	sc.pos++
	sc.skipSpace()
	var raws []json.RawMessage
	if sc.pos < len(body) && body[sc.pos] == ']' {
		sc.pos++
	} else {
		// A typical event is well over 200 bytes: guess the count to size the slice once.
		raws = make([]json.RawMessage, 0, min(len(body)/200+1, MaxBatchEvents+1))
		sc.depth = 1
		for {
			start := sc.pos
			if !sc.value() {
				return nil, false
			}
			raws = append(raws, body[start:sc.pos:sc.pos])
			if len(raws) > MaxBatchEvents {
				return raws, true
			}
			sc.skipSpace()
			if sc.pos >= len(body) {
				return nil, false
			}
			if body[sc.pos] == ']' {
				sc.pos++
				break
			}
			if body[sc.pos] != ',' {
				return nil, false
			}
			sc.pos++
			sc.skipSpace()
		}
	}
	sc.skipSpace()
	if sc.pos != len(body) {
		return nil, false
	}
	return raws, true
}

// envelope is what the fast scan of an event finds at its top level: each attribute's string
// literal (quotes included) and the data object's bytes.
type envelope struct {
	attrs     [numAttrs][]byte
	data      []byte
	dataStart int // data's offset in the scanned input
}

// The envelope's string attributes, in the order of the stored encoding.
const (
	attrSpecVersion = iota
	attrID
	attrSource
	attrType
	attrSubject
	attrTime
	attrDataContentType
	attrDataSchema
	numAttrs
)

func attrIndex(name []byte) int {
	switch string(name) {
	case "specversion":
		return attrSpecVersion
	case "id":
		return attrID
	case "source":
		return attrSource
	case "type":
		return attrType
	case "subject":
		return attrSubject
	case "time":
		return attrTime
	case "datacontenttype":
		return attrDataContentType
	case "dataschema":
		return attrDataSchema
	case "data":
		return numAttrs
	}
	return -1
}

// scanEvent scans trimmed (one event, no space around it) into env, recording the data's
// tokens in sc.tape.
func (sc *scanner) scanEvent(env *envelope) bool {
	raw := sc.raw
	if len(raw) < 2 || raw[0] != '{' {
		return false
	}
	sc.pos, sc.depth = 1, 1
	var have [numAttrs + 1]bool
	sc.skipSpace()
	if sc.pos < len(raw) && raw[sc.pos] == '}' {
		return false // no data: the reference path says what is missing
	}
	for {
		if sc.pos >= len(raw) || raw[sc.pos] != '"' {
			return false
		}
		start := sc.pos
		if escaped, ok := sc.str(); !ok || escaped {
			return false
		}
		a := attrIndex(raw[start+1 : sc.pos-1])
		if a < 0 || have[a] {
			return false
		}
		have[a] = true
		sc.skipSpace()
		if sc.pos >= len(raw) || raw[sc.pos] != ':' {
			return false
		}
		sc.pos++
		sc.skipSpace()
		if sc.pos >= len(raw) {
			return false
		}
		start = sc.pos
		if a == numAttrs {
			if raw[sc.pos] != '{' {
				return false
			}
			sc.record = true
			ok := sc.object()
			sc.record = false
			if !ok {
				return false
			}
			env.data, env.dataStart = raw[start:sc.pos], start
		} else {
			if raw[sc.pos] != '"' {
				return false
			}
			if escaped, ok := sc.str(); !ok || escaped {
				return false
			}
			env.attrs[a] = raw[start:sc.pos]
		}
		sc.skipSpace()
		if sc.pos >= len(raw) {
			return false
		}
		if raw[sc.pos] == '}' {
			sc.pos++
			break
		}
		if raw[sc.pos] != ',' {
			return false
		}
		sc.pos++
		sc.skipSpace()
	}
	return sc.pos == len(raw) && have[numAttrs]
}

// dataValue builds the data's value from the tape, as jsonschema.UnmarshalJSON would but
// with each object a schemas.Object (what the validator reads fastest): []any, string,
// json.Number, bool, nil. text is the data's bytes as one string (base is its offset in the
// scanned input): every string without escapes is a slice of it, so that the strings cost one
// allocation.
type valueBuilder struct {
	tape []token
	i    int
	text string
	base int32
	raw  []byte
}

func (b *valueBuilder) value() any {
	t := b.tape[b.i]
	b.i++
	switch t.kind {
	case tokObject:
		// The scanner took no object with a name written twice (seen): each name is new.
		o := make(schemas.Object, t.n)
		for k := range o {
			o[k].Name = b.str(b.tape[b.i])
			b.i++
			o[k].Value = b.value()
		}
		return o
	case tokArray:
		a := make([]any, t.n)
		for k := range a {
			a[k] = b.value()
		}
		return a
	case tokString:
		return b.str(t)
	case tokNumber:
		return json.Number(b.text[t.start-b.base : t.end-b.base])
	case tokTrue:
		return true
	case tokFalse:
		return false
	default:
		return nil
	}
}

func (b *valueBuilder) str(t token) string {
	if !t.escaped {
		return b.text[t.start+1-b.base : t.end-1-b.base]
	}
	return unescape(b.raw[t.start+1 : t.end-1])
}

// unescape decodes the text of a string literal that the scanner accepted (valid escapes
// only, surrogate escapes paired, valid UTF-8), as encoding/json does.
func unescape(s []byte) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4At(s, i+2)
			if utf16.IsSurrogate(r) {
				lo, _ := hex4At(s, i+8)
				r = utf16.DecodeRune(r, lo)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		default: // " \ /
			out = append(out, s[i+1])
		}
		i += 2
	}
	return string(out)
}

// appendCompactData appends data (valid JSON) as json.Marshal writes a json.RawMessage: space
// outside strings dropped; <, >, & and U+2028, U+2029 escaped.
func appendCompactData(dst, data []byte) []byte {
	start := 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			dst = append(dst, data[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		case c == 0xE2 && i+2 < len(data) && data[i+1] == 0x80 && data[i+2]&^1 == 0xA8:
			dst = append(dst, data[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[data[i+2]&0xF])
			i += 2
			start = i + 1
		case inString:
			switch c {
			case '\\':
				i++ // the escaped character is never one of the above
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			dst = append(dst, data[start:i]...)
			start = i + 1
		}
	}
	return append(dst, data[start:]...)
}

const hexDigits = "0123456789abcdef"

// htmlSafe marks the ASCII bytes encoding/json writes as they are in a string (with its
// default HTML escaping).
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	t['"'], t['\\'], t['<'], t['>'], t['&'] = false, false, false, false, false
	return t
}()

// appendString appends s as json.Marshal writes a string (s is valid UTF-8).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
