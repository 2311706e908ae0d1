package schemas

import (
	"reflect"
	"testing"
)

// A curation that omits an item places it nowhere: a section beside "omit" contradicts the
// action (did the Secretariat mean to place it?), so it is refused at the section, as a pillar
// is on a unit that is not a working group.
func TestCurationSection(t *testing.T) {
	item := `"period":"2025-05","item":{"source":"/entities/UNODC","id":"x"}`
	for _, c := range []struct {
		data string
		want []FieldError
	}{
		{`{` + item + `,"action":"place","section":"whats_new"}`, nil},
		{`{` + item + `,"action":"omit"}`, nil},
		{`{` + item + `,"action":"omit","section":"whats_new"}`, []FieldError{{"/section", overrides["compact.review.curated.json#/else/properties/section"]}}},
		{`{` + item + `,"action":"place"}`, []FieldError{{"/section", "required when action is place"}}},
	} {
		if got := problems(t, "compact.review.curated", []byte(c.data)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.data, got, c.want)
		}
		sameVerdict(t, "compact.review.curated", []byte(c.data))
	}
}
