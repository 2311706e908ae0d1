package schemas

import (
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// contractTypes is DESIGN.md's list of event types, written out so that a schema file added or
// lost by accident fails here rather than silently changing the contract.
var contractTypes = []string{
	"compact.meeting.held", "compact.training.delivered", "compact.visit.conducted",
	"compact.agreement.signed", "compact.assistance.provided", "compact.publication.released",
	"compact.statement.made", "compact.announcement.made",
	"compact.entity.joined", "compact.entity.left", "compact.focal_point.registered",
	"compact.focal_point.removed", "compact.document.shared", "compact.platform.visits.counted",
	"compact.recommendations.issued", "compact.structure.updated", "compact.counter.opened",
	"compact.event.corrected", "compact.event.retracted", "compact.review.curated",
}

func TestTypes(t *testing.T) {
	want := slices.Sorted(slices.Values(contractTypes))
	got := Types()
	if !slices.Equal(got, want) {
		t.Fatalf("Types() = %v\nwant %v", got, want)
	}
	got[0] = "mutated"
	if Types()[0] == "mutated" {
		t.Error("Types returns the package's own slice; a caller can change the contract")
	}
	for _, typ := range want {
		if !Known(typ) {
			t.Errorf("Known(%q) = false", typ)
		}
	}
	for _, typ := range []string{"", "meeting.held", "compact.meeting", "compact.meeting.held.json", "defs", "compact.Meeting.held"} {
		if Known(typ) {
			t.Errorf("Known(%q) = true", typ)
		}
	}
}

func rawDocs(t *testing.T) map[string]map[string]any {
	t.Helper()
	names, err := fs.Glob(FS, "*.json")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	for _, name := range names {
		b, err := FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs[name] = doc
	}
	return docs
}

func TestEverySchemaCompiles(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.schemas) != len(contractTypes) {
		t.Fatalf("compiled %d schemas, want %d", len(v.schemas), len(contractTypes))
	}
	for name, doc := range rawDocs(t) {
		if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema = %v, want draft 2020-12", name, doc["$schema"])
		}
		if doc["$id"] != baseURL+name {
			t.Errorf("%s: $id = %v, want %s", name, doc["$id"], baseURL+name)
		}
		if name != defsFile && doc["title"] != strings.TrimSuffix(name, ".json") {
			t.Errorf("%s: title = %v, want the type", name, doc["title"])
		}
	}
}

// walk calls fn for every schema object in doc with its JSON pointer.
func walk(ptr string, node any, fn func(ptr string, obj map[string]any)) {
	switch n := node.(type) {
	case map[string]any:
		fn(ptr, n)
		for k, v := range n {
			if k == "enum" || k == "const" || k == "required" {
				continue
			}
			walk(ptr+"/"+k, v, fn)
		}
	case []any:
		for i, v := range n {
			walk(ptr+"/"+jsonIndex(i), v, fn)
		}
	}
}

func jsonIndex(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// Every object with declared fields is closed, so a misspelt field is reported, never ignored.
func TestObjectsAreClosed(t *testing.T) {
	for name, doc := range rawDocs(t) {
		walk("", doc, func(ptr string, obj map[string]any) {
			if obj["type"] == "object" && obj["properties"] != nil && obj["additionalProperties"] != false {
				t.Errorf("%s#%s: object without \"additionalProperties\": false", name, ptr)
			}
		})
	}
}

// Every entry of overrides must still name a keyword of the schemas: a key left behind by a
// refactor would silently bring back the generic message.
func TestOverridesNameExistingKeywords(t *testing.T) {
	docs := rawDocs(t)
	for key := range overrides {
		file, ptr, ok := strings.Cut(key, "#")
		if !ok {
			t.Errorf("override %q: no #", key)
			continue
		}
		doc, ok := docs[file]
		if !ok {
			t.Errorf("override %q: no schema file %s", key, file)
			continue
		}
		var node any = doc
		for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
			m, ok := node.(map[string]any)
			if !ok {
				node = nil
				break
			}
			node = m[tok]
		}
		if node == nil {
			t.Errorf("override %q names no keyword of the schemas", key)
		}
	}
}

// A oneOf or anyOf is reported as one verdict at its field; each must have words a publisher
// can act on.
func TestEveryAlternativeHasAMessage(t *testing.T) {
	for name, doc := range rawDocs(t) {
		walk("", doc, func(ptr string, obj map[string]any) {
			for _, kw := range []string{"oneOf", "anyOf"} {
				if _, ok := obj[kw]; ok {
					if _, ok := overrides[name+"#"+ptr+"/"+kw]; !ok {
						t.Errorf("%s#%s/%s has no entry in overrides", name, ptr, kw)
					}
				}
			}
		})
	}
}

// The country list is ISO 3166-1's current alpha-3 codes: spot-check members and non-members.
func TestCountryCodes(t *testing.T) {
	v := Default()
	for code, ok := range map[string]bool{
		"MAR": true, "HUN": true, "TCD": true, "SSD": true, "PSE": true, "CUW": true, "BES": true,
		"XKX": false, "ANT": false, "SCG": false, "YUG": false, "mar": false, "MA": false, "EU": false,
	} {
		err := v.Validate("compact.recommendations.issued", []byte(`{"country":"`+code+`","count":1,"date":"2025-06-01"}`))
		if (err == nil) != ok {
			t.Errorf("country %q: valid=%v, want %v (%v)", code, err == nil, ok, err)
		}
	}
	country := rawDocs(t)[defsFile]["$defs"].(map[string]any)["country"].(map[string]any)
	if n := len(country["enum"].([]any)); n != 249 {
		t.Errorf("%d country codes, want the 249 of ISO 3166-1", n)
	}
}
