package schemas

import (
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Long enums of strings, looked up in a set: the library compares the value with each member
// in turn, and the 249 country codes made that a sixth of the validation of a typical event.
//
// In the compiled (flattened) schemas, an "enum" of at least minEnumSet strings in a schema
// that says nothing else but its "type" is renamed enumSetKeyword, which the enumSet
// vocabulary checks with a map. The verdict is the same: the library checks "type" first and
// stops there, and nothing else in such a schema would have run after a failed enum. The
// error is the same too: a *kind.Enum with the members in their order, at the keyword
// location ".../enum", so that the overrides and the messages do not see the difference.

// enumSetKeyword is the renamed keyword: not JSON Schema, only ever in the compiled form.
const enumSetKeyword = "x-compact-enum-set"

// minEnumSet: shorter enums stay as they are (a few comparisons cost no more than a lookup).
const minEnumSet = 16

// setEnums renames the long string enums of docs (after flattening).
func setEnums(v any) {
	switch v := v.(type) {
	case map[string]any:
		if isSettableEnum(v) {
			v[enumSetKeyword] = v["enum"]
			delete(v, "enum")
		}
		for _, x := range v {
			setEnums(x)
		}
	case []any:
		for _, x := range v {
			setEnums(x)
		}
	}
}

// isSettableEnum: a schema of an enum of at least minEnumSet strings, besides which there is
// only "type" and annotations.
func isSettableEnum(s map[string]any) bool {
	values, ok := s["enum"].([]any)
	if !ok || len(values) < minEnumSet {
		return false
	}
	for _, x := range values {
		if _, ok := x.(string); !ok {
			return false
		}
	}
	for k := range s {
		if k != "enum" && k != "type" && !annotations[k] {
			return false
		}
	}
	return true
}

const enumSetVocabURL = "https://compact.example/vocab/enum-set"

// enumSetVocab is the vocabulary of enumSetKeyword.
func enumSetVocab() (*jsonschema.Vocabulary, error) {
	meta, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"properties": {"` + enumSetKeyword + `": {"type": "array", "items": {"type": "string"}}}}`))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(enumSetVocabURL, meta); err != nil {
		return nil, err
	}
	sch, err := c.Compile(enumSetVocabURL)
	if err != nil {
		return nil, err
	}
	return &jsonschema.Vocabulary{URL: enumSetVocabURL, Schema: sch, Compile: compileEnumSet}, nil
}

func compileEnumSet(_ *jsonschema.CompilerContext, obj map[string]any) (jsonschema.SchemaExt, error) {
	v, ok := obj[enumSetKeyword]
	if !ok {
		return nil, nil
	}
	values, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("schemas: %s is not a list", enumSetKeyword)
	}
	e := &enumSet{values: values, set: make(map[string]bool, len(values))}
	for _, x := range values {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("schemas: %s holds %v, not a string", enumSetKeyword, x)
		}
		e.set[s] = true
	}
	return e, nil
}

type enumSet struct {
	values []any // in the schema's order, for the message
	set    map[string]bool
}

func (e *enumSet) Validate(ctx *jsonschema.ValidatorContext, v any) {
	if s, ok := v.(string); ok && e.set[s] {
		return
	}
	ctx.AddError(&kind.Enum{Got: v, Want: e.values})
}
