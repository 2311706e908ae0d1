package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxSafeInteger is 2^53-1, the largest integer every JSON reader holds exactly (a double).
const maxSafeInteger = 1<<53 - 1

// unknownAttribute is the message for an envelope member that is not a CloudEvents attribute
// the ledger takes.
const unknownAttribute = "unknown attribute: the ledger takes specversion, id, source, type, subject, time, datacontenttype, dataschema and data"

// envelopeAttributes are the members of an event object, spelled exactly (encoding/json
// matches member names without regard to case; the contract does not).
var envelopeAttributes = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true,
	"time": true, "datacontenttype": true, "dataschema": true, "data": true,
}

// checkInterop refuses what JSON permits but an immutable ledger must not store, because its
// readers would not agree on what the event says (the rules of I-JSON, RFC 7493):
//   - a member name twice in one object: the validator judged the last, a reader that keeps
//     the first would see another event;
//   - an unpaired UTF-16 surrogate escape ("\ud800"): Go reads U+FFFD, strict readers refuse
//     the whole message, forever;
//   - a number beyond ±(2^53-1): the counters would overflow or round it;
//
// and also U+0000 in a string, which text stores refuse and C readers cut at, and an
// envelope member spelled other than the contract's lowercase name. raw must be one JSON
// value that encoding/json has accepted (the scanner relies on its syntax being valid); it
// returns the first problem with its JSON pointer.
func checkInterop(raw []byte) *FieldError {
	sc := interopScanner{raw: raw}
	return sc.value()
}

// interopScanner walks valid JSON once, without building it.
type interopScanner struct {
	raw  []byte
	pos  int
	path []pathToken // where the scanner is, for the error's pointer
	// badByte, when not 0, is 1 + the offset of a byte that is not UTF-8: the string that
	// holds it is refused (invalidUTF8).
	badByte int
}

// inString refuses the string literal that ends at pos when it holds badByte.
func (sc *interopScanner) inString(lit []byte) *FieldError {
	if at := sc.badByte - 1; sc.badByte > 0 && at >= sc.pos-len(lit) && at < sc.pos {
		// a member name's bad byte, in the pointer, as the reply's JSON would write it
		return invalid(strings.ToValidUTF8(sc.pointer(), "\uFFFD"), "not valid UTF-8 (byte %d of the event): send text as UTF-8", at)
	}
	return nil
}

// invalidUTF8 refuses an event that is not valid UTF-8, naming the member whose name or
// value holds the first bad byte when the event is JSON otherwise (encoding/json takes any
// byte in a string).
func invalidUTF8(raw []byte) *FieldError {
	trimmed := trimJSONSpace(raw)
	at := 0
	for at < len(trimmed) {
		r, size := utf8.DecodeRune(trimmed[at:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		at += size
	}
	if json.Valid(trimmed) {
		sc := interopScanner{raw: trimmed, badByte: at + 1}
		if fe := sc.value(); fe != nil {
			return fe
		}
	}
	return invalid("", "not valid UTF-8 (byte %d of the event): send text as UTF-8", at)
}

type pathToken struct {
	key   string
	index int
	isKey bool
}

func (sc *interopScanner) pointer() string {
	var b strings.Builder
	for _, t := range sc.path {
		b.WriteByte('/')
		if t.isKey {
			b.WriteString(pointerToken(t.key))
		} else {
			b.WriteString(strconv.Itoa(t.index))
		}
	}
	return b.String()
}

func (sc *interopScanner) skipSpace() {
	for sc.pos < len(sc.raw) {
		switch sc.raw[sc.pos] {
		case ' ', '\t', '\r', '\n', ',', ':':
			sc.pos++
		default:
			return
		}
	}
}

func (sc *interopScanner) value() *FieldError {
	sc.skipSpace()
	if sc.pos >= len(sc.raw) {
		return nil
	}
	switch c := sc.raw[sc.pos]; {
	case c == '{':
		return sc.object()
	case c == '[':
		return sc.array()
	case c == '"':
		lit := sc.stringLiteral()
		if fe := sc.inString(lit); fe != nil {
			return fe
		}
		return checkString(lit, false, sc.pointer)
	case c == '-' || (c >= '0' && c <= '9'):
		return sc.number()
	default: // true, false, null
		for sc.pos < len(sc.raw) && sc.raw[sc.pos] >= 'a' && sc.raw[sc.pos] <= 'z' {
			sc.pos++
		}
		return nil
	}
}

func (sc *interopScanner) object() *FieldError {
	sc.pos++ // {
	depth := len(sc.path)
	sc.path = append(sc.path, pathToken{isKey: true})
	defer func() { sc.path = sc.path[:depth] }()
	// Few members: a slice; many (a hostile object of thousands): a map, so that the scan
	// stays linear.
	var names []string
	var nameSet map[string]bool
	for {
		sc.skipSpace()
		if sc.pos >= len(sc.raw) || sc.raw[sc.pos] == '}' {
			sc.pos++
			return nil
		}
		lit := sc.stringLiteral()
		name := decodeName(lit)
		sc.path[depth].key = name
		if fe := sc.inString(lit); fe != nil {
			return fe
		}
		if fe := checkString(lit, true, sc.pointer); fe != nil {
			return fe
		}
		seen := nameSet[name]
		for _, n := range names {
			seen = seen || n == name
		}
		if seen {
			return invalid(sc.pointer(), "duplicate member name %s: each name may appear once in an object", quoteShort(name))
		}
		if nameSet == nil && len(names) < 16 {
			names = append(names, name)
		} else {
			if nameSet == nil {
				nameSet = make(map[string]bool, 32)
				for _, n := range names {
					nameSet[n] = true
				}
				names = nil
			}
			nameSet[name] = true
		}
		if depth == 0 && !envelopeAttributes[name] {
			return invalid(sc.pointer(), "%s", unknownAttribute)
		}
		if fe := sc.value(); fe != nil {
			return fe
		}
	}
}

func (sc *interopScanner) array() *FieldError {
	sc.pos++ // [
	depth := len(sc.path)
	sc.path = append(sc.path, pathToken{})
	defer func() { sc.path = sc.path[:depth] }()
	for i := 0; ; i++ {
		sc.skipSpace()
		if sc.pos >= len(sc.raw) || sc.raw[sc.pos] == ']' {
			sc.pos++
			return nil
		}
		sc.path[depth].index = i
		if fe := sc.value(); fe != nil {
			return fe
		}
	}
}

// stringLiteral returns the literal at pos, quotes included, and moves past it.
func (sc *interopScanner) stringLiteral() []byte {
	start := sc.pos
	sc.pos++ // opening quote
	for sc.pos < len(sc.raw) {
		switch sc.raw[sc.pos] {
		case '\\':
			sc.pos += 2
			continue
		case '"':
			sc.pos++
			return sc.raw[start:sc.pos]
		}
		sc.pos++
	}
	return sc.raw[start:min(sc.pos, len(sc.raw))]
}

func (sc *interopScanner) number() *FieldError {
	start := sc.pos
	digits, plain := 0, true
	for sc.pos < len(sc.raw) {
		c := sc.raw[sc.pos]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '-' && sc.pos == start:
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
			plain = false
		default:
			goto end
		}
		sc.pos++
	}
end:
	if plain && digits <= 15 { // below 10^15 < 2^53: no need to parse
		return nil
	}
	if numberTooLarge(sc.raw[start:sc.pos]) {
		return invalid(sc.pointer(), "number too large: a number must lie within ±%d (2^53-1), the largest integer every JSON reader holds exactly", maxSafeInteger)
	}
	return nil
}

// numberTooLarge reports whether a number literal lies beyond ±(2^53-1).
func numberTooLarge(lit []byte) bool {
	if len(lit) <= 15 {
		// At most 15 characters: an integer of at most 15 digits (< 10^15 < 2^53), or a
		// literal with a point or an exponent, which needs parsing.
		plain := true
		for _, c := range lit {
			plain = plain && (c == '-' || (c >= '0' && c <= '9'))
		}
		if plain {
			return false
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	return errors.Is(err, strconv.ErrRange) || math.Abs(f) > maxSafeInteger
}

// decodeName decodes a member name's literal; most have no escapes.
func decodeName(lit []byte) string {
	if bytes.IndexByte(lit, '\\') < 0 {
		return string(lit[1 : len(lit)-1])
	}
	var s string
	json.Unmarshal(lit, &s)
	return s
}

// checkString checks a string literal (quotes included): no U+0000 and no unpaired
// surrogate escape. Both can only be written as escapes in valid JSON.
func checkString(lit []byte, isName bool, pointer func() string) *FieldError {
	if bytes.IndexByte(lit, '\\') < 0 {
		return nil
	}
	for i := 1; i < len(lit)-1; i++ {
		if lit[i] != '\\' {
			continue
		}
		if lit[i+1] != 'u' {
			i++ // a two-character escape: skip its second character (it may be a backslash)
			continue
		}
		r := hex4(lit[i+2 : i+6])
		switch {
		case r == 0:
			what := "contains"
			if isName {
				what = "the member name contains"
			}
			return invalid(pointer(), "%s U+0000 (NUL): not allowed in the ledger", what)
		case r >= 0xD800 && r < 0xDC00:
			if i+12 <= len(lit) && lit[i+6] == '\\' && lit[i+7] == 'u' {
				if lo := hex4(lit[i+8 : i+12]); lo >= 0xDC00 && lo < 0xE000 {
					i += 11
					continue
				}
			}
			return invalid(pointer(), "an unpaired UTF-16 surrogate escape (\\u%04x): not valid Unicode", r)
		case r >= 0xDC00 && r < 0xE000:
			return invalid(pointer(), "an unpaired UTF-16 surrogate escape (\\u%04x): not valid Unicode", r)
		}
		i += 5
	}
	return nil
}

// hex4 reads four hex digits that encoding/json has already checked.
func hex4(b []byte) rune {
	r, _ := hex4At(b, 0)
	return r
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// pointerToken escapes one reference token of a JSON pointer (RFC 6901).
func pointerToken(s string) string { return pointerEscaper.Replace(s) }

// quoteShort quotes s for a message, cut to a readable length: an error must not echo
// kilobytes of the input back.
func quoteShort(s string) string {
	const max = 80
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}
