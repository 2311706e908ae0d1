package projections

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"compact/ledger"
)

// decodeEnvelope decodes the body of a stored event exactly as ledger.DecodeStored does
// (encoding/json into ledger.Event), in a fraction of its time for the bodies the ledger
// writes: one flat object of string attributes and a data object. Anything else (an escaped
// string, an unknown or repeated attribute, a null) is left to DecodeStored, so the result and
// the errors are always DecodeStored's.
func decodeEnvelope(body []byte) (*ledger.Event, error) {
	var e ledger.Event
	if err := decodeEnvelopeInto(body, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// decodeEnvelopeInto is decodeEnvelope into e, so that the runtime allocates the event once,
// with its Event. e.Data may share body's memory (no copy of every event's data): the caller
// gives body over and does not change it afterwards.
func decodeEnvelopeInto(body []byte, e *ledger.Event) error {
	if fastEnvelopeInto(body, e) {
		return nil
	}
	d, err := ledger.DecodeStored(body)
	if err != nil {
		return err
	}
	*e = *d
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a string that needs no unquoting at b[i] (the opening quote): no escape,
// no control character, valid UTF-8. It returns the contents and the index after the closing
// quote.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	ascii := true // the attributes are: one pass, and no UTF-8 check
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s := b[i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, j + 1, true
		case c < 0x20 || c == '\\':
			return nil, 0, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, 0, false
}

// objectEnd returns the index after the object or array that starts at b[i], following
// strings and nesting only: it does not check the JSON (validValueEnd does).
func objectEnd(b []byte, i int) (int, bool) {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

func fastEnvelope(b []byte) (*ledger.Event, bool) {
	var e ledger.Event
	if !fastEnvelopeInto(b, &e) {
		return nil, false
	}
	return &e, true
}

// fastEnvelopeInto decodes b into e, when it is an envelope fastEnvelope reads; e is changed
// either way.
func fastEnvelopeInto(b []byte, e *ledger.Event) bool {
	*e = ledger.Event{}
	var seen uint16
	// the attributes' values, made strings at the end in one allocation: they are read and
	// dropped with the event, so sharing one backing array costs no memory that lasts
	var fields [8]*string
	var vals [8][]byte
	nf, size := 0, 0
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			key, next, ok := plainString(b, i)
			if !ok {
				return false
			}
			i = skipSpace(b, next)
			if i >= len(b) || b[i] != ':' {
				return false
			}
			i = skipSpace(b, i+1)
			var field *string
			var bit uint16
			switch string(key) {
			case "specversion":
				field, bit = &e.SpecVersion, 1
			case "id":
				field, bit = &e.ID, 2
			case "source":
				field, bit = &e.Source, 4
			case "type":
				field, bit = &e.Type, 8
			case "subject":
				field, bit = &e.CESubject, 16
			case "time":
				field, bit = &e.Time, 32
			case "datacontenttype":
				field, bit = &e.DataContentType, 64
			case "dataschema":
				field, bit = &e.DataSchema, 128
			case "data":
				bit = 256
			default:
				return false // an attribute DecodeStored may match case-insensitively
			}
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			if field != nil {
				v, next, ok := plainString(b, i)
				if !ok {
					return false
				}
				fields[nf], vals[nf], i = field, v, next
				nf, size = nf+1, size+len(v)
			} else {
				if i >= len(b) || b[i] != '{' {
					return false
				}
				end, ok := validValueEnd(b, i)
				if !ok {
					return false
				}
				e.Data, i = json.RawMessage(b[i:end:end]), end
			}
			i = skipSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return false
		}
	}
	if skipSpace(b, i) != len(b) {
		return false
	}
	var all strings.Builder
	all.Grow(size)
	for _, v := range vals[:nf] {
		all.Write(v)
	}
	s := all.String()
	for f, field := range fields[:nf] {
		*field, s = s[:len(vals[f])], s[len(vals[f]):]
	}
	return true
}
