package schemas

import (
	"reflect"
	"testing"
)

// An actor {"state": ...} is a Member State (DESIGN.md), and the counters count the distinct
// states among focal points' parties as "Member States": a territory (HKG, PRI, ATA) is a place
// an activity may take place in or serve (countries), never a Member State. The UN's 193 Member
// States and its two observer States are: ISO 3166-1's 249 codes less 54 territories.
func TestActorStateIsAMemberState(t *testing.T) {
	states := rawDocs(t)[defsFile]["$defs"].(map[string]any)["member_state"].(map[string]any)["enum"].([]any)
	codes := rawDocs(t)[defsFile]["$defs"].(map[string]any)["country"].(map[string]any)["enum"].([]any)
	if len(states) != 195 {
		t.Errorf("%d member states, want the UN's 193 and 2 observer States", len(states))
	}
	iso := map[any]bool{}
	for _, c := range codes {
		iso[c] = true
	}
	for _, s := range states {
		if !iso[s] {
			t.Errorf("member state %v is not an ISO 3166-1 alpha-3 code", s)
		}
	}
	notState := overrides["defs.json#/$defs/member_state/enum"]
	for code, ok := range map[string]bool{
		"MAR": true, "HUN": true, "TCD": true, "SSD": true, "PSE": true, "VAT": true, "KGZ": true, "CHN": true, "GBR": true,
		"HKG": false, "PRI": false, "ATA": false, "TWN": false, "ESH": false, "CUW": false, "GRL": false, "COK": false,
		"NIU": false, "XKX": false,
	} {
		var want []FieldError
		if !ok {
			want = []FieldError{{"/organizers/1/state", notState}}
		}
		data := meeting(`"start":"2025-06-05","organizers":[{"entity":"UNODC"},{"state":"` + code + `"}]`)
		if got := problems(t, "compact.meeting.held", data); !reflect.DeepEqual(got, want) {
			t.Errorf("state %s: got %v, want %v", code, got, want)
		}
		sameVerdict(t, "compact.meeting.held", data)
		fp := []byte(`{"focal_point":"fp-1","represents":{"state":"` + code + `"},"date":"2025-06-01"}`)
		if got := Default().Validate("compact.focal_point.registered", fp); (got == nil) != ok {
			t.Errorf("focal point of %s: %v", code, got)
		}
		sameVerdict(t, "compact.focal_point.registered", fp)
	}
	// Where an activity took place may be a territory.
	if got := problems(t, "compact.meeting.held", meeting(`"start":"2025-06-05","countries":["HKG","PRI"]`)); got != nil {
		t.Errorf("countries HKG, PRI: %v", got)
	}
}
