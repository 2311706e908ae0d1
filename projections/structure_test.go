package projections

import (
	"fmt"
	"testing"

	"compact/ledger"
)

func unitEvent(id, time string, d obj) ledger.Event {
	e := mkEvent("SECRETARIAT", id, typeStructure, d)
	e.Time = time
	return e
}

func TestStructureAsOf(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	last := h.publish(
		unitEvent("etcip-1", "2025-01-10T09:00:00Z", obj{"unit": "etcip", "unit_kind": "working_group", "name": "Emerging threats", "pillar": "II", "chair": "INTERPOL"}),
		unitEvent("pcve-1", "2025-03-01T09:00:00Z", obj{"unit": "pcve", "unit_kind": "working_group", "name": "Preventing violent extremism", "pillar": "I", "chair": "UNOCT", "vice_chairs": []string{"UNAOC"}}),
		unitEvent("gender-1", "2025-03-01T09:00:00Z", obj{"unit": "gender", "unit_kind": "working_group", "name": "Adopting a gender-sensitive approach", "pillar": "I", "chair": "UN-WOMEN"}),
		unitEvent("cc-1", "2025-01-01T09:00:00Z", obj{"unit": "cc", "unit_kind": "coordination_committee", "name": "Coordination Committee", "chair": "UNOCT"}),
		unitEvent("sec-1", "2025-01-01T09:00:00Z", obj{"unit": "secretariat", "unit_kind": "secretariat", "name": "PKMCB"}),
		// the publisher's own date counts: 15 May in its offset, 16 May in UTC
		unitEvent("etcip-2", "2025-05-15T23:30:00-05:00", obj{"unit": "etcip", "unit_kind": "working_group", "name": "Emerging threats", "pillar": "II", "chair": "UNODC"}),
		correct("SECRETARIAT", "pcve-fix", "pcve-1", obj{"unit": "pcve", "unit_kind": "working_group", "name": "Preventing violent extremism", "pillar": "I", "chair": "UNOCT", "vice_chairs": []string{"UNAOC", "UNDP", "UNESCO"}}),
	)
	h.wait(v, last)
	at := func(d string) *Structure {
		t.Helper()
		s, err := v.Structure(t.Context(), d)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := at("2024-12-31"); len(s.WorkingGroups) != 0 || s.CoordinationCommittee != nil || s.Secretariat != nil {
		t.Errorf("before any description: %+v", s)
	}
	s := at("2025-02-01")
	if len(s.WorkingGroups) != 1 || s.WorkingGroups[0].Chair != "INTERPOL" || s.CoordinationCommittee == nil || s.Secretariat == nil {
		t.Errorf("as of 2025-02-01: %+v", s)
	}
	s = at("2025-05-15")
	var order []string
	for _, u := range s.WorkingGroups {
		order = append(order, u.Pillar+" "+u.Unit+" "+u.Chair)
	}
	if want := "[I gender UN-WOMEN I pcve UNOCT II etcip UNODC]"; sprint(order) != want {
		t.Errorf("working groups by pillar then name as of 2025-05-15: %v, want %s", order, want)
	}
	if vc := s.WorkingGroups[1].ViceChairs; len(vc) != 3 {
		t.Errorf("corrected vice-chairs not shown: %v", vc)
	}
	if at("2025-05-14").WorkingGroups[2].Chair != "INTERPOL" {
		t.Error("the new chair shows before its date")
	}
	h.wait(v, h.publish(retract("SECRETARIAT", "etcip-2-r", "etcip-2")))
	if s := at("2025-06-30"); s.WorkingGroups[2].Chair != "INTERPOL" {
		t.Errorf("after retracting the new description the old one holds: %+v", s.WorkingGroups[2])
	}
}

func sprint(x []string) string {
	out := "["
	for i, s := range x {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out + "]"
}

// An entity's short name (compact.entity.joined's short_name) is how the structure's readers
// print it, from the join's date: the review's "Chair: UN Women", not UNWOMEN. A later join of
// the same entity says otherwise from its own date, a correction of the join replaces the name
// it gave and a retraction takes it back; a fresh build agrees.
func TestStructureShortNamesOfItsEntities(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	join := func(id, date string, extra obj) ledger.Event {
		d := obj{"entity": "UNWOMEN", "name": "United Nations Entity for Gender Equality and the Empowerment of Women", "status": "member", "date": date}
		for k, x := range extra {
			d[k] = x
		}
		return mkEvent("SECRETARIAT", id, "compact.entity.joined", d)
	}
	last := h.publish(
		unitEvent("gender-1", "2024-01-24T09:00:00Z", obj{"unit": "gender", "unit_kind": "working_group", "name": "Gender", "pillar": "I", "chair": "UNWOMEN", "vice_chairs": []string{"CTED"}}),
		join("joined-1", "2024-03-01", obj{"short_name": "UN Women"}),
		join("joined-2", "2025-01-01", nil),
	)
	h.wait(v, last)
	names := func(d string) map[string]string {
		t.Helper()
		s, err := v.Structure(t.Context(), d)
		if err != nil {
			t.Fatal(err)
		}
		return s.ShortNames
	}
	for _, c := range []struct {
		at   string
		want string
	}{{"2024-02-29", "map[]"}, {"2024-03-01", "map[UNWOMEN:UN Women]"}, {"2025-01-01", "map[]"}} {
		if got := fmt.Sprint(names(c.at)); got != c.want {
			t.Errorf("short names as of %s: %s, want %s", c.at, got, c.want)
		}
	}
	last = h.publish(correct("SECRETARIAT", "joined-1-fix", "joined-1", obj{"entity": "UNWOMEN",
		"name": "United Nations Entity for Gender Equality and the Empowerment of Women", "short_name": "UN-Women",
		"status": "member", "date": "2024-02-01"}))
	h.wait(v, last)
	if got := fmt.Sprint(names("2024-02-01")); got != "map[UNWOMEN:UN-Women]" {
		t.Errorf("after the correction, as of 2024-02-01: %s", got)
	}
	last = h.publish(retract("SECRETARIAT", "joined-1-r", "joined-1"))
	h.wait(v, last)
	if got := fmt.Sprint(names("2024-06-01")); got != "map[]" {
		t.Errorf("after the retraction: %s", got)
	}
	fresh := h.open(h.config(t.TempDir()))
	h.wait(fresh, last)
	sameViews(t, v, fresh)
}
