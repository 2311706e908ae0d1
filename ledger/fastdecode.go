package ledger

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"compact/schemas"
)

// decodeFast is Decode in one pass over the bytes, for an event the fast scanner takes
// (scan.go): ok = false when it does not, and decodeReference must judge the event. When ok,
// the outcome is decodeReference's: the same Candidate, or the same error from the envelope
// or data checks, which both run on the same Event.
func decodeFast(raw []byte, p Principal, v *schemas.Validator) (c *Candidate, fe *FieldError, ok bool) {
	if len(raw) > MaxEventSize || !utf8.Valid(raw) {
		return nil, nil, false
	}
	trimmed := trimJSONSpace(raw)
	sc := getScanner(trimmed)
	defer putScanner(sc)
	var env envelope
	if !sc.scanEvent(&env) {
		return nil, nil, false
	}
	if len(env.attrs[attrDataContentType]) == 2 || len(env.attrs[attrSubject]) == 2 || len(env.attrs[attrDataSchema]) == 2 {
		return nil, nil, false // present but empty: the reference path says why it is refused
	}
	ce := &candidateEvent{}
	ev := &ce.ev
	env.fill(ev)
	ev.Data = env.data // for the envelope checks; replaced by the stored bytes below
	if fe := checkEnvelope(ev, p); fe != nil {
		return nil, fe, true
	}
	b := valueBuilder{tape: sc.tape, text: string(env.data), base: int32(env.dataStart), raw: trimmed}
	if err := v.ValidateValue(ev.Type, b.value()); err != nil {
		return nil, dataError(err), true
	}
	body := appendBody(make([]byte, 0, len(trimmed)+16), ev, env.data, sc.loose)
	if len(body) > MaxEventSize {
		return nil, eventTooLarge(len(body)), true
	}
	if sc.loose {
		ev.Data = append(json.RawMessage(nil), env.data...)
	} else {
		// The data is stored as it came: share the body's bytes (capped, so that an append
		// to Data cannot write into Body).
		end := len(body) - 1
		ev.Data = body[end-len(env.data) : end : end]
	}
	ce.c = Candidate{Event: ev, Body: body, Role: p.Role}
	return &ce.c, nil, true
}

// candidateEvent is a Candidate and its Event in one allocation.
type candidateEvent struct {
	c  Candidate
	ev Event
}

// fill sets the string attributes of ev, carved out of one allocation. No literal the fast
// scanner takes in the envelope has an escape, so each value is its literal's text.
func (env *envelope) fill(ev *Event) {
	n := 0
	for _, lit := range env.attrs {
		n += max(len(lit)-2, 0)
	}
	var sb strings.Builder
	sb.Grow(n)
	var ends [numAttrs]int
	for a, lit := range env.attrs {
		if lit != nil {
			sb.Write(lit[1 : len(lit)-1])
		}
		ends[a] = sb.Len()
	}
	all := sb.String()
	attr := func(a int) string {
		if a == 0 {
			return all[:ends[0]]
		}
		return all[ends[a-1]:ends[a]]
	}
	ev.SpecVersion = attr(attrSpecVersion)
	ev.ID = attr(attrID)
	ev.Source = attr(attrSource)
	ev.Type = attr(attrType)
	ev.CESubject = attr(attrSubject)
	ev.Time = attr(attrTime)
	ev.DataContentType = attr(attrDataContentType)
	ev.DataSchema = attr(attrDataSchema)
}

// appendBody appends the stored body of ev, byte for byte what json.Marshal(ev) writes
// (Event's doc): its attributes in order, the optional ones only when set, then data
// (valid JSON) compacted and escaped as json.Marshal writes a json.RawMessage; loose says
// whether data needs that rewriting at all.
func appendBody(dst []byte, ev *Event, data []byte, loose bool) []byte {
	dst = append(dst, `{"specversion":`...)
	dst = appendString(dst, ev.SpecVersion)
	dst = append(dst, `,"id":`...)
	dst = appendString(dst, ev.ID)
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, ev.Source)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, ev.Type)
	if ev.CESubject != "" {
		dst = append(dst, `,"subject":`...)
		dst = appendString(dst, ev.CESubject)
	}
	dst = append(dst, `,"time":`...)
	dst = appendString(dst, ev.Time)
	if ev.DataContentType != "" {
		dst = append(dst, `,"datacontenttype":`...)
		dst = appendString(dst, ev.DataContentType)
	}
	if ev.DataSchema != "" {
		dst = append(dst, `,"dataschema":`...)
		dst = appendString(dst, ev.DataSchema)
	}
	dst = append(dst, `,"data":`...)
	if loose {
		dst = appendCompactData(dst, data)
	} else {
		dst = append(dst, data...)
	}
	return append(dst, '}')
}
