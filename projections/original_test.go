package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"compact/ledger"
)

// records returns which of ids have a record (review key i, counters key e) in the live views.
func records(t *testing.T, v *Views, ids ...string) (review, counters []string) {
	t.Helper()
	of := func(view string, c byte) []string {
		var out []string
		for k := range dumpView(t, v, view) {
			if len(k) < 2 || k[0] != subData || k[1] != c {
				continue
			}
			for _, id := range ids {
				if strings.Contains(k, id) {
					out = append(out, id)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	return of(ViewReview, 'i'), of(ViewCounters, 'e')
}

func doc(id, date string) ledger.Event {
	return mkEvent("UNOCT", id, "compact.document.shared", obj{"document": "d", "title": "t " + id,
		"shared_by": obj{"entity": "UNOCT"}, "date": date})
}

func titles(t *testing.T, v *Views, period string) []string {
	t.Helper()
	r, err := v.Review(context.Background(), period)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range r.Sections {
		for _, it := range s.Items {
			out = append(out, it.Title)
		}
	}
	slices.Sort(out)
	return out
}

// An event that only did what its data says leaves no record in the views (original.go): a
// rebuild writes a sixth fewer keys. A correction or retraction of it reads it again from the
// ledger to take back what it did, and only then records the event's new state.
func TestAnEventAsPublishedHasNoRecord(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	last := h.publish(
		act("UNODC", "a-1", "compact.meeting.held", "2025-05-10", nil),
		act("UNODC", "a-2", "compact.training.delivered", "2025-05-11", nil),
		act("UNODC", "a-3", "compact.meeting.held", "2025-05-12", nil),
		doc("d-1", "2025-05-10"), doc("d-2", "2025-05-11"), doc("d-3", "2025-05-12"),
	)
	h.wait(v, last)
	if rv, cs := records(t, v, "a-1", "a-2", "a-3", "d-1", "d-2", "d-3"); len(rv) != 0 || len(cs) != 0 {
		t.Fatalf("events as published left records: review %v, counters %v", rv, cs)
	}

	last = h.publish(
		correct("UNODC", "c-1", "a-1", obj{"title": "UNODC a-1, corrected", "start": "2025-05-10",
			"organizers": []obj{{"entity": "UNODC"}}, "format": "expert_meeting"}),
		retract("UNODC", "r-1", "a-2"),
		mkEvent("UNOCT", "c-2", TypeCorrected, obj{"corrects": "d-1", "reason": "fix",
			"data": obj{"document": "d", "title": "t d-1", "shared_by": obj{"entity": "UNOCT"}, "date": "2025-07-15"}}),
		mkEvent("UNOCT", "r-2", TypeRetracted, obj{"retracts": "d-2", "reason": "withdrawn"}),
	)
	h.wait(v, last)
	rv, cs := records(t, v, "a-1", "a-2", "a-3", "d-1", "d-2", "d-3")
	if !slices.Equal(rv, []string{"a-1", "a-2"}) || !slices.Equal(cs, []string{"d-1", "d-2"}) {
		t.Fatalf("records after the corrections: review %v, counters %v; want [a-1 a-2] and [d-1 d-2]", rv, cs)
	}
	want := []string{"UNODC a-1, corrected", "UNODC a-3"}
	if got := titles(t, v, "2025-05"); !slices.Equal(got, want) {
		t.Fatalf("review 2025-05 lists %q, want %q", got, want)
	}
	c, err := v.Counters(context.Background(), "2025-06-30")
	if err != nil {
		t.Fatal(err)
	}
	if c.DocumentsShared != 1 { // d-1 moved to July, d-2 retracted, d-3 as published
		t.Fatalf("documents shared as of 2025-06-30: %d, want 1", c.DocumentsShared)
	}
	for _, view := range ViewNames {
		if q, err := v.Quarantine(context.Background(), view, 0, 0); err != nil || len(q) != 0 {
			t.Fatalf("view %s quarantined %+v (%v)", view, q, err)
		}
	}
	// a second correction starts from the record the first one wrote
	last = h.publish(mkEvent("UNOCT", "c-3", TypeCorrected, obj{"corrects": "d-1", "reason": "fix",
		"data": obj{"document": "d", "title": "t d-1", "shared_by": obj{"entity": "UNOCT"}, "date": "2025-05-20"}}))
	h.wait(v, last)
	if c, err = v.Counters(context.Background(), "2025-06-30"); err != nil || c.DocumentsShared != 2 {
		t.Fatalf("documents shared as of 2025-06-30 after d-1 moved back: %+v (%v), want 2", c, err)
	}

	sameAsAFreshBuild(t, h, v, last)
}

// sameAsAFreshBuild checks that views built from the ledger alone, up to last, hold v's keys.
func sameAsAFreshBuild(t *testing.T, h *harness, v *Views, last uint64) {
	t.Helper()
	fresh := h.open(h.config(t.TempDir()))
	h.wait(fresh, last)
	sameViews(t, v, fresh)
}

// A curation that leaves an item unlisted records it (its data is no longer in a listing); one
// that lists it again takes the record away, and a later correction finds the listing in the
// section the curation chose.
func TestACurationRecordsAnItemOnlyWhileItIsUnlisted(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	last := h.publish(act("UNODC", "a-1", "compact.meeting.held", "2025-05-10", nil),
		curate("k-1", "2025-05", "UNODC", "a-1", "omit", ""))
	h.wait(v, last)
	if rv, _ := records(t, v, "a-1", "a-2", "a-3", "d-1", "d-2", "d-3"); !slices.Equal(rv, []string{"a-1"}) {
		t.Fatalf("an omitted item has records %v, want [a-1]", rv)
	}
	last = h.publish(curate("k-2", "2025-05", "UNODC", "a-1", "place", "whats_new"))
	h.wait(v, last)
	if rv, _ := records(t, v, "a-1", "a-2", "a-3", "d-1", "d-2", "d-3"); len(rv) != 0 {
		t.Fatalf("an item listed again keeps records %v", rv)
	}
	last = h.publish(correct("UNODC", "c-1", "a-1", obj{"title": "UNODC a-1, corrected", "start": "2025-05-10",
		"organizers": []obj{{"entity": "UNODC"}}, "format": "expert_meeting"}))
	h.wait(v, last)
	r, err := v.Review(context.Background(), "2025-05")
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range r.Sections {
		if (sec.ID == "whats_new") != (len(sec.Items) == 1) || len(sec.Items) == 1 && sec.Items[0].Title != "UNODC a-1, corrected" {
			t.Fatalf("section %s lists %+v; want only the corrected a-1, in whats_new where the curation placed it", sec.ID, sec.Items)
		}
	}
	sameAsAFreshBuild(t, h, v, last)
}

// A failed read of an original event from the ledger is the store's trouble: the batch is
// tried again and the correction applied once the ledger answers, never quarantined.
func TestAFailedReadOfAnOriginalIsRetried(t *testing.T) {
	h := newHarness(t)
	var failing atomic.Bool
	var failed atomic.Int64
	cfg := h.config(t.TempDir())
	cfg.testReadOriginal = func(seq uint64) error {
		if failing.Load() {
			failed.Add(1)
			return errors.New("injected: the ledger does not answer")
		}
		return nil
	}
	v := h.open(cfg)
	last := h.publish(act("UNODC", "a-1", "compact.meeting.held", "2025-05-10", nil), doc("d-1", "2025-05-10"))
	h.wait(v, last)
	failing.Store(true)
	last = h.publish(
		correct("UNODC", "c-1", "a-1", obj{"title": "UNODC a-1, corrected", "start": "2025-05-10",
			"organizers": []obj{{"entity": "UNODC"}}, "format": "expert_meeting"}),
		mkEvent("UNOCT", "r-1", TypeRetracted, obj{"retracts": "d-1", "reason": "withdrawn"}))
	deadline := time.Now().Add(30 * time.Second)
	for failed.Load() < 2 { // both views met the failing ledger
		if time.Now().After(deadline) {
			t.Fatalf("%d failed reads of an original: the views read none", failed.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	failing.Store(false)
	h.wait(v, last)
	for _, view := range ViewNames {
		if q, err := v.Quarantine(context.Background(), view, 0, 0); err != nil || len(q) != 0 {
			t.Fatalf("view %s quarantined %+v (%v) after a failed read of the ledger", view, q, err)
		}
	}
	if got := titles(t, v, "2025-05"); fmt.Sprint(got) != "[UNODC a-1, corrected]" {
		t.Fatalf("review 2025-05 lists %q", got)
	}
	if c, err := v.Counters(context.Background(), "2025-06-30"); err != nil || c.DocumentsShared != 0 {
		t.Fatalf("counters after the retraction: %+v (%v)", c, err)
	}
}
