package schemas

import (
	"bytes"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Every type has a quick verdict, and it decides every valid example: otherwise the ingest
// path quietly pays the library's price for what the contract calls ordinary.
func TestQuickVerdictCovers(t *testing.T) {
	docs, err := loadDocs()
	if err != nil {
		t.Fatal(err)
	}
	flatten(docs)
	setEnums(docs)
	for _, typ := range Types() {
		if _, err := compileQuick(docs, typ+".json"); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	exs, err := Examples()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range exs {
		env := decodeEnvelope(t, ex)
		q := Default().quick[env.Type]
		if q == nil {
			continue // reported above
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(env.Data))
		if err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
		got := q.verdict(toObjects(doc))
		if ex.Valid && got != validV {
			t.Errorf("%s: a valid example is not decided quickly (verdict %d)", ex.Name, got)
		}
		if got == validV {
			if err := reference().schemas[env.Type].Validate(doc); err != nil {
				t.Errorf("%s: judged valid quickly, but the library says %v", ex.Name, err)
			}
		}
	}
}
