package projections

import (
	"fmt"
	"testing"
	"time"

	"compact/ledger"
)

// asOfDates are the dates the counters are checked at: before everything, the opening
// balances' day, the edges of every period of 2025, and long after.
func asOfDates() []string {
	ds := []string{"2020-01-01", "2024-12-30", "2024-12-31"}
	for m := 1; m <= 12; m++ {
		first := time.Date(2025, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
		ds = append(ds, first.Format(time.DateOnly), first.AddDate(0, 0, 14).Format(time.DateOnly),
			first.AddDate(0, 1, -1).Format(time.DateOnly))
	}
	return append(ds, "2030-06-30")
}

func checkCounters(t *testing.T, v *Views, history []ledger.Event) {
	t.Helper()
	for _, d := range asOfDates() {
		got, err := v.Counters(t.Context(), d)
		if err != nil {
			t.Fatal(err)
		}
		want := naiveCounters(history, d)
		want.Seq = got.Seq
		if *got != want {
			t.Errorf("counters as of %s:\n got %+v\nwant %+v", d, *got, want)
		}
	}
}

// TestCountersMatchReference checks the counters of random histories — back-dated events,
// re-registered and removed focal points, corrections, retractions, duplicates — against a
// brute-force reading of the contract, at dates before, inside and after every period.
func TestCountersMatchReference(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			h := newHarness(t)
			g := newHistGen(seed)
			history := g.take(500)
			last := h.publish(history...)
			v := h.open(h.config(t.TempDir()))
			h.wait(v, last)
			checkCounters(t, v, history)
		})
	}
}

// TestCountersDistinct walks the distinct counters through the cases that are easy to get wrong.
func TestCountersDistinct(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	var history []ledger.Event
	step := func(name string, events ...ledger.Event) {
		t.Helper()
		history = append(history, events...)
		h.wait(v, h.publish(events...))
		for _, d := range asOfDates() {
			got, err := v.Counters(t.Context(), d)
			if err != nil {
				t.Fatal(err)
			}
			want := naiveCounters(history, d)
			want.Seq = got.Seq
			if *got != want {
				t.Fatalf("after %s, as of %s:\n got %+v\nwant %+v", name, d, *got, want)
			}
		}
	}
	fp := func(id, typ, fpid, date string, rep obj) ledger.Event {
		return mkEvent("UNOCT", id, typ, obj{"focal_point": fpid, "represents": rep, "date": date})
	}
	mar := obj{"state": "MAR"}
	osce := obj{"org": "OSCE", "kind": "regional"}
	reg, rem := "compact.focal_point.registered", "compact.focal_point.removed"

	step("two focal points of one state", fp("a", reg, "fp1", "2025-03-01", mar), fp("b", reg, "fp2", "2025-05-10", mar))
	got, _ := v.Counters(t.Context(), "2025-06-30")
	if got.MemberStates != 1 || got.FocalPoints != 2 {
		t.Fatalf("two focal points of Morocco: %+v", got)
	}
	step("one of them removed", fp("c", rem, "fp1", "2025-06-20", mar))
	step("the other removed, back-dated before the first removal", fp("d", rem, "fp2", "2025-06-10", mar))
	got, _ = v.Counters(t.Context(), "2025-06-30")
	if got.MemberStates != 0 || got.FocalPoints != 0 {
		t.Fatalf("no active focal point of Morocco after both removals: %+v", got)
	}
	step("a removal dated before its registration leaves it registered", fp("e", rem, "fp3", "2025-01-01", osce), fp("f", reg, "fp3", "2025-02-01", osce))
	step("registered twice counts once", fp("g", reg, "fp4", "2025-02-01", osce), fp("h", reg, "fp4", "2025-03-01", osce))
	step("a correction moves a focal point to another state", correct("UNOCT", "i", "a", obj{"focal_point": "fp1", "represents": obj{"state": "FRA"}, "date": "2025-03-01"}))
	step("a retraction of a registration", retract("UNOCT", "j", "g"))
	step("a duplicate registration event", fp("h", reg, "fp4", "2025-03-01", osce))
	step("an entity focal point counts as a focal point only", fp("k", reg, "fp5", "2025-01-05", obj{"entity": "UNODC"}))
	step("members, observers, leaving",
		mkEvent("SECRETARIAT", "m1", "compact.entity.joined", obj{"entity": "UNODC", "name": "x", "status": "member", "date": "2025-01-10"}),
		mkEvent("SECRETARIAT", "m2", "compact.entity.joined", obj{"entity": "OBS", "name": "x", "status": "observer", "date": "2025-01-10"}),
		mkEvent("SECRETARIAT", "m3", "compact.entity.left", obj{"entity": "UNODC", "name": "x", "status": "member", "date": "2025-05-31"}),
		mkEvent("SECRETARIAT", "m4", "compact.entity.joined", obj{"entity": "CTED", "name": "x", "status": "member", "date": "2025-05-31"}))
	got, _ = v.Counters(t.Context(), "2025-05-30")
	if got.Entities != 1 {
		t.Fatalf("one member (UNODC) on 2025-05-30, the observer does not count: %+v", got)
	}
	step("opening balances", mkEvent("SECRETARIAT", "o1", "compact.counter.opened", obj{"counter": "entities", "value": 44, "date": "2024-12-31"}),
		mkEvent("SECRETARIAT", "o2", "compact.counter.opened", obj{"counter": "documents_shared", "value": 3600, "date": "2024-12-31"}))
	before, _ := v.Counters(t.Context(), "2024-12-30")
	after, _ := v.Counters(t.Context(), "2024-12-31")
	if before.Entities != 0 || after.Entities != 44 || after.DocumentsShared != 3600 {
		t.Fatalf("opening balances count from their date: before %+v after %+v", before, after)
	}
	step("assessments by CTED only",
		act("CTED", "v1", "compact.visit.conducted", "2025-06-16", obj{"purpose": "assessment", "end": "2025-06-18"}),
		act("CTED", "v2", "compact.visit.conducted", "2025-06-19", obj{"purpose": "follow_up_assessment"}),
		act("CTED", "v3", "compact.visit.conducted", "2025-06-20", obj{"purpose": "country_visit"}),
		act("UNODC", "v4", "compact.visit.conducted", "2025-06-20", obj{"purpose": "assessment"}))
	step("a correction makes a visit an assessment", correct("CTED", "v5", "v3", dataOf(act("CTED", "v3", "compact.visit.conducted", "2025-07-02", obj{"purpose": "assessment"}))))
	got, _ = v.Counters(t.Context(), "2025-06-30")
	if got.CountryAssessments != 2 {
		t.Fatalf("two CTED assessments by 2025-06-30: %+v", got)
	}
}

// TestCountersQueryIsBounded shows that an as-of query reads a fixed number of keys, however
// many events the ledger holds.
func TestCountersQueryIsBounded(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	reads := func() int {
		n := 0
		err := v.read(func(s *snapshot) error {
			r, _, _, err := s.data(ViewCounters)
			if err != nil {
				return err
			}
			_, err = countersAt(r, "2025-06-30")
			n = r.reads
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	g := newHistGen(7)
	h.wait(v, h.publish(g.take(50)...))
	small := reads()
	h.wait(v, h.publish(g.take(1000)...))
	if big := reads(); big > fenwickBits+1 || small > fenwickBits+1 {
		t.Fatalf("an as-of query read %d keys with 50 events and %d with 1050; the bound is %d", small, big, fenwickBits+1)
	}
}
