package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"compact/schemas"
)

// Limits of one ingest request.
const (
	// MaxBatchEvents is the most events one request may carry.
	MaxBatchEvents = 1000
	// MaxRequestBytes is the largest request body (HTTP) or message (NATS) the ingest takes.
	MaxRequestBytes = 8 << 20
)

var utf8BOM = []byte("\xef\xbb\xbf")

// acronymPattern is an entity acronym, for the registry and the replay; the ingest checks it
// with isAcronym.
var acronymPattern = regexp.MustCompile(`^[A-Z0-9-]{2,24}$`)

// isEventID reports whether s is 1-128 characters of A-Z a-z 0-9 . _ : - (the contract's
// ^[A-Za-z0-9._:-]{1,128}$; a loop, as it runs on every event).
func isEventID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// isAcronym reports whether s is 2-24 characters of A-Z 0-9 - (^[A-Z0-9-]{2,24}$).
func isAcronym(s string) bool {
	if len(s) < 2 || len(s) > 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		default:
			return false
		}
	}
	return true
}

// Types only the Secretariat may publish.
var secretariatTypes = map[string]bool{
	"compact.review.curated": true,
	"compact.counter.opened": true,
}

// Candidate is an event that passed decoding and validation and waits to be appended.
type Candidate struct {
	Event *Event
	// Body is the exact bytes that will be stored: the compact JSON encoding of Event.
	Body []byte
	// Role is the publisher's role, for the checks that need the stored event an event
	// refers to (only the Secretariat corrects or retracts a Secretariat-only event).
	Role Role
}

// SplitBatch splits a request body into the raw events it carries: a JSON array is a batch,
// anything else is one event. It fails only when the body as a whole cannot be read, or
// when it holds more than MaxBatchEvents events. The events may share body's memory.
func SplitBatch(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, invalid("", "empty body: send one CloudEvent (a JSON object) or a batch (a JSON array)")
	}
	if trimmed[0] != '[' {
		return []json.RawMessage{body}, nil
	}
	// Not valid UTF-8 is judged event by event (Decode): the array's structure is ASCII,
	// and one bad byte must not refuse the others, nor go unnamed.
	raws, ok := splitFast(body)
	if !ok {
		// Not plainly fine: encoding/json says what is wrong, or that it is fine after all
		// (deep nesting, an escaped member name, or what the interoperability rules refuse
		// later, event by event).
		var err error
		if raws, err = splitSlow(body); err != nil {
			return nil, invalid("", "not a valid JSON array of events: %s", jsonErrorText(err))
		}
	}
	if len(raws) == 0 {
		return nil, invalid("", "empty batch")
	}
	if len(raws) > MaxBatchEvents {
		return nil, &FieldError{Message: fmt.Sprintf("batch of more than %d events: at most %d per request; split it", MaxBatchEvents, MaxBatchEvents), Kind: ErrTooLarge}
	}
	return raws, nil
}

// splitSlow is splitFast by encoding/json, for the batches splitFast does not take, and
// stops as it does after MaxBatchEvents+1 elements: json.Unmarshal into a slice would build
// all of them first (millions, in an 8 MiB body of tiny values).
func splitSlow(body []byte) ([]json.RawMessage, error) {
	var raws []json.RawMessage
	if !json.Valid(body) {
		// Unmarshal checks the whole body before decoding anything: it builds no element,
		// and says what is wrong as it always has.
		return nil, json.Unmarshal(body, &raws)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the '[' (body is a valid array)
		return nil, err
	}
	for len(raws) <= MaxBatchEvents && dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		raws = append(raws, raw)
	}
	return raws, nil
}

// Decode decodes and validates one raw event published by the authenticated principal.
// It checks the envelope, the data against the type's schema and what the principal's
// role allows; references to earlier events (corrections, retractions, curation) are
// checked by the Appender, which knows what the ledger holds.
func Decode(raw []byte, p Principal, v *schemas.Validator) (*Candidate, *FieldError) {
	c, fe, ok := decodeFast(raw, p, v)
	if !ok {
		c, fe = decodeReference(raw, p, v)
	}
	if fe != nil {
		fe.Field = shortPointer(fe.Field)
	}
	return c, fe
}

// maxPointerToken is the longest token of an error's field pointer: a member name the
// publisher chose (an unknown attribute, a property data may not have) is cut there, as
// quoteShort cuts a value in a message. An error must not echo kilobytes of the input back:
// 1,000 events with names of 7,000 '<' (each escaped as \u003c) would make a 42 MB reply,
// more than a NATS message may hold, so that the publisher would get no answer at all.
const maxPointerToken = 64

// shortPointer cuts every token of the JSON pointer ptr longer than maxPointerToken bytes at
// a character boundary (never inside a ~0 or ~1 escape) and marks the cut with "…".
func shortPointer(ptr string) string {
	if len(ptr) <= maxPointerToken {
		return ptr
	}
	tokens := strings.Split(ptr, "/")
	for i, tok := range tokens {
		if len(tok) <= maxPointerToken {
			continue
		}
		cut := maxPointerToken
		for cut > 0 && !utf8.RuneStart(tok[cut]) {
			cut--
		}
		if cut > 0 && tok[cut-1] == '~' {
			cut--
		}
		tokens[i] = tok[:cut] + "…"
	}
	return strings.Join(tokens, "/")
}

// decodeReference is Decode by encoding/json, checkInterop and the checks in turn: the
// reference the fast path must agree with, and the judge of whatever the fast path does
// not take.
func decodeReference(raw []byte, p Principal, v *schemas.Validator) (*Candidate, *FieldError) {
	if len(raw) > MaxEventSize {
		// What counts is what would be stored: white space is not (a newline after the
		// event, the indentation of a pretty-printed one). Bounding the rest bounds the work
		// of decoding; the encoding is measured again once made.
		if n := compactLen(raw); n > MaxEventSize {
			return nil, eventTooLarge(n)
		}
	}
	if !utf8.Valid(raw) {
		return nil, invalidUTF8(raw)
	}
	trimmed := trimJSONSpace(raw)
	if bytes.HasPrefix(trimmed, utf8BOM) {
		return nil, invalid("", "starts with a byte order mark (U+FEFF): send UTF-8 JSON without one")
	}
	if i := bytes.IndexByte(trimmed, 0); i >= 0 {
		return nil, invalid("", "a NUL byte at byte %d: JSON text never holds one (send UTF-8, not UTF-16)", i)
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, invalid("", "an event must be a JSON object (a CloudEvent in structured mode)")
	}
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		// encoding/json matches member names without regard to case ("ID" fills id): on
		// valid JSON, the exact names are checked first, so the error names the member
		// at fault rather than the field it was folded into.
		if json.Valid(trimmed) {
			if fe := checkInterop(trimmed); fe != nil {
				return nil, fe
			}
		}
		return nil, decodeError(err)
	}
	if dec.More() || dec.InputOffset() != int64(len(trimmed)) {
		return nil, invalid("", "trailing data after the event object")
	}
	if fe := checkInterop(trimmed); fe != nil {
		return nil, fe
	}
	if ev.DataContentType == "" && bytes.Contains(trimmed, []byte(`"datacontenttype"`)) {
		var probe struct {
			DCT json.RawMessage `json:"datacontenttype"`
		}
		if json.Unmarshal(trimmed, &probe) == nil && probe.DCT != nil {
			return nil, invalid("/datacontenttype", "must be application/json or absent, not %s", probe.DCT)
		}
	}
	// CloudEvents 1.0: subject and dataschema, when present, are not empty. An empty one
	// would be stored as absent (null is absent in its JSON format, and is taken as such).
	for _, a := range [...]struct{ name, value, want string }{
		{"subject", ev.CESubject, "a string that is not empty"},
		{"dataschema", ev.DataSchema, "an absolute URI"},
	} {
		if a.value == "" && bytes.Contains(trimmed, []byte(`"`+a.name+`"`)) {
			var probe map[string]json.RawMessage
			if json.Unmarshal(trimmed, &probe) == nil && string(probe[a.name]) == `""` {
				return nil, invalid("/"+a.name, "must be %s or absent, not \"\"", a.want)
			}
		}
	}
	if fe := checkEnvelope(&ev, p); fe != nil {
		return nil, fe
	}
	if err := v.Validate(ev.Type, ev.Data); err != nil {
		return nil, dataError(err)
	}
	body, err := json.Marshal(&ev)
	if err != nil {
		return nil, invalid("/data", "cannot be encoded: %v", err)
	}
	if len(body) > MaxEventSize {
		return nil, eventTooLarge(len(body))
	}
	return &Candidate{Event: &ev, Body: body, Role: p.Role}, nil
}

// EventIDProblem says what makes id no event id the ledger takes ("" when it is one), so that a
// lookup by id (a proof) can refuse at once what no stored event can have.
func EventIDProblem(id string) string {
	switch {
	case !isEventID(id):
		return "must be 1-128 characters of A-Z a-z 0-9 . _ : -"
	case strings.Contains(id, ".."):
		return "must not contain \"..\""
	case id == ".":
		// A path segment "." is dropped from a URL (RFC 3986 §5.2.4): the event's proof,
		// /v1/proofs/<ENTITY>/<id>, could not be asked for.
		return "must not be \".\" alone"
	}
	return ""
}

func checkEnvelope(ev *Event, p Principal) *FieldError {
	if ev.SpecVersion != "1.0" {
		if ev.SpecVersion == "" {
			return invalid("/specversion", "required (\"1.0\")")
		}
		return invalid("/specversion", "must be \"1.0\"")
	}
	if ev.ID == "" {
		return invalid("/id", "required")
	}
	if msg := EventIDProblem(ev.ID); msg != "" {
		return invalid("/id", "%s", msg)
	}
	if ev.Source == "" {
		return invalid("/source", "required (/entities/<ENTITY>)")
	}
	entity, ok := strings.CutPrefix(ev.Source, SourcePrefix)
	if !ok || !isAcronym(entity) {
		return invalid("/source", "must be /entities/<ENTITY>, ENTITY 2-24 characters of A-Z 0-9 -")
	}
	if entity != p.Entity {
		return forbidden("/source", "you are authenticated as %s: an entity publishes only as /entities/%s", p.Entity, p.Entity)
	}
	if ev.Type == "" {
		return invalid("/type", "required")
	}
	if !schemas.Known(ev.Type) {
		return invalid("/type", "unknown event type %s (the types are in schemas/)", quoteShort(ev.Type))
	}
	if !p.Role.CanPublish() {
		return forbidden("/type", "role %s may not publish events", p.Role)
	}
	if secretariatTypes[ev.Type] && p.Role != RoleSecretariat {
		return forbidden("/type", "only the Secretariat may publish %s", ev.Type)
	}
	if ev.Time == "" {
		return invalid("/time", "required (RFC 3339)")
	}
	if !validTime(ev.Time) {
		return invalid("/time", "not an RFC 3339 time (e.g. 2025-05-05T09:30:00Z or 2025-05-05T11:30:00.5+02:00)")
	}
	if ev.DataContentType != "" {
		mt, params, err := mime.ParseMediaType(ev.DataContentType)
		if cs, ok := params["charset"]; ok && strings.EqualFold(cs, "utf-8") {
			delete(params, "charset")
		}
		if err != nil || mt != "application/json" || len(params) > 0 {
			return invalid("/datacontenttype", "must be application/json (with charset=utf-8 at most) or absent")
		}
	}
	if ev.DataSchema != "" {
		if u, err := url.Parse(ev.DataSchema); err != nil || !u.IsAbs() {
			return invalid("/dataschema", "must be an absolute URI (such as https://example.org/schemas/%s.json) or absent", ev.Type)
		}
	}
	if len(ev.Data) == 0 || bytes.Equal(ev.Data, []byte("null")) {
		return invalid("/data", "required (a JSON object)")
	}
	if ev.Data[0] != '{' {
		return invalid("/data", "must be an object")
	}
	return nil
}

// dataError turns a schema validation error into the FieldError of its most specific problem.
func dataError(err error) *FieldError {
	var ve *schemas.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) > 0 {
		p := ve.Problems[0]
		msg := p.Message
		if n := len(ve.Problems) - 1; n > 0 {
			msg += fmt.Sprintf(" (and %d more problem%s)", n, plural(n))
		}
		return invalid("/data"+p.Field, "%s", msg)
	}
	return invalid("/data", "%v", err)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// decodeError maps encoding/json's errors to a field and a plain message.
func decodeError(err error) *FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return invalid("/"+strings.ReplaceAll(te.Field, ".", "/"), "must be a %s", jsonKind(te.Type.Kind().String()))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			name = n
		}
		return invalid("/"+pointerToken(name), "%s", unknownAttribute)
	}
	return invalid("", "not valid JSON: %s", jsonErrorText(err))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "slice":
		return "JSON value"
	default:
		return k
	}
}

func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		if strings.HasSuffix(se.Error(), "exceeded max depth") {
			return fmt.Sprintf("nested more than 10000 levels deep (at byte %d)", se.Offset)
		}
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// bestEffortID digs the id out of an event that failed to decode, so that its error can
// still be matched to it; "" when there is none.
func bestEffortID(raw []byte) string {
	var head struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return ""
	}
	if s, ok := head.ID.(string); ok && len(s) <= 128 && utf8.ValidString(s) {
		return s
	}
	return ""
}

// eventTooLarge refuses an event of n bytes as the ledger would store it.
func eventTooLarge(n int) *FieldError {
	return &FieldError{Message: fmt.Sprintf("event of %d bytes as stored (its JSON without white space; <, > and & take 6 bytes each, as \\u003c): at most %d; shorten it", n, MaxEventSize), Kind: ErrTooLarge}
}

// compactLen is the length of raw without the JSON white space outside its strings: the
// size of its compact encoding, short of encoding/json's escapes.
func compactLen(raw []byte) int {
	n := 0
	inString := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case inString && c == '\\':
			i++ // the escaped byte: never the string's end
			n++
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			continue
		}
		n++
	}
	return min(n, len(raw))
}

// trimJSONSpace trims JSON's whitespace (space, tab, CR, LF) and nothing else: an event
// padded with other white space (a vertical tab, U+00A0, U+2028) is not a JSON text.
func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// validTime reports whether s is an RFC 3339 date-time as the ledger takes it: two-digit
// fields, an upper-case T, seconds with an optional fraction after a dot, and Z or an offset
// of at most ±23:59; the calendar and clock ranges are time.Parse's. time.Parse alone
// takes one-digit hours, a comma before the fraction and offsets such as +24:00, none of
// them RFC 3339. RFC 3339 also allows a lower-case t and z and a leap second (23:59:60):
// the ledger refuses those (§5.6 lets a specification require upper case; Go's time has no
// leap seconds), so that every stored time reads back with time.Parse.
func validTime(s string) bool {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return false
	}
	for i := range 19 {
		c := s[i]
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != 'T' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	rest := s[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	twoDigits := func(d string, most byte) bool {
		return d[0] >= '0' && d[0] <= '9' && d[1] >= '0' && d[1] <= '9' && (d[0]-'0')*10+d[1]-'0' <= most
	}
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' && twoDigits(rest[1:3], 23) && twoDigits(rest[4:6], 59):
	default:
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}
