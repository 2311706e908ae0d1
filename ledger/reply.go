package ledger

import (
	"encoding/json"
	"strconv"
)

// Replies are written by hand: every acknowledged event costs one result, and encoding/json's
// reflection over a result cost more than the dedup check behind it. The bytes are
// encoding/json's (TestReplyJSONIsEncodingJSON).

// MarshalJSON writes {id, seq, duplicate} or {id, error: {field, message, reason}}.
func (r Result) MarshalJSON() ([]byte, error) { return r.appendJSON(nil), nil }

func (r Result) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, r.ID)
	if r.Error != nil {
		b = append(b, `,"error":`...)
		return append(r.Error.appendJSON(b), '}')
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, r.Duplicate)
	return append(b, '}')
}

func (e *FieldError) appendJSON(b []byte) []byte {
	b = append(b, `{"field":`...)
	b = appendJSONString(b, e.Field)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.Message)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, e.reason())
	return append(b, '}')
}

// MarshalJSON writes {"results": [...]} or, for a request refused as a whole,
// {"results": null, "error": {...}}.
func (r Reply) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 16+len(r.Results)*48)
	b = append(b, `{"results":`...)
	if r.Results == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, res := range r.Results {
			if i > 0 {
				b = append(b, ',')
			}
			b = res.appendJSON(b)
		}
		b = append(b, ']')
	}
	if r.Error != nil {
		b = append(b, `,"error":`...)
		b = r.Error.appendJSON(b)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as encoding/json writes it: printable ASCII as it is, anything
// else (quotes, controls, <>&, non-ASCII) by encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
