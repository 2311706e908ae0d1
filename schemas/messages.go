package schemas

import (
	"cmp"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// overrides words the rules whose generic message would not help a publisher ("does not match
// ^[A-Z0-9-]{2,24}$", "value must be one of ABW, AFG, ... 249 codes"). Keys are keyword
// locations relative to baseURL: the schema location of the failing keyword plus the keyword.
// A test checks that every key still names a keyword of the embedded schemas.
var overrides = map[string]string{
	"defs.json#/$defs/country/enum":      "not an ISO 3166-1 alpha-3 code",
	"defs.json#/$defs/member_state/enum": "not a Member State (the ISO 3166-1 alpha-3 code of a UN Member State or observer State, e.g. MAR; a territory goes in countries)",
	"defs.json#/$defs/entity/pattern":    "not an entity acronym (2-24 of A-Z, 0-9, -)",
	"defs.json#/$defs/unit/pattern":      "not a unit id (1-64 of a-z, 0-9, -)",
	"defs.json#/$defs/date/pattern":      "not a date (YYYY-MM-DD)",
	"defs.json#/$defs/url/pattern":       urlWords,
	"defs.json#/$defs/url/format":        urlWords,
	"defs.json#/$defs/event_id/pattern":  "not an event id (1-128 of A-Z, a-z, 0-9, . _ : -)",
	"defs.json#/$defs/opaque_id/pattern": "not an opaque id (1-128 of A-Z, a-z, 0-9, . _ : -; never a name or an e-mail address)",
	"defs.json#/$defs/source/pattern":    "not an entity source (/entities/<ENTITY>)",
	"defs.json#/$defs/period/pattern":    "not a review period (YYYY-MM of a period's first month: 01, 03, 05, 07, 09 or 11)",

	"defs.json#/$defs/title/pattern":                 blankWords,
	"defs.json#/$defs/name/pattern":                  blankWords,
	"defs.json#/$defs/short_name/pattern":            blankWords,
	"defs.json#/$defs/text/pattern":                  blankWords,
	"defs.json#/$defs/region/pattern":                blankWords,
	"defs.json#/$defs/actor/properties/org/pattern":  blankWords,
	"defs.json#/$defs/link/properties/label/pattern": blankWords,

	"compact.meeting.held.json#/then/required":               "required when format is working_group_meeting",
	"compact.review.curated.json#/then/required":             "required when action is place",
	"compact.review.curated.json#/else/properties/section":   "only when action is place (an omitted item has no section): leave it out",
	"compact.structure.updated.json#/then/required":          "required when unit_kind is working_group",
	"compact.structure.updated.json#/else/properties/pillar": "only for a working group (unit_kind working_group)",
}

// urlWords is the rule of a link's url, in words.
const urlWords = "not an http(s) URL: write http:// or https://, a host, then an optional port, path, query or fragment, without spaces or user@"

// blankWords is the rule of a free-text value that must be there: not empty, not white space alone.
const blankWords = "must not be empty or white space only"

// actorForms is the rule of an actor, in words.
const actorForms = `must be exactly one of {"entity"}, {"state"} or {"org", "kind"}`

// summaries word the keywords that together state one rule about the object they sit in: their
// failures are reported as one verdict at the object, like a oneOf's, and dropped when a
// precise problem at or under it explains them. The actor's form is such a rule: an if/then/else
// on the key present, whose branches fail with "must have at most 1 field" or "required: kind"
// where the publisher needs to read what an actor is. Keys are keyword locations, as in
// overrides; a test checks that each names a keyword of the schemas.
var summaries = map[string]string{
	"defs.json#/$defs/actor/then/maxProperties":      actorForms,
	"defs.json#/$defs/actor/else/then/maxProperties": actorForms,
	"defs.json#/$defs/actor/else/else/required":      actorForms,
	"defs.json#/$defs/actor/else/else/maxProperties": actorForms,
}

// problem is a FieldError while it is being collected; summary marks the verdict of a oneOf or
// anyOf, which is dropped when a more precise problem at or under its field explains it.
type problem struct {
	FieldError
	summary bool
}

// describe turns the library's error tree into the publisher's list: leaves only, one per
// field and rule, in plain words.
func describe(verr *jsonschema.ValidationError, origin origins) []FieldError {
	var ps []problem
	collect(verr, origin, &ps)
	out := make([]FieldError, 0, len(ps))
	for _, p := range ps {
		if p.summary && explained(p, ps) {
			continue
		}
		out = append(out, p.FieldError)
	}
	return out
}

// explained reports whether a precise problem lies at or under the summary's field.
func explained(s problem, ps []problem) bool {
	for _, p := range ps {
		if !p.summary && (p.Field == s.Field || strings.HasPrefix(p.Field, s.Field+"/")) {
			return true
		}
	}
	return false
}

func collect(e *jsonschema.ValidationError, origin origins, ps *[]problem) {
	at := pointer(e.InstanceLocation)
	add := func(field, msg string) {
		*ps = append(*ps, problem{FieldError: FieldError{Field: field, Message: msg}})
	}
	// leaf reports one problem at the error's own field, worded by overrides if they know it.
	leaf := func(msg string) {
		if o, ok := overrides[keywordLocation(e, origin)]; ok {
			msg = o
		}
		add(at, msg)
	}
	if msg, ok := summaries[keywordLocation(e, origin)]; ok {
		*ps = append(*ps, problem{FieldError: FieldError{Field: at, Message: msg}, summary: true})
		return
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		// Wrappers: the causes say what is wrong.
		for _, c := range e.Causes {
			collect(c, origin, ps)
		}
	case *kind.OneOf, *kind.AnyOf:
		// The causes are the failures of each alternative, which would mostly be noise
		// ("required: entity; required: state; ..."): report one verdict at the field.
		msg := "does not match any of the allowed forms"
		if o, ok := k.(*kind.OneOf); ok && len(o.Subschemas) > 1 {
			msg = "matches more than one of the allowed forms"
		}
		if o, ok := overrides[keywordLocation(e, origin)]; ok {
			msg = o
		}
		*ps = append(*ps, problem{FieldError: FieldError{Field: at, Message: msg}, summary: true})
	case *kind.Required:
		msg := "required"
		if o, ok := overrides[keywordLocation(e, origin)]; ok {
			msg = o
		}
		for _, m := range k.Missing {
			add(child(at, m), msg)
		}
	case *kind.DependentRequired:
		for _, m := range k.Missing {
			add(child(at, m), "required with "+k.Prop)
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			add(child(at, p), "unknown field")
		}
	case *kind.Type:
		leaf("must be " + typeWords(k.Want))
	case *kind.Enum:
		leaf("must be one of " + joinValues(k.Want))
	case *kind.Const:
		leaf("must be " + fmt.Sprint(k.Want))
	case *kind.Format:
		leaf(formatWords(k.Want))
	case *kind.Pattern:
		leaf("does not match " + k.Want)
	case *kind.MinLength:
		if k.Want == 1 {
			leaf("must not be empty")
		} else {
			leaf(fmt.Sprintf("shorter than %d characters", k.Want))
		}
	case *kind.MaxLength:
		leaf(fmt.Sprintf("longer than %d characters", k.Want))
	case *kind.MinItems:
		leaf(fmt.Sprintf("must have at least %d %s", k.Want, plural(k.Want, "item")))
	case *kind.MaxItems:
		leaf(fmt.Sprintf("must have at most %d %s", k.Want, plural(k.Want, "item")))
	case *kind.MinProperties:
		leaf(fmt.Sprintf("must have at least %d %s", k.Want, plural(k.Want, "field")))
	case *kind.MaxProperties:
		leaf(fmt.Sprintf("must have at most %d %s", k.Want, plural(k.Want, "field")))
	case *kind.UniqueItems:
		add(child(at, fmt.Sprint(k.Duplicates[1])), fmt.Sprintf("repeats item %d", k.Duplicates[0]))
	case *kind.Minimum:
		leaf("must be at least " + ratString(k.Want))
	case *kind.Maximum:
		leaf("must be at most " + ratString(k.Want))
	case *kind.ExclusiveMinimum:
		leaf("must be more than " + ratString(k.Want))
	case *kind.ExclusiveMaximum:
		leaf("must be less than " + ratString(k.Want))
	case *kind.FalseSchema, *kind.Not:
		leaf("not allowed")
	case *kind.MultipleOf:
		leaf("must be a multiple of " + ratString(k.Want))
	default:
		// No keyword of the contract's schemas lands here; name the rule rather than guess.
		leaf("fails the rule " + strings.Join(e.ErrorKind.KeywordPath(), "/"))
	}
}

// keywordLocation is where the failing keyword sits in the contract files, relative to
// baseURL: "defs.json#/$defs/country/enum". It is the key of overrides.
func keywordLocation(e *jsonschema.ValidationError, origin origins) string {
	loc := strings.TrimPrefix(e.SchemaURL, baseURL)
	if kp := e.ErrorKind.KeywordPath(); len(kp) > 0 {
		loc += "/" + strings.Join(kp, "/")
	}
	return origin.resolve(loc)
}

// pointer is the JSON pointer (RFC 6901) of an instance location.
func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteString(child("", t))
	}
	return sb.String()
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func child(ptr, token string) string {
	return ptr + "/" + pointerEscaper.Replace(token)
}

func typeWords(want []string) string {
	words := make([]string, len(want))
	for i, w := range want {
		switch w {
		case "object", "array", "integer":
			words[i] = "an " + w
		case "boolean":
			words[i] = "true or false"
		case "null":
			words[i] = "null"
		default:
			words[i] = "a " + w
		}
	}
	return strings.Join(words, " or ")
}

func formatWords(format string) string {
	switch format {
	case "date":
		return "not a date (YYYY-MM-DD)"
	case "date-time":
		return "not a date and time (RFC 3339)"
	case "uri":
		return "not an absolute URI"
	default:
		return "not a valid " + format
	}
}

func joinValues(vals []any) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(6)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// tidy drops repeated problems (a date failing both its pattern and its format says the same
// thing twice) and sorts the deepest fields first, as a publisher fixes them.
func tidy(ps []FieldError) []FieldError {
	slices.SortStableFunc(ps, func(a, b FieldError) int {
		return cmp.Or(
			cmp.Compare(strings.Count(b.Field, "/"), strings.Count(a.Field, "/")),
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return slices.Compact(ps)
}
