package schemas

import (
	"strconv"
	"strings"
)

// Flattening: the validator compiles the schemas with each "$ref" to a definition replaced by
// the definition's keywords, where that changes nothing but the cost.
//
// The contract files say "start": {"$ref": "defs.json#/$defs/date"} so that a rule is written
// once; the library follows every such reference at run time, once per value, which costs a
// scope and a sub-validator each time — about a quarter of the work on a typical event,
// whose actors, countries and links each pass through two or three of them. A
// reference's target applies to the same value as its siblings, so copying the target's
// keywords into the referring schema is the same rule when no keyword of the one meets a
// keyword of the other (mergeable). The files on disk, which publishers read, are unchanged.
//
// Only the locations of the copied keywords move: an error at
// compact.meeting.held.json#/properties/start/pattern is defs.json#/$defs/date/pattern in the
// contract, and overrides and summaries are keyed by the latter. flatten records where every
// copied keyword came from, and [origins.resolve] maps a location back.

// annotations carry no rule: they may sit beside a reference and are not copied.
var annotations = map[string]bool{
	"description": true, "title": true, "$comment": true, "examples": true, "default": true,
	"deprecated": true, "readOnly": true, "writeOnly": true,
}

// keywordGroups are keywords that read one another within a schema object: two schemas that
// hold keywords of one group cannot be merged (additionalProperties depends on the
// properties beside it, items on prefixItems, then on if, ...).
var keywordGroups = map[string]int{
	"properties": 1, "patternProperties": 1, "additionalProperties": 1,
	"prefixItems": 2, "items": 2,
	"contains": 3, "minContains": 3, "maxContains": 3,
	"if": 4, "then": 4, "else": 4,
	"contentEncoding": 5, "contentMediaType": 5, "contentSchema": 5,
}

// unmovable keywords give a schema an identity or depend on evaluation across schemas: a
// schema holding one is never copied.
var unmovable = map[string]bool{
	"$id": true, "$anchor": true, "$dynamicAnchor": true, "$dynamicRef": true,
	"$recursiveAnchor": true, "$recursiveRef": true, "$schema": true, "$vocabulary": true,
	"unevaluatedProperties": true, "unevaluatedItems": true,
}

// Keywords whose values are subschemas, by shape.
var (
	schemaMapKeywords   = []string{"properties", "patternProperties", "dependentSchemas", "$defs"}
	schemaKeywords      = []string{"additionalProperties", "items", "contains", "propertyNames", "not", "if", "then", "else", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
	schemaListKeywords  = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
	maxFlattenRecursion = 32 // a reference chain this long is a cycle: leave it to the library
)

// origins maps the location of a copied keyword ("file#/pointer/keyword", relative to
// baseURL) to the location it was copied from.
type origins map[string]string

// resolve maps a keyword location of the flattened schemas to the contract's: the longest
// prefix that was copied is replaced by its origin, until none applies (a keyword may have
// been copied from a copy).
func (o origins) resolve(loc string) string {
	for range maxFlattenRecursion {
		moved := false
		for end := len(loc); end > 0; end = strings.LastIndexByte(loc[:end], '/') {
			if from, ok := o[loc[:end]]; ok {
				loc, moved = from+loc[end:], true
				break
			}
		}
		if !moved {
			return loc
		}
	}
	return loc
}

type flattener struct {
	docs   map[string]any // file name → document, flattened in place
	origin origins
}

// flatten rewrites docs (as loadDocs returns them) in place: defs.json first, so that the
// definitions are flat when they are copied, then every other file.
func flatten(docs map[string]any) origins {
	f := &flattener{docs: docs, origin: origins{}}
	if hasUnmovable(docs) {
		return f.origin // unevaluated* anywhere: any move could change a verdict
	}
	if d, ok := docs[defsFile].(map[string]any); ok {
		f.schema(defsFile, "", d, 0)
	}
	for name, doc := range docs {
		if d, ok := doc.(map[string]any); ok && name != defsFile {
			f.schema(name, "", d, 0)
		}
	}
	return f.origin
}

// hasUnmovable reports whether any schema uses unevaluatedProperties or unevaluatedItems.
func hasUnmovable(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "unevaluatedProperties" || k == "unevaluatedItems" || hasUnmovable(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasUnmovable(x) {
				return true
			}
		}
	}
	return false
}

// schema flattens the schema s found at file#ptr, then its subschemas.
func (f *flattener) schema(file, ptr string, s map[string]any, depth int) {
	if depth > maxFlattenRecursion {
		return
	}
	for range maxFlattenRecursion {
		ref, ok := s["$ref"].(string)
		if !ok {
			break
		}
		tfile, tptr, target := f.lookup(file, ref)
		if target == nil || !mergeable(s, target) {
			break
		}
		delete(s, "$ref")
		for k, v := range target {
			if annotations[k] || k == "$defs" {
				continue
			}
			s[k] = absolute(deepCopy(v), tfile)
			f.origin[file+"#"+ptr+"/"+escapeToken(k)] = tfile + "#" + tptr + "/" + escapeToken(k)
		}
	}
	for _, kw := range schemaMapKeywords {
		if m, ok := s[kw].(map[string]any); ok {
			for name, sub := range m {
				if sub, ok := sub.(map[string]any); ok {
					f.schema(file, ptr+"/"+kw+"/"+escapeToken(name), sub, depth+1)
				}
			}
		}
	}
	for _, kw := range schemaKeywords {
		if sub, ok := s[kw].(map[string]any); ok {
			f.schema(file, ptr+"/"+kw, sub, depth+1)
		}
	}
	for _, kw := range schemaListKeywords {
		if list, ok := s[kw].([]any); ok {
			for i, sub := range list {
				if sub, ok := sub.(map[string]any); ok {
					f.schema(file, ptr+"/"+kw+"/"+strconv.Itoa(i), sub, depth+1)
				}
			}
		}
	}
}

// lookup resolves a reference made in file to one of the embedded files: "defs.json#/$defs/x"
// or "#/$defs/x". Anything else (another host, an anchor) is left to the library.
func (f *flattener) lookup(file, ref string) (tfile, tptr string, target map[string]any) {
	tfile, tptr, ok := strings.Cut(ref, "#")
	if !ok || strings.ContainsAny(tfile, "/:") || !strings.HasPrefix(tptr, "/") {
		return "", "", nil
	}
	if tfile == "" {
		tfile = file
	}
	node, ok := f.docs[tfile]
	if !ok {
		return "", "", nil
	}
	for _, tok := range strings.Split(tptr[1:], "/") {
		m, ok := node.(map[string]any)
		if !ok {
			return "", "", nil
		}
		node = m[unescapeToken(tok)]
	}
	target, _ = node.(map[string]any)
	return tfile, tptr, target
}

// mergeable reports whether the keywords of target can join s (which holds "$ref": target)
// without changing what either says.
func mergeable(s, target map[string]any) bool {
	groups := map[int]bool{}
	for k := range target {
		if unmovable[k] {
			return false
		}
		if annotations[k] || k == "$defs" {
			continue
		}
		if _, clash := s[k]; clash {
			return false
		}
		if g := keywordGroups[k]; g != 0 {
			groups[g] = true
		}
	}
	for k := range s {
		if unmovable[k] || k == "$defs" {
			return false
		}
		if g := keywordGroups[k]; g != 0 && groups[g] {
			return false
		}
	}
	return true
}

// absolute rewrites the local references ("#/...") of a subtree copied out of file so that
// they still name file.
func absolute(v any, file string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if ref, ok := x.(string); ok && k == "$ref" && strings.HasPrefix(ref, "#") {
				v[k] = file + ref
				continue
			}
			absolute(x, file)
		}
	case []any:
		for _, x := range v {
			absolute(x, file)
		}
	}
	return v
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}

var tokenUnescaper = strings.NewReplacer("~1", "/", "~0", "~")

func escapeToken(s string) string   { return pointerEscaper.Replace(s) }
func unescapeToken(s string) string { return tokenUnescaper.Replace(s) }
