package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Validator validates event data. It is safe for concurrent use: after New it is read-only.
type Validator struct {
	schemas map[string]*jsonschema.Schema
	// spans lists, per type, the pairs of date fields whose order JSON Schema cannot check.
	spans map[string][]span
	// origin maps the keyword locations of the flattened schemas to the contract files' own
	// (flatten.go), for the overrides.
	origin origins
	// quick holds, per type, the quick verdict (verdict.go); nil in the reference.
	quick map[string]*quick
}

// span is a pair of date fields where last must not come before first.
type span struct{ first, last, message string }

// candidateSpans are the date pairs of the contract; a type gets the ones its schema declares.
var candidateSpans = []span{
	{"start", "end", "must not be before start"},
	{"from", "to", "must not be before from"},
}

// noLoader refuses every URL: all schemas are registered from FS, so a $ref that reaches for
// anything else is a broken schema, never a network fetch.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas: %s is not an embedded schema (only %s* from schemas.FS are known)", url, baseURL)
}

// New compiles every schema; it fails if any schema is broken.
func New() (*Validator, error) {
	docs, err := loadDocs()
	if err != nil {
		return nil, err
	}
	return compile(docs, true)
}

// compile compiles the schema documents (loadDocs). fast is the validator's way: flattened
// (flatten.go), the contract's patterns matched by loops (pattern.go), long enums looked up
// in a set (enumset.go); without it, the
// documents as they are with the library's defaults, the reference the tests compare with.
func compile(docs map[string]any, fast bool) (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Draft 2020-12 treats "format" as an annotation; the contract needs it to reject 2025-02-30.
	c.AssertFormat()
	c.UseLoader(noLoader{})
	if fast {
		c.UseRegexpEngine(compilePattern)
		vocab, err := enumSetVocab()
		if err != nil {
			return nil, err
		}
		c.RegisterVocabulary(vocab)
		c.AssertVocabs()
	}

	v := &Validator{
		schemas: make(map[string]*jsonschema.Schema, len(typeList)),
		spans:   make(map[string][]span),
		origin:  origins{},
	}
	for _, t := range typeList {
		props, _ := docs[t+".json"].(map[string]any)["properties"].(map[string]any)
		for _, s := range candidateSpans {
			_, hasFirst := props[s.first]
			_, hasLast := props[s.last]
			if hasFirst && hasLast {
				v.spans[t] = append(v.spans[t], s)
			}
		}
	}
	if fast {
		v.origin = flatten(docs)
		setEnums(docs)
	}
	for name, doc := range docs {
		if err := c.AddResource(baseURL+name, doc); err != nil {
			return nil, fmt.Errorf("schemas: registering %s: %w", name, err)
		}
	}
	if _, err := c.Compile(baseURL + defsFile); err != nil {
		return nil, fmt.Errorf("schemas: compiling %s: %w", defsFile, err)
	}
	for _, t := range typeList {
		sch, err := c.Compile(baseURL + t + ".json")
		if err != nil {
			return nil, fmt.Errorf("schemas: compiling %s.json: %w", t, err)
		}
		v.schemas[t] = sch
	}
	if fast {
		v.quick = make(map[string]*quick, len(typeList))
		for _, t := range typeList {
			// A schema the quick verdict cannot compile is the library's alone
			// (TestQuickVerdictCovers says none is).
			if q, err := compileQuick(docs, t+".json"); err == nil {
				v.quick[t] = q
			}
		}
	}
	return v, nil
}

// loadDocs parses every embedded schema file, keyed by file name.
func loadDocs() (map[string]any, error) {
	names, err := fs.Glob(FS, "*.json")
	if err != nil {
		return nil, err
	}
	docs := make(map[string]any, len(names))
	for _, name := range names {
		b, err := FS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schemas: %s is not valid JSON: %w", name, err)
		}
		docs[name] = doc
	}
	return docs, nil
}

var defaultValidator = sync.OnceValue(func() *Validator {
	v, err := New()
	if err != nil {
		panic(err)
	}
	return v
})

// Default returns a process-wide Validator compiled once (panics only if the embedded schemas
// are broken, which the package's tests rule out).
func Default() *Validator {
	return defaultValidator()
}

// Validate checks data (the CloudEvent's "data" member, raw JSON) against the schema of typ.
// It returns nil or a *ValidationError; for a type outside the contract, an error wrapping
// ErrUnknownType.
func (v *Validator) Validate(typ string, data []byte) error {
	sch, ok := v.schemas[typ]
	if !ok {
		return fmt.Errorf("%w %q: not one of the %d types of the contract (schemas.Types)", ErrUnknownType, typ, len(v.schemas))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return &ValidationError{Type: typ, Problems: []FieldError{{Field: "", Message: "required: a JSON object"}}}
	}
	// UnmarshalJSON keeps numbers as json.Number, so 1e400 or 12.5 are judged as written.
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return &ValidationError{Type: typ, Problems: []FieldError{{Field: "", Message: "not valid JSON: " + err.Error()}}}
	}
	return v.validate(typ, sch, doc)
}

// ValidateValue is [Validator.Validate] for data a caller has already decoded, so that a
// reader that walks the bytes anyway (the ledger's ingest) need not parse them twice. doc must
// be what jsonschema.UnmarshalJSON makes of the data — []any, string, json.Number (never
// float64: 12.5 and 1e400 are judged as written), bool or nil — with each object an [Object]
// (cheapest) or a map[string]any. For the same data the verdict and the problems are
// Validate's.
func (v *Validator) ValidateValue(typ string, doc any) error {
	sch, ok := v.schemas[typ]
	if !ok {
		return fmt.Errorf("%w %q: not one of the %d types of the contract (schemas.Types)", ErrUnknownType, typ, len(v.schemas))
	}
	return v.validate(typ, sch, doc)
}

func (v *Validator) validate(typ string, sch *jsonschema.Schema, doc any) error {
	var problems []FieldError
	doc = toObjects(doc) // what the quick verdict reads
	if q := v.quick[typ]; q != nil && q.verdict(doc) == validV {
		// Valid for certain: the library would find nothing.
	} else if err := sch.Validate(toMaps(doc)); err != nil {
		var verr *jsonschema.ValidationError
		if !errors.As(err, &verr) {
			// Not a validation failure but a failure to validate: say so rather than blame the data.
			return fmt.Errorf("schemas: validating %s: %w", typ, err)
		}
		problems = describe(verr, v.origin)
	}
	if obj, ok := doc.(Object); ok {
		for _, s := range v.spans[typ] {
			if p, bad := checkSpan(obj, s); bad {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &ValidationError{Type: typ, Problems: tidy(problems)}
}
