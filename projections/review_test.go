package projections

import (
	"compact/ledger"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// where finds an item in a review: its section id and the item, or "" when it is not listed.
func where(r *Review, source, id string) (string, *Item) {
	for _, s := range r.Sections {
		for i := range s.Items {
			if s.Items[i].Source == "/entities/"+source && s.Items[i].ID == id {
				return s.ID, &s.Items[i]
			}
		}
	}
	return "", nil
}

func count(r *Review, source, id string) int {
	n := 0
	for _, s := range r.Sections {
		for _, it := range s.Items {
			if it.Source == "/entities/"+source && it.ID == id {
				n++
			}
		}
	}
	return n
}

func review(t *testing.T, v *Views, period string) *Review {
	t.Helper()
	r, err := v.Review(t.Context(), period)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReviewPlacementRules(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	civil := []obj{{"org": "IIJ", "kind": "civil_society"}}
	cases := []struct {
		id, typ string
		extra   obj
		section string
	}{
		{"statement", "compact.statement.made", obj{"partners": civil}, "leadership.key_issues"}, // first match wins
		{"wg", "compact.meeting.held", obj{"format": "working_group_meeting", "working_group": "etcip"}, "guidance.working_groups"},
		{"pub", "compact.publication.released", nil, "guidance.publications"},
		{"ann", "compact.announcement.made", nil, "whats_new"},
		{"visit", "compact.visit.conducted", obj{"partners": civil}, "member_states"},
		{"mou", "compact.agreement.signed", nil, "member_states"},
		{"ta", "compact.assistance.provided", nil, "member_states"},
		{"hle", "compact.meeting.held", obj{"format": "high_level_event"}, "leadership.high_level_events"},
		{"conf", "compact.meeting.held", obj{"format": "conference"}, "leadership.high_level_events"},
		{"retreat", "compact.meeting.held", obj{"format": "retreat"}, "leadership.high_level_events"},
		{"session", "compact.meeting.held", obj{"format": "commission_session"}, "leadership.high_level_events"},
		{"cso-partner", "compact.training.delivered", obj{"partners": civil}, "joint.civil_society"},
		{"academia-org", "compact.meeting.held", obj{"organizers": []obj{{"entity": "CTED"}, {"org": "GCSP", "kind": "academia"}}}, "joint.civil_society"},
		{"private", "compact.training.delivered", obj{"partners": []obj{{"org": "Meta", "kind": "private_sector"}}, "organizers": []obj{{"entity": "CTED"}, {"entity": "UNODC"}}}, "joint.civil_society"},
		{"multi", "compact.training.delivered", obj{"organizers": []obj{{"entity": "UNOCT"}, {"entity": "UNODC"}}}, "joint.multi_agency"},
		{"multi-state", "compact.meeting.held", obj{"organizers": []obj{{"entity": "UNOCT"}, {"state": "MAR"}}}, "joint.regional_focus"},
		{"regional-org", "compact.meeting.held", obj{"partners": []obj{{"org": "OSCE", "kind": "regional"}}}, "joint.regional_focus"},
		{"single", "compact.training.delivered", nil, "joint.regional_focus"},
	}
	var events []any
	for i, c := range cases {
		events = append(events, act("UNODC", c.id, c.typ, fmt.Sprintf("2025-05-%02d", i+1), c.extra))
	}
	hinted := act("UNODC", "hinted", "compact.training.delivered", "2025-05-30", obj{"section": "whats_new"})
	last := h.publish(append(toEvents(events), hinted)...)
	h.wait(v, last)
	r := review(t, v, "2025-05")
	for _, c := range cases {
		sec, it := where(r, "UNODC", c.id)
		if sec != c.section || it.Placement != "rule" {
			t.Errorf("%s (%s %v) is in %q by %q, want %q by rule", c.id, c.typ, c.extra, sec, placement(it), c.section)
		}
	}
	if sec, it := where(r, "UNODC", "hinted"); sec != "whats_new" || it.Placement != "hint" {
		t.Errorf("a section hint wins over the rules: in %q by %q", sec, placement(it))
	}
	// the sections are all there, in the seed's order
	var ids []string
	for _, s := range r.Sections {
		ids = append(ids, s.ID)
	}
	want := []string{"leadership.high_level_events", "leadership.key_issues", "member_states", "guidance.working_groups",
		"guidance.publications", "whats_new", "joint.multi_agency", "joint.regional_focus", "joint.civil_society"}
	if !slices.Equal(ids, want) {
		t.Errorf("sections %v, want %v", ids, want)
	}
}

func placement(it *Item) string {
	if it == nil {
		return "(not listed)"
	}
	return it.Placement
}

func toEvents(xs []any) (out []ledgerEvent) {
	for _, x := range xs {
		out = append(out, x.(ledgerEvent))
	}
	return out
}

func TestReviewLifecycle(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	step := func(events ...ledgerEvent) *Review {
		t.Helper()
		h.wait(v, h.publish(events...))
		return review(t, v, "2025-05")
	}
	r := step(
		act("UNODC", "a", "compact.training.delivered", "2025-05-10", nil),
		act("UNODC", "b", "compact.training.delivered", "2025-05-11", nil),
		act("UNODC", "d", "compact.training.delivered", "2025-06-20", nil),
		act("UNODC", "e", "compact.training.delivered", "2025-05-12", nil),
	)
	v0 := r.Version
	if sec, _ := where(r, "UNODC", "a"); sec != "joint.regional_focus" {
		t.Fatalf("a starts in %q", sec)
	}

	r = step(curate("c1", "2025-05", "UNODC", "a", "place", "joint.multi_agency"))
	if sec, it := where(r, "UNODC", "a"); sec != "joint.multi_agency" || it.Placement != "curated" {
		t.Errorf("curation place: a in %q by %q", sec, placement(it))
	}
	if r.Version <= v0 {
		t.Errorf("version %d did not increase from %d", r.Version, v0)
	}

	r = step(curate("c2", "2025-05", "UNODC", "b", "omit", ""))
	if sec, _ := where(r, "UNODC", "b"); sec != "" {
		t.Errorf("curation omit: b still in %q", sec)
	}
	r = step(retract("SECRETARIAT", "c2-r", "c2"))
	if sec, it := where(r, "UNODC", "b"); sec != "joint.regional_focus" || it.Placement != "rule" {
		t.Errorf("retracted omit: b in %q by %q, want back by rule", sec, placement(it))
	}

	step(curate("c3", "2025-05", "UNODC", "late", "place", "whats_new"))
	r = step(act("UNODC", "late", "compact.training.delivered", "2025-05-20", nil))
	if sec, it := where(r, "UNODC", "late"); sec != "whats_new" || it.Placement != "curated" {
		t.Errorf("a curation that came before its item: in %q by %q", sec, placement(it))
	}

	r = step(curate("c4", "2025-03", "UNODC", "e", "place", "whats_new"))
	if sec, _ := where(r, "UNODC", "e"); sec != "joint.regional_focus" {
		t.Errorf("a curation for another period does not apply: e in %q", sec)
	}

	r = step(correct("SECRETARIAT", "c1-fix", "c1", obj{"period": "2025-05", "item": obj{"source": "/entities/UNODC", "id": "a"}, "action": "place", "section": "member_states"}))
	if sec, _ := where(r, "UNODC", "a"); sec != "member_states" {
		t.Errorf("corrected curation: a in %q, want member_states", sec)
	}

	fixed := dataOf(act("UNODC", "a", "compact.training.delivered", "2025-05-09", nil))
	fixed["title"] = "Corrected title"
	fixed["end"] = "2025-05-10"
	r = step(correct("UNODC", "a-fix", "a", fixed))
	if sec, it := where(r, "UNODC", "a"); sec != "member_states" || it.Title != "Corrected title" || it.Dates != "9-10 May" || it.CorrectedSeq == 0 {
		t.Errorf("corrected item: in %q, %+v", sec, it)
	}

	moved := dataOf(act("UNODC", "d", "compact.training.delivered", "2025-07-02", nil))
	r = step(correct("UNODC", "d-fix", "d", moved))
	if sec, _ := where(r, "UNODC", "d"); sec != "" {
		t.Errorf("a correction moved d to July but it is still in May-June, in %q", sec)
	}
	if sec, _ := where(review(t, v, "2025-07"), "UNODC", "d"); sec != "joint.regional_focus" {
		t.Errorf("d not in 2025-07 after its correction: %q", sec)
	}

	r = step(retract("UNODC", "e-r", "e"))
	if sec, _ := where(r, "UNODC", "e"); sec != "" {
		t.Errorf("retracted e still in %q", sec)
	}
	r = step(correct("UNODC", "e-fix", "e", dataOf(act("UNODC", "e", "compact.training.delivered", "2025-05-12", nil))))
	if sec, _ := where(r, "UNODC", "e"); sec != "" {
		t.Errorf("a correction of a retracted event brought e back into %q", sec)
	}
	q, err := v.Quarantine(t.Context(), ViewReview, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].ID != "e-fix" || !strings.Contains(q[0].Error, "retracted") {
		t.Errorf("quarantine after correcting a retracted event: %+v", q)
	}

	dup := act("UNODC", "f", "compact.training.delivered", "2025-05-25", nil)
	step(dup)
	r = step(dup)
	if n := count(r, "UNODC", "f"); n != 1 {
		t.Errorf("an event published twice is listed %d times", n)
	}
	// a duplicate with other content is still the same source+id: the first wins
	changed := act("UNODC", "f", "compact.training.delivered", "2025-05-26", obj{"title": "Other"})
	r = step(changed)
	if _, it := where(r, "UNODC", "f"); it == nil || it.Title == "Other" || count(r, "UNODC", "f") != 1 {
		t.Errorf("a duplicate id with other content changed the item: %+v", it)
	}
}

// TestReviewCurationForAnotherPeriodKeepsItsOwn: a curation holds for the period it names while
// the item is in that period, whatever curations of the item for other periods come after it;
// when a correction moves the item, the curation for its new period applies, and moving it back
// brings the first one back.
func TestReviewCurationForAnotherPeriodKeepsItsOwn(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	h.wait(v, h.publish(
		act("UNODC", "x", "compact.training.delivered", "2025-05-10", nil),
		curate("c1", "2025-05", "UNODC", "x", "omit", ""),
	))
	if sec, _ := where(review(t, v, "2025-05"), "UNODC", "x"); sec != "" {
		t.Fatalf("the omit for 2025-05 is not applied: x in %q", sec)
	}
	h.wait(v, h.publish(curate("c2", "2025-07", "UNODC", "x", "place", "whats_new")))
	if sec, it := where(review(t, v, "2025-05"), "UNODC", "x"); sec != "" {
		t.Errorf("a curation for 2025-07 undid the omit for 2025-05: x listed in %q by %q", sec, placement(it))
	}
	h.wait(v, h.publish(correct("UNODC", "x-jul", "x", dataOf(act("UNODC", "x", "compact.training.delivered", "2025-07-03", nil)))))
	if sec, it := where(review(t, v, "2025-07"), "UNODC", "x"); sec != "whats_new" || placement(it) != "curated" {
		t.Errorf("moved to July: x in %q by %q, want whats_new by its 2025-07 curation", sec, placement(it))
	}
	h.wait(v, h.publish(correct("UNODC", "x-may", "x", dataOf(act("UNODC", "x", "compact.training.delivered", "2025-05-11", nil)))))
	if sec, it := where(review(t, v, "2025-05"), "UNODC", "x"); sec != "" {
		t.Errorf("moved back to May: x listed in %q by %q, want omitted by its 2025-05 curation", sec, placement(it))
	}
	if sec, _ := where(review(t, v, "2025-07"), "UNODC", "x"); sec != "" {
		t.Errorf("moved back to May: x still in 2025-07, in %q", sec)
	}
	// the same history built from sequence 1 in one batch and event by event
	for _, n := range []int{1, 1000} {
		cfg := h.config(t.TempDir())
		cfg.BatchMaxCount = n
		fresh := h.open(cfg)
		h.wait(fresh, h.seq.Load())
		sameViews(t, v, fresh)
	}
}

// TestReviewOfTheFirstPeriods: the ledger takes any date YYYY-MM-DD, year 0000 included, and
// the review of its first periods reads, with the history walking back no further than
// FirstPeriod.
func TestReviewOfTheFirstPeriods(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	h.wait(v, h.publish(act("UNODC", "old", "compact.training.delivered", "0000-05-01", nil)))
	for _, c := range []struct {
		period  string
		history int
	}{{"0000-01", 1}, {"0000-05", 3}, {"0000-09", 5}, {"0000-11", 6}, {"0001-01", 6}} {
		r, err := v.Review(t.Context(), c.period)
		if err != nil {
			t.Errorf("review of %s: %v", c.period, err)
			continue
		}
		_, to, _ := PeriodBounds(c.period)
		if len(r.History) != c.history || r.History[0].AsOf != "0000-02-29" && c.history < historyLen ||
			r.Counters != r.History[len(r.History)-1] || r.Counters.AsOf != to {
			t.Errorf("review of %s: history %+v, counters %+v; want %d periods from 0000-01 to %s", c.period, r.History, r.Counters, c.history, to)
		}
		if sec, _ := where(r, "UNODC", "old"); (sec != "") != (c.period == "0000-05") {
			t.Errorf("review of %s: the activity of 0000-05-01 in %q", c.period, sec)
		}
	}
}

func TestReviewPeriodEdgesAndOrder(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	last := h.publish(
		act("UNODC", "late-june", "compact.training.delivered", "2025-06-30", nil),
		act("UNODC", "july", "compact.training.delivered", "2025-07-01", nil),
		act("UNODC", "span", "compact.training.delivered", "2025-06-28", obj{"end": "2025-07-03"}),
		act("UNODC", "april", "compact.training.delivered", "2025-04-30", nil),
		act("UNODC", "may-a", "compact.training.delivered", "2025-05-05", nil),
		act("UNODC", "may-b", "compact.training.delivered", "2025-05-05", nil),
		act("UNODC", "may-early", "compact.training.delivered", "2025-05-01", obj{"date_precision": "month", "end": "2025-06-30"}),
	)
	h.wait(v, last)
	r := review(t, v, "2025-05")
	var got []string
	for _, it := range r.Sections[sectionIndex("joint.regional_focus")].Items {
		got = append(got, it.ID+" "+it.Dates)
	}
	want := []string{"may-early May-June", "may-a 5 May", "may-b 5 May", "span 28 June-3 July", "late-june 30 June"}
	if !slices.Equal(got, want) {
		t.Errorf("May-June items by start then seq:\n got %q\nwant %q", got, want)
	}
	if sec, _ := where(review(t, v, "2025-07"), "UNODC", "july"); sec == "" {
		t.Error("an activity starting on 1 July is not in 2025-07")
	}
	if sec, _ := where(review(t, v, "2025-03"), "UNODC", "april"); sec == "" {
		t.Error("an activity starting on 30 April is not in 2025-03")
	}
	ps, err := v.Periods(t.Context())
	if err != nil || !slices.Equal(ps, []string{"2025-07", "2025-05", "2025-03"}) {
		t.Errorf("Periods = %v, %v", ps, err)
	}
	if _, err := v.Review(t.Context(), "2025-06"); !errors.Is(err, ErrBadPeriod) {
		t.Errorf("Review(2025-06) = %v, want ErrBadPeriod", err)
	}
	empty := review(t, v, "2023-01")
	if empty.Version != 0 || len(empty.Sections) != len(Sections) || len(empty.Sections[0].Items) != 0 {
		t.Errorf("an empty period: %+v", empty)
	}
}

func TestReviewCarriesCountersAndStructure(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	g := newHistGen(11)
	history := g.take(300)
	h.wait(v, h.publish(history...))
	r := review(t, v, "2025-05")
	if r.Title != "Counter-Terrorism Compact in Review May-June 2025" || r.From != "2025-05-01" || r.To != "2025-06-30" {
		t.Errorf("review header %q %s %s", r.Title, r.From, r.To)
	}
	if len(r.History) != historyLen {
		t.Fatalf("history has %d periods", len(r.History))
	}
	wantAsOf := []string{"2024-08-31", "2024-10-31", "2024-12-31", "2025-02-28", "2025-04-30", "2025-06-30"}
	for i, c := range r.History {
		want := naiveCounters(history, wantAsOf[i])
		want.Seq = c.Seq
		if c != want {
			t.Errorf("history[%d] = %+v, want %+v", i, c, want)
		}
	}
	if r.Counters != r.History[historyLen-1] {
		t.Errorf("counters %+v are not the last history entry", r.Counters)
	}
	s, err := v.Structure(t.Context(), "2025-06-30")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, r.Structure) {
		t.Errorf("review structure %+v differs from Structure(2025-06-30) %+v", r.Structure, s)
	}
	if r.Provenance.LastSeq == 0 || r.Provenance.ViewVersion != reviewVersion || r.Provenance.FirstSeq == 0 {
		t.Errorf("provenance %+v", r.Provenance)
	}
}

// TestReviewReadIsLocal shows that reading a period touches that period's keys only: adding
// many items to other periods does not change how many keys it reads.
func TestReviewReadIsLocal(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	reads := func() int {
		n := 0
		err := v.read(func(s *snapshot) error {
			r, _, _, err := s.data(ViewReview)
			if err != nil {
				return err
			}
			_, _, _, err = reviewRead(r, "2025-05")
			n = r.reads
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var events []ledgerEvent
	for i := range 20 {
		events = append(events, act("UNODC", fmt.Sprintf("may%d", i), "compact.training.delivered", "2025-05-10", nil))
	}
	h.wait(v, h.publish(events...))
	before := reads()
	events = nil
	for i := range 1000 {
		events = append(events, act("UNODC", fmt.Sprintf("other%d", i), "compact.training.delivered",
			fmt.Sprintf("2024-%02d-10", 1+i%12), nil))
	}
	h.wait(v, h.publish(events...))
	if after := reads(); after != before {
		t.Errorf("reading 2025-05 touched %d keys with 20 items in the ledger and %d with 1000 more elsewhere", before, after)
	}
}

type ledgerEvent = ledger.Event

// TestReviewCurationsOfOnePeriodStack: among an item's curations for its period the last
// published wins; retracting it gives the item back to the one before, not to the rules; a
// correction of a curation changes what it says but not its place among them.
func TestReviewCurationsOfOnePeriodStack(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	step := func(want, how string, events ...ledgerEvent) {
		t.Helper()
		h.wait(v, h.publish(events...))
		if sec, it := where(review(t, v, "2025-05"), "UNODC", "x"); sec != want || placement(it) != how {
			t.Fatalf("x in %q by %q, want %q by %q", sec, placement(it), want, how)
		}
	}
	place := func(id, section string) ledgerEvent { return curate(id, "2025-05", "UNODC", "x", "place", section) }
	step("joint.regional_focus", "rule", act("UNODC", "x", "compact.training.delivered", "2025-05-10", nil))
	step("whats_new", "curated", place("c1", "whats_new"))
	step("member_states", "curated", place("c2", "member_states"))
	step("", "(not listed)", curate("c3", "2025-05", "UNODC", "x", "omit", ""))
	step("member_states", "curated", retract("SECRETARIAT", "c3-r", "c3"))
	fixed := dataOf(place("", "joint.multi_agency"))
	step("member_states", "curated", correct("SECRETARIAT", "c1-fix", "c1", fixed))
	step("joint.multi_agency", "curated", retract("SECRETARIAT", "c2-r", "c2"))
	step("joint.regional_focus", "rule", retract("SECRETARIAT", "c1-r", "c1"))
}
