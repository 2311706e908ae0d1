package schemas

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The quick verdict: the ledger validates every event it ingests, and almost every event is
// valid. For a valid event the library's whole work is to say so, through generic machinery
// that costs more than the rest of the ingest path together (a scope per value, big.Rat for
// every number). The quick verdict is the compiled schemas as plain Go checks that answer
// "valid" only when that is certain; anything else — invalid, or a case it does not decide
// (12.0 as an integer, a "uri" it cannot vouch for) — goes to the library, which gives the
// verdict and the words of every problem. So the quick verdict can make validation cheaper,
// never different: FuzzFlattened and TestFlattened hold Default() to the reference library
// word for word, and TestQuickVerdictCovers that every valid example is decided quickly.
//
// Three answers are needed, not two, because of "if": to choose between "then" and "else"
// the condition must be decided either way; an undecided condition leaves the event to the
// library.

type verdict uint8

const (
	invalidV verdict = iota
	validV
	undecided
)

func both(a, b verdict) verdict {
	switch {
	case a == invalidV || b == invalidV:
		return invalidV
	case a == undecided || b == undecided:
		return undecided
	}
	return validV
}

func not(a verdict) verdict {
	switch a {
	case validV:
		return invalidV
	case invalidV:
		return validV
	}
	return undecided
}

// quick is one compiled schema: every keyword's check, all of which must hold.
type quick struct {
	checks []func(v any) verdict
}

func (q *quick) verdict(v any) verdict {
	r := validV
	for _, c := range q.checks {
		switch c(v) {
		case invalidV:
			return invalidV
		case undecided:
			r = undecided
		}
	}
	return r
}

// quickCompiler compiles the flattened documents; refs caches the schema each "$ref" target
// compiles to, so that a cycle ends.
type quickCompiler struct {
	docs map[string]any
	refs map[string]*quick
}

// ignoredKeywords change no verdict.
var ignoredKeywords = map[string]bool{
	"$schema": true, "$id": true, "$defs": true, "$comment": true, "title": true,
	"description": true, "examples": true, "default": true, "deprecated": true,
	"readOnly": true, "writeOnly": true,
}

// compileQuick compiles the schema of file (a document of docs). It fails on any keyword it
// does not know: that type is then left to the library entirely.
func compileQuick(docs map[string]any, file string) (*quick, error) {
	c := &quickCompiler{docs: docs, refs: map[string]*quick{}}
	return c.compile(file, docs[file])
}

func (c *quickCompiler) compile(file string, s any) (*quick, error) {
	q := &quick{}
	switch s := s.(type) {
	case bool:
		if !s {
			q.checks = append(q.checks, func(any) verdict { return invalidV })
		}
		return q, nil
	case map[string]any:
		for k, kv := range s {
			if ignoredKeywords[k] {
				continue
			}
			check, err := c.keyword(file, s, k, kv)
			if err != nil {
				return nil, err
			}
			if check != nil {
				q.checks = append(q.checks, check)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("schemas: quick verdict: %T is not a schema", s)
}

func (c *quickCompiler) keyword(file string, s map[string]any, k string, kv any) (func(any) verdict, error) {
	sub := func(x any) (*quick, error) { return c.compile(file, x) }
	switch k {
	case "$ref":
		ref, _ := kv.(string)
		return c.ref(file, ref)
	case "type":
		return typeCheck(kv)
	case "properties", "additionalProperties":
		if k == "additionalProperties" {
			if _, ok := s["properties"]; ok {
				return nil, nil // compiled with "properties"
			}
		}
		return c.properties(file, s)
	case "required":
		names, err := stringList(kv)
		if err != nil {
			return nil, err
		}
		return func(v any) verdict {
			obj, ok := v.(Object)
			if !ok {
				return validV
			}
			for _, n := range names {
				if _, ok := obj.Get(n); !ok {
					return invalidV
				}
			}
			return validV
		}, nil
	case "dependentRequired":
		m, ok := kv.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("schemas: quick verdict: dependentRequired is %T", kv)
		}
		deps := map[string][]string{}
		for name, list := range m {
			names, err := stringList(list)
			if err != nil {
				return nil, err
			}
			deps[name] = names
		}
		return func(v any) verdict {
			obj, ok := v.(Object)
			if !ok {
				return validV
			}
			for name, needs := range deps {
				if _, ok := obj.Get(name); !ok {
					continue
				}
				for _, n := range needs {
					if _, ok := obj.Get(n); !ok {
						return invalidV
					}
				}
			}
			return validV
		}, nil
	case "minProperties", "maxProperties", "minItems", "maxItems", "minLength", "maxLength":
		n, err := count(kv)
		if err != nil {
			return nil, err
		}
		return sizeCheck(k, n), nil
	case "items":
		q, err := sub(kv)
		if err != nil {
			return nil, err
		}
		return func(v any) verdict {
			arr, ok := v.([]any)
			if !ok {
				return validV
			}
			r := validV
			for _, x := range arr {
				if r = both(r, q.verdict(x)); r == invalidV {
					return r
				}
			}
			return r
		}, nil
	case "uniqueItems":
		if b, _ := kv.(bool); !b {
			return nil, nil
		}
		return func(v any) verdict {
			arr, ok := v.([]any)
			if !ok || len(arr) < 2 {
				return validV
			}
			if len(arr) <= 8 {
				return fewUnique(arr)
			}
			seen := make(map[string]bool, len(arr))
			var buf []byte
			for _, x := range arr {
				s, ok := x.(string)
				if !ok {
					if buf, ok = canonical(buf[:0], x); !ok {
						return undecided // equal numbers may be written apart: the library's
					}
					s = string(buf)
				}
				if seen[s] {
					return invalidV
				}
				seen[s] = true
			}
			return validV
		}, nil
	case "pattern":
		expr, _ := kv.(string)
		re, err := compilePattern(expr)
		if err != nil {
			return nil, err
		}
		return func(v any) verdict {
			s, ok := v.(string)
			if !ok || re.MatchString(s) {
				return validV
			}
			return invalidV
		}, nil
	case "format":
		return formatCheck(kv)
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		return boundCheck(k, kv)
	case "enum", enumSetKeyword:
		list, ok := kv.([]any)
		if !ok {
			return nil, fmt.Errorf("schemas: quick verdict: %s is %T", k, kv)
		}
		return enumCheck(list), nil
	case "const":
		return enumCheck([]any{kv}), nil
	case "if":
		cond, err := sub(kv)
		if err != nil {
			return nil, err
		}
		then, elseQ := &quick{}, &quick{}
		if x, ok := s["then"]; ok {
			if then, err = sub(x); err != nil {
				return nil, err
			}
		}
		if x, ok := s["else"]; ok {
			if elseQ, err = sub(x); err != nil {
				return nil, err
			}
		}
		return func(v any) verdict {
			switch cond.verdict(v) {
			case validV:
				return then.verdict(v)
			case invalidV:
				return elseQ.verdict(v)
			}
			return undecided
		}, nil
	case "then", "else":
		return nil, nil // compiled with "if"; alone they do nothing
	case "allOf", "anyOf", "oneOf":
		list, ok := kv.([]any)
		if !ok {
			return nil, fmt.Errorf("schemas: quick verdict: %s is %T", k, kv)
		}
		qs := make([]*quick, len(list))
		for i, x := range list {
			var err error
			if qs[i], err = sub(x); err != nil {
				return nil, err
			}
		}
		return combine(k, qs), nil
	case "not":
		q, err := sub(kv)
		if err != nil {
			return nil, err
		}
		return func(v any) verdict { return not(q.verdict(v)) }, nil
	}
	return nil, fmt.Errorf("schemas: quick verdict: keyword %q is not compiled", k)
}

// ref compiles the target of a reference: "#/pointer" in file, or "other.json#/pointer".
func (c *quickCompiler) ref(file, ref string) (func(any) verdict, error) {
	target, ptr, _ := strings.Cut(ref, "#")
	if target == "" {
		target = file
	}
	target = strings.TrimPrefix(target, baseURL)
	key := target + "#" + ptr
	if q, ok := c.refs[key]; ok {
		return q.verdict, nil
	}
	node, ok := c.docs[target]
	if !ok {
		return nil, fmt.Errorf("schemas: quick verdict: $ref %q: no document %s", ref, target)
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := node.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("schemas: quick verdict: $ref %q does not resolve", ref)
		}
		node = m[tok]
	}
	q := &quick{}
	c.refs[key] = q // a cycle meets this (filled below) instead of compiling forever
	compiled, err := c.compile(target, node)
	if err != nil {
		return nil, err
	}
	*q = *compiled
	return q.verdict, nil
}

func (c *quickCompiler) properties(file string, s map[string]any) (func(any) verdict, error) {
	props := map[string]*quick{}
	if m, ok := s["properties"].(map[string]any); ok {
		for name, x := range m {
			q, err := c.compile(file, x)
			if err != nil {
				return nil, err
			}
			props[name] = q
		}
	}
	var additional *quick
	if x, ok := s["additionalProperties"]; ok {
		var err error
		if additional, err = c.compile(file, x); err != nil {
			return nil, err
		}
	}
	return func(v any) verdict {
		obj, ok := v.(Object)
		if !ok {
			return validV
		}
		r := validV
		for i := range obj {
			q, ok := props[obj[i].Name]
			if !ok {
				if additional == nil {
					continue
				}
				q = additional
			}
			if r = both(r, q.verdict(obj[i].Value)); r == invalidV {
				return r
			}
		}
		return r
	}, nil
}

func combine(k string, qs []*quick) func(any) verdict {
	return func(v any) verdict {
		yes, undecidedN := 0, 0
		for _, q := range qs {
			switch q.verdict(v) {
			case validV:
				yes++
			case undecided:
				undecidedN++
			}
		}
		switch k {
		case "allOf":
			switch {
			case yes == len(qs):
				return validV
			case yes+undecidedN == len(qs):
				return undecided
			}
			return invalidV
		case "anyOf":
			switch {
			case yes > 0:
				return validV
			case undecidedN > 0:
				return undecided
			}
			return invalidV
		default: // oneOf
			switch {
			case undecidedN > 0:
				return undecided
			case yes == 1:
				return validV
			}
			return invalidV
		}
	}
}

// JSON types as the library tells them apart (values from jsonschema.UnmarshalJSON).
const (
	tNull = 1 << iota
	tBoolean
	tObject
	tArray
	tNumber
	tInteger
	tString
)

var typeNames = map[string]int{"null": tNull, "boolean": tBoolean, "object": tObject, "array": tArray, "number": tNumber, "integer": tInteger, "string": tString}

func typeCheck(kv any) (func(any) verdict, error) {
	var names []string
	switch kv := kv.(type) {
	case string:
		names = []string{kv}
	default:
		var err error
		if names, err = stringList(kv); err != nil {
			return nil, err
		}
	}
	mask := 0
	for _, n := range names {
		t, ok := typeNames[n]
		if !ok {
			return nil, fmt.Errorf("schemas: quick verdict: type %q", n)
		}
		mask |= t
	}
	return func(v any) verdict {
		var t int
		switch v := v.(type) {
		case nil:
			t = tNull
		case bool:
			t = tBoolean
		case Object:
			t = tObject
		case []any:
			t = tArray
		case string:
			t = tString
		case json.Number:
			if mask&tNumber != 0 {
				return validV
			}
			if mask&tInteger == 0 {
				return invalidV
			}
			if plainInteger(string(v)) {
				return validV
			}
			return undecided // 12.0 and 1e2 are integers too: the library decides
		default:
			return undecided
		}
		if mask&t != 0 {
			return validV
		}
		return invalidV
	}, nil
}

// plainInteger: -?[0-9]+, which is an integer whatever else is true of it.
func plainInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func sizeCheck(k string, n int) func(any) verdict {
	min := strings.HasPrefix(k, "min")
	holds := func(size int) verdict {
		if min && size >= n || !min && size <= n {
			return validV
		}
		return invalidV
	}
	switch k {
	case "minProperties", "maxProperties":
		return func(v any) verdict {
			if obj, ok := v.(Object); ok {
				return holds(len(obj))
			}
			return validV
		}
	case "minItems", "maxItems":
		return func(v any) verdict {
			if arr, ok := v.([]any); ok {
				return holds(len(arr))
			}
			return validV
		}
	}
	return func(v any) verdict {
		if s, ok := v.(string); ok {
			return holds(utf8.RuneCountInString(s))
		}
		return validV
	}
}

func formatCheck(kv any) (func(any) verdict, error) {
	switch kv {
	case "date":
		return func(v any) verdict {
			s, ok := v.(string)
			if !ok {
				return validV
			}
			if isDate(s) {
				return validV
			}
			return invalidV
		}, nil
	case "uri":
		// What the library asks of a "uri": it parses, is absolute, and an IPv6 host is
		// bracketed and valid. The last is left to the library.
		return func(v any) verdict {
			s, ok := v.(string)
			if !ok {
				return validV
			}
			if plainHTTPURL(s) {
				return validV
			}
			u, err := url.Parse(s)
			if err != nil || !u.IsAbs() || strings.Contains(u.Hostname(), ":") {
				return undecided
			}
			return validV
		}, nil
	}
	return nil, fmt.Errorf("schemas: quick verdict: format %v", kv)
}

// boundCheck decides a bound for integers written plainly against an integer bound.
func boundCheck(k string, kv any) (func(any) verdict, error) {
	n, ok := kv.(json.Number)
	if !ok || !plainInteger(string(n)) {
		return nil, fmt.Errorf("schemas: quick verdict: %s %v is not a plain integer", k, kv)
	}
	bound, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("schemas: quick verdict: %s %v: %w", k, kv, err)
	}
	return func(v any) verdict {
		num, ok := v.(json.Number)
		if !ok {
			return validV
		}
		if !plainInteger(string(num)) {
			return undecided
		}
		x, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return undecided
		}
		var holds bool
		switch k {
		case "minimum":
			holds = x >= bound
		case "maximum":
			holds = x <= bound
		case "exclusiveMinimum":
			holds = x > bound
		default:
			holds = x < bound
		}
		if holds {
			return validV
		}
		return invalidV
	}, nil
}

// enumCheck decides strings, booleans and null; a number, object or array is undecided
// when a member of its kind could equal it.
func enumCheck(members []any) func(any) verdict {
	strs := map[string]bool{}
	var hasTrue, hasFalse, hasNull, hasNumber, hasComposite bool
	for _, m := range members {
		switch m := m.(type) {
		case string:
			strs[m] = true
		case bool:
			hasTrue, hasFalse = hasTrue || m, hasFalse || !m
		case nil:
			hasNull = true
		case json.Number:
			hasNumber = true
		default:
			hasComposite = true
		}
	}
	yesIf := func(b bool) verdict {
		if b {
			return validV
		}
		return invalidV
	}
	return func(v any) verdict {
		switch v := v.(type) {
		case string:
			return yesIf(strs[v])
		case bool:
			return yesIf(v && hasTrue || !v && hasFalse)
		case nil:
			return yesIf(hasNull)
		case json.Number:
			if hasNumber {
				return undecided
			}
			return invalidV
		default:
			if hasComposite {
				return undecided
			}
			return invalidV
		}
	}
}

// canonical writes v so that two values are equal exactly when their writings are: each
// string with its length, objects with their keys sorted, and no numbers (1 and 1.0 are
// equal: that is the library's to say).
func canonical(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		return appendString(append(b, 's'), v), true
	case bool:
		if v {
			return append(b, 't'), true
		}
		return append(b, 'f'), true
	case nil:
		return append(b, 'n'), true
	case []any:
		b = binary.AppendUvarint(append(b, '['), uint64(len(v)))
		for _, x := range v {
			var ok bool
			if b, ok = canonical(b, x); !ok {
				return b, false
			}
		}
		return b, true
	case Object:
		b = binary.AppendUvarint(append(b, '{'), uint64(len(v)))
		if len(v) == 1 {
			return canonical(appendString(b, v[0].Name), v[0].Value)
		}
		// the members in name order, without allocating for an object of a few
		var small [8]int
		order := small[:0]
		if len(v) > len(small) {
			order = make([]int, 0, len(v))
		}
		for i := range v {
			order = append(order, i)
		}
		slices.SortFunc(order, func(x, y int) int { return strings.Compare(v[x].Name, v[y].Name) })
		for _, i := range order {
			var ok bool
			if b, ok = canonical(appendString(b, v[i].Name), v[i].Value); !ok {
				return b, false
			}
		}
		return b, true
	}
	return b, false
}

// fewUnique is uniqueItems for an array of a few: the canonical writings side by side in one
// buffer, compared pairwise.
func fewUnique(arr []any) verdict {
	if v, ok := fewUniqueStrings(arr); ok {
		return v
	}
	var stack [512]byte
	buf := stack[:0]
	var ends [9]int
	for i, x := range arr {
		var ok bool
		if buf, ok = canonical(buf, x); !ok {
			return undecided // equal numbers may be written apart: the library's
		}
		ends[i+1] = len(buf)
	}
	for i := range arr {
		for j := i + 1; j < len(arr); j++ {
			if string(buf[ends[i]:ends[i+1]]) == string(buf[ends[j]:ends[j+1]]) {
				return invalidV
			}
		}
	}
	return validV
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func stringList(x any) ([]string, error) {
	list, ok := x.([]any)
	if !ok {
		return nil, fmt.Errorf("schemas: quick verdict: %v is not a list of strings", x)
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("schemas: quick verdict: %v is not a list of strings", x)
		}
		out[i] = s
	}
	return out, nil
}

func count(x any) (int, error) {
	n, ok := x.(json.Number)
	if !ok || !plainInteger(string(n)) {
		return 0, fmt.Errorf("schemas: quick verdict: %v is not a count", x)
	}
	return strconv.Atoi(string(n))
}

// fewUniqueStrings decides uniqueItems for a few items that are all strings (a list of
// countries, say) without encoding them: strings are equal only when they are the same.
func fewUniqueStrings(arr []any) (verdict, bool) {
	for _, x := range arr {
		if _, ok := x.(string); !ok {
			return undecided, false
		}
	}
	for i := range arr {
		for j := i + 1; j < len(arr); j++ {
			if arr[i].(string) == arr[j].(string) {
				return invalidV, true
			}
		}
	}
	return validV, true
}

// plainHTTPURL reports a URL that net/url parses as absolute with a plain host, for certain:
// http or https, a host of letters, digits, dots and hyphens, and a path of unreserved
// characters and slashes. Anything else (a query, an escape, a port, a user) goes to
// url.Parse.
func plainHTTPURL(s string) bool {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "http://"); !ok {
			return false
		}
	}
	host, path, _ := strings.Cut(rest, "/")
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		switch c := host[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-':
		default:
			return false
		}
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == '~', c == '/':
		default:
			return false
		}
	}
	return true
}
