package schemas

import (
	"reflect"
	"testing"
)

// A value the contract requires is not there when it is white space alone: a title of " " is
// an empty line in the review, a quote of "\n" quotes nothing. Every free-text field that must
// not be empty refuses white space alone, with the same words as the empty string.
func TestBlankStrings(t *testing.T) {
	const statement = `"title":"t","start":"2025-06-18","organizers":[{"entity":"OSAPG"}],"speaker":"s","role":"r","quote":"q"`
	for _, c := range []struct {
		typ, data, field string
	}{
		{"compact.meeting.held", string(meeting(`"start":"2025-06-05","title":" "`)), "/title"},
		{"compact.meeting.held", string(meeting(`"start":"2025-06-05","title":""`)), "/title"},
		{"compact.meeting.held", string(meeting(`"start":"2025-06-05","title":"\t\r\n"`)), "/title"},
		{"compact.meeting.held", string(meeting(`"start":"2025-06-05","region":"  "`)), "/region"},
		{"compact.meeting.held", string(meeting(`"start":"2025-06-05","partners":[{"org":" ","kind":"academia"}]`)), "/partners/0/org"},
		{"compact.meeting.held", string(meeting(`"start":"2025-06-05","links":[{"url":"https://a.example","label":" "}]`)), "/links/0/label"},
		{"compact.statement.made", `{` + statement + `,"speaker":" "}`, "/speaker"},
		{"compact.statement.made", `{` + statement + `,"quote":"\n"}`, "/quote"},
		{"compact.statement.made", `{` + statement + `,"occasion":"\f"}`, "/occasion"},
		{"compact.assistance.provided", `{"title":"t","start":"2025-05-01","organizers":[{"entity":"UNODC"}],"areas":[" "],"countries":["NGA"]}`, "/areas/0"},
		{"compact.entity.joined", `{"entity":"UNU","name":" ","status":"member","date":"2025-02-01"}`, "/name"},
		{"compact.entity.joined", `{"entity":"UNU","name":"U","short_name":"\t","status":"member","date":"2025-02-01"}`, "/short_name"},
		{"compact.event.retracted", `{"retracts":"x","reason":"   "}`, "/reason"},
		{"compact.structure.updated", `{"unit":"secretariat","unit_kind":"secretariat","name":"S","description":" "}`, "/description"},
		// White space beyond ASCII's is white space too, as JSON Schema's patterns (ECMA-262)
		// and the publishers' own validators read \s: a no-break space is no title.
		{"compact.meeting.held", string(meeting(`"start":"2025-06-05","title":"\u00a0"`)), "/title"},
		{"compact.meeting.held", string(meeting(`"start":"2025-06-05","title":"\u2003\u3000\u202f"`)), "/title"},
		{"compact.meeting.held", string(meeting(`"start":"2025-06-05","region":"\u000b"`)), "/region"},
		{"compact.statement.made", `{` + statement + `,"quote":"\ufeff\u2028"}`, "/quote"},
		{"compact.entity.joined", `{"entity":"UNU","name":"\u0085\u1680","status":"member","date":"2025-02-01"}`, "/name"},
	} {
		want := []FieldError{{c.field, blankWords}}
		if got := problems(t, c.typ, []byte(c.data)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s: got %v, want %v", c.typ, c.data, got, want)
		}
		sameVerdict(t, c.typ, []byte(c.data))
	}
	// Text around white space, or a character \s does not name, is a value.
	for _, data := range [][]byte{
		meeting(`"start":"2025-06-05","title":" x "`),
		meeting(`"start":"2025-06-05","region":"\tCentral Asia"`),
		meeting(`"start":"2025-06-05","title":"\u00a0x\u00a0"`),
	} {
		if got := problems(t, "compact.meeting.held", data); got != nil {
			t.Errorf("%s: got %v, want valid", data, got)
		}
		sameVerdict(t, "compact.meeting.held", data)
	}
}
