package projections

import (
	"reflect"
	"testing"
)

// TestReviewCache: a review answered from the cache equals the review read from the store, after
// changes to another period, to the counters only, to the structure only and to the period
// itself; and a caller changing the Review it got does not change the next answer.
func TestReviewCache(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	g := newHistGen(21)
	h.wait(v, h.publish(g.take(300)...))

	uncached := func() *Review {
		t.Helper()
		// Views on the same store with an empty cache read every part from the store
		return review(t, &Views{cfg: v.cfg, db: v.db, log: v.log, projs: v.projs}, "2025-05")
	}
	check := func(step string) *Review {
		t.Helper()
		got := review(t, v, "2025-05")
		if want := uncached(); !reflect.DeepEqual(got, want) {
			t.Fatalf("after %s the cached review differs from the stored one:\n%+v\nvs\n%+v", step, got, want)
		}
		return got
	}
	first := check("the history")
	before := first.Version
	// callers may change what they got
	first.Sections[0].Items = append(first.Sections[0].Items, Item{ID: "scribble"})
	for i := range first.Sections {
		for j := range first.Sections[i].Items {
			first.Sections[i].Items[j].Title = "changed"
			if len(first.Sections[i].Items[j].Organizers) > 0 {
				first.Sections[i].Items[j].Organizers[0].Entity = "changed"
			}
		}
	}
	first.History[0].Entities = -1
	if first.Structure != nil && len(first.Structure.WorkingGroups) > 0 {
		first.Structure.WorkingGroups[0].Name = "changed"
	}
	again := check("a caller changed its copy")

	h.wait(v, h.publish(act("UNODC", "other-period", "compact.training.delivered", "2025-09-10", nil)))
	if r := check("an item in another period"); r.Version != before {
		t.Errorf("the version of 2025-05 moved from %d to %d with an item of 2025-09", before, r.Version)
	}
	h.wait(v, h.publish(mkEvent("UNOCT", "doc-x", "compact.document.shared",
		obj{"document": "d", "title": "t", "shared_by": obj{"entity": "UNOCT"}, "date": "2025-05-11"})))
	if r := check("a document shared"); r.Counters.DocumentsShared != again.Counters.DocumentsShared+1 {
		t.Errorf("documents shared %d, want %d", r.Counters.DocumentsShared, again.Counters.DocumentsShared+1)
	}
	h.wait(v, h.publish(mkEvent("SECRETARIAT", "unit-x", typeStructure,
		obj{"unit": "newwg", "unit_kind": "working_group", "name": "New group", "pillar": "II"})))
	check("a unit described")
	h.wait(v, h.publish(act("UNODC", "this-period", "compact.training.delivered", "2025-05-12", nil)))
	if r := check("an item in the period"); r.Version <= before {
		t.Errorf("the version of 2025-05 did not move (%d) with an item of 2025-05", r.Version)
	}
}
