package projections

import (
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
