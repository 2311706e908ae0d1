package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

//go:embed examples
var examplesFS embed.FS

// The members an invalid example carries to say what must be reported; they are not part of
// the event and are stripped before use.
const (
	expectField   = "x-expect-field"
	expectMessage = "x-expect-message"
)

// Example is one example event of examples/valid or examples/invalid.
type Example struct {
	// Name is the file's path under examples/, e.g. "invalid/date-2025-02-30.json".
	Name  string
	Valid bool
	// Event is the whole CloudEvent without the x-expect members.
	Event []byte
	// Field is the JSON pointer from the event root that must be reported ("/data/start"), and
	// Message a substring of its message; both empty for a valid example.
	Field, Message string
}

// Examples returns every example, valid ones first, each group sorted by name.
func Examples() ([]Example, error) {
	var out []Example
	for _, dir := range []string{"valid", "invalid"} {
		names, err := fs.Glob(examplesFS, path.Join("examples", dir, "*.json"))
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			b, err := examplesFS.ReadFile(name)
			if err != nil {
				return nil, err
			}
			ex, err := parseExample(strings.TrimPrefix(name, "examples/"), dir == "valid", b)
			if err != nil {
				return nil, err
			}
			out = append(out, ex)
		}
	}
	return out, nil
}

// parseExample strips the x-expect members and keeps every other member in its order, compacted:
// the event is one line, ready for JSON Lines or a NATS message body.
func parseExample(name string, valid bool, b []byte) (Example, error) {
	ex := Example{Name: name, Valid: valid}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ex, fmt.Errorf("schemas: example %s: not a JSON object", name)
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ex, fmt.Errorf("schemas: example %s: %w", name, err)
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return ex, fmt.Errorf("schemas: example %s: member %q: %w", name, key, err)
		}
		switch key {
		case expectField, expectMessage:
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return ex, fmt.Errorf("schemas: example %s: %s must be a string", name, key)
			}
			if key == expectField {
				ex.Field = s
			} else {
				ex.Message = s
			}
			continue
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		buf.Write(k)
		buf.WriteByte(':')
		if err := json.Compact(&buf, raw); err != nil {
			return ex, fmt.Errorf("schemas: example %s: member %q: %w", name, key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return ex, fmt.Errorf("schemas: example %s: %w", name, err)
	}
	buf.WriteByte('}')
	ex.Event = buf.Bytes()
	switch {
	case valid && (ex.Field != "" || ex.Message != ""):
		return ex, fmt.Errorf("schemas: example %s is valid but carries %s/%s", name, expectField, expectMessage)
	case !valid && (ex.Field == "" || ex.Message == ""):
		return ex, fmt.Errorf("schemas: invalid example %s must say what to expect in both %s and %s", name, expectField, expectMessage)
	case !valid && !strings.HasPrefix(ex.Field, "/"):
		return ex, fmt.Errorf("schemas: example %s: %s %q is not a JSON pointer", name, expectField, ex.Field)
	}
	return ex, nil
}
