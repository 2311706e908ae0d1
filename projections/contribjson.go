package projections

import (
	"encoding/json"
	"strconv"
)

// marshalContribution is json.Marshal(c), byte for byte: the counters store a contribution
// for every counting event, and encoding/json's reflection was most of the cost of saving it.
// Strings it would escape (or correct, as invalid UTF-8) send the whole value to
// json.Marshal, so the stored form never depends on the path.
func marshalContribution(c contribution) ([]byte, error) {
	if !plainContribution(c) {
		return json.Marshal(c)
	}
	b := make([]byte, 0, 48+len(c.Deltas)*40)
	b = append(b, '{')
	if len(c.Deltas) > 0 {
		b = append(b, `"d":[`...)
		for i, d := range c.Deltas {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"c":`...)
			b = strconv.AppendInt(b, int64(d.C), 10)
			b = append(b, `,"at":"`...)
			b = append(b, d.At...)
			b = append(b, `","v":`...)
			b = strconv.AppendInt(b, d.V, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if t := c.TL; t != nil {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"tl":{"ns":`...)
		b = strconv.AppendUint(b, uint64(t.NS), 10)
		b = append(b, `,"s":"`...)
		b = append(b, t.Subj...)
		b = append(b, `","at":"`...)
		b = append(b, t.At...)
		b = append(b, `","q":`...)
		b = strconv.AppendUint(b, t.Seq, 10)
		b = append(b, `,"v":"`...)
		b = append(b, t.Val...)
		b = append(b, `"}`...)
	}
	if c.Retracted {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"x":true`...)
	}
	return append(b, '}'), nil
}

// plainContribution says whether every string of c is one encoding/json writes as it is.
func plainContribution(c contribution) bool {
	for _, d := range c.Deltas {
		if !plainJSONString(d.At) {
			return false
		}
	}
	return c.TL == nil || plainJSONString(c.TL.Subj) && plainJSONString(c.TL.At) && plainJSONString(c.TL.Val)
}

// plainJSONString: printable ASCII that encoding/json does not escape (it escapes the quote,
// the backslash, and <, > and & for HTML).
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
