package projections

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"compact/ledger"
	"compact/schemas"
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

// rawEvent is an event whose data is published exactly as written: json.Marshal would write
// 12.0 as 12.
func rawEvent(entity, id, typ, data string) ledger.Event {
	return ledger.Event{SpecVersion: "1.0", ID: id, Source: ledger.SourcePrefix + entity, Type: typ,
		Time: "2025-06-01T10:00:00Z", DataContentType: "application/json", Data: json.RawMessage(data)}
}

// TestCountersTakeIntegersWrittenAsFloats: 12.0 and 1e2 are integers for JSON Schema and the
// ledger accepts them where the schemas ask for an integer, so the counters count them, on the
// fast decoding path and on encoding/json's; a number with a fraction or beyond int64 is
// quarantined with the field it is in.
func TestCountersTakeIntegersWrittenAsFloats(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	good := []ledger.Event{
		rawEvent("UNOCT", "v1", "compact.platform.visits.counted", `{"from":"2025-05-01","to":"2025-05-31","count":12.0}`),
		// a repeated attribute: the fast path gives up and encoding/json decodes it (the last wins)
		rawEvent("UNOCT", "v2", "compact.platform.visits.counted", `{"from":"2025-05-01","to":"2025-05-31","count":1,"count":1e2}`),
		rawEvent("CTED", "r1", "compact.recommendations.issued", `{"country":"MAR","count":2.50E+1,"date":"2025-05-02"}`),
		rawEvent("SECRETARIAT", "o1", "compact.counter.opened", `{"counter":"documents_shared","value":3.6e3,"date":"2024-12-31"}`),
		rawEvent("UNOCT", "v3", "compact.platform.visits.counted", `{"from":"2025-05-01","to":"2025-05-31","count":5}`),
		correct("UNOCT", "v3-fix", "v3", json.RawMessage(`{"from":"2025-05-01","to":"2025-05-31","count":70E-1}`)),
	}
	for _, e := range good {
		typ, data := e.Type, e.Data
		if typ == TypeCorrected { // the ledger checks a correction's data against its target's schema
			var c correctionData
			if err := json.Unmarshal(e.Data, &c); err != nil {
				t.Fatal(err)
			}
			typ, data = "compact.platform.visits.counted", c.Data
		}
		if err := schemas.Default().Validate(typ, data); err != nil {
			t.Fatalf("the ledger refuses %s: %v", data, err)
		}
	}
	// the review reads no integer: an activity's participants written 1.2e1 is listed as any
	trained := act("UNODC", "t1", "compact.training.delivered", "2025-05-10", obj{"participants": json.RawMessage("1.2e1")})
	if err := schemas.Default().Validate(trained.Type, trained.Data); err != nil {
		t.Fatalf("the ledger refuses %s: %v", trained.Data, err)
	}
	good = append(good, trained)
	bad := []ledger.Event{
		rawEvent("UNOCT", "v4", "compact.platform.visits.counted", `{"from":"2025-05-01","to":"2025-05-31","count":12.5}`),
		rawEvent("SECRETARIAT", "o2", "compact.counter.opened", `{"counter":"entities","value":1e30,"date":"2024-12-31"}`),
	}
	h.publish(good...)
	h.wait(v, h.publish(bad...))
	c, err := v.Counters(t.Context(), "2025-06-30")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := v.Quarantine(t.Context(), ViewCounters, 0, 0)
	if c.VirtualVisits != 12+100+7 || c.TARecommendations != 25 || c.DocumentsShared != 3600 || c.Entities != 0 {
		t.Errorf("counters %+v, want virtual_visits 119, ta_recommendations 25, documents_shared 3600; quarantine %+v", *c, q)
	}
	if sec, _ := where(review(t, v, "2025-05"), "UNODC", "t1"); sec == "" {
		q, _ := v.Quarantine(t.Context(), ViewReview, 0, 0)
		t.Errorf("an activity with participants 1.2e1 is not in the review; review quarantine %+v", q)
	}
	want := map[string]string{"v4": "data/count: 12.5 is not an integer", "o2": "data/value: 1e30 is out of range"}
	if len(q) != len(want) {
		t.Fatalf("quarantine %+v, want %d entries", q, len(want))
	}
	for _, e := range q {
		if w, ok := want[e.ID]; !ok || !strings.Contains(e.Error, w) {
			t.Errorf("quarantined %s: %s; want an error with %q", e.ID, e.Error, w)
		}
	}
}

// TestJSONIntegerLikeBigRat holds jsonInteger to the exact value of the number (big.Rat): an
// integer that fits in int64 is read, any other number is an error.
func TestJSONIntegerLikeBigRat(t *testing.T) {
	inputs := []string{"0", "-0", "0.0", "-0.0e5", "0e-999999999999", "12", "12.0", "12.5", "1e2", "1E+2", "1e-2",
		"100e-2", "150e-2", "1.50e1", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
		"-9223372036854775809", "9.223372036854775807e18", "9.223372036854775808e18", "92233720368547758070e-1",
		"1e18", "1e19", "1e30", "-1e30", "1e999999999999", "1e-999999999999", "123456789012345678901234567890e-20"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var b strings.Builder
		if r.IntN(3) == 0 {
			b.WriteByte('-')
		}
		intDigits := 1 + r.IntN(21)
		for i := range intDigits {
			if i == 0 && intDigits > 1 {
				b.WriteByte(byte('1' + r.IntN(9)))
			} else {
				b.WriteByte(byte('0' + r.IntN(10)))
			}
		}
		if r.IntN(2) == 0 {
			b.WriteByte('.')
			for range 1 + r.IntN(6) {
				b.WriteByte([]byte("0000000123")[r.IntN(10)])
			}
		}
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, "%s%s%d", []string{"e", "E"}[r.IntN(2)], []string{"", "+", "-"}[r.IntN(3)], r.IntN(25))
		}
		inputs = append(inputs, b.String())
	}
	for _, in := range inputs {
		if !json.Valid([]byte(in)) {
			t.Fatalf("the test made %q, which is not JSON", in)
		}
		got, err := jsonInteger([]byte(in))
		// exponents of 12 digits are kept from big.Rat: only zero is an integer then
		if huge := strings.Contains(in, "e999999999") || strings.Contains(in, "e-999999999"); huge {
			zero := strings.HasPrefix(strings.TrimLeft(in, "-"), "0")
			if zero != (err == nil) || got != 0 {
				t.Errorf("jsonInteger(%s) = %d, %v", in, got, err)
			}
			continue
		}
		var want *big.Int
		if x, ok := new(big.Rat).SetString(in); ok && x.IsInt() && x.Num().IsInt64() {
			want = x.Num()
		}
		switch {
		case want == nil && err == nil:
			t.Errorf("jsonInteger(%s) = %d, want an error", in, got)
		case want != nil && (err != nil || got != want.Int64()):
			t.Errorf("jsonInteger(%s) = %d, %v; want %s", in, got, err, want)
		}
	}
	if _, err := jsonInteger([]byte(`"12"`)); err == nil {
		t.Error(`jsonInteger("12"): a string is not a number`)
	}
	if n, err := jsonInteger([]byte("-9223372036854775808")); err != nil || n != math.MinInt64 {
		t.Errorf("jsonInteger(MinInt64) = %d, %v", n, err)
	}
}

// TestDayIndexCountsEveryDay: every date the ledger accepts (YYYY-MM-DD, years 0000 to 9999)
// has a day of its own, the days in order and without a gap; the main tree's days (clampDay,
// 1900-01-01 to 2258-11-11) are those it always had, the dates before 2192-04-11 where a
// time.Duration from 1900 still holds included, and an as-of date past either end clamps.
func TestDayIndexCountsEveryDay(t *testing.T) {
	first, last := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	durationEnd := time.Date(2192, 4, 11, 0, 0, 0, 0, time.UTC)
	i := 0
	for d := first; !d.After(last); d, i = d.AddDate(0, 0, 1), i+1 {
		// every day of the years at the ends and of the main tree's range; every 97th elsewhere
		if y := d.Year(); y > 1 && y < 9998 && (y < 1899 || y > 2259) && i%97 != 0 {
			continue
		}
		date := d.Format(time.DateOnly)
		got, err := dayIndex(date)
		if err != nil || got != i {
			t.Fatalf("dayIndex(%s) = %d, %v; want %d", date, got, err, i)
		}
		main := i - fenwickOffset
		switch {
		case main < 0:
			main = -1
		case main >= fenwickSize:
			main = fenwickSize - 1
		}
		if c, err := clampDay(date); err != nil || c != main {
			t.Fatalf("clampDay(%s) = %d, %v; want %d", date, c, err, main)
		}
		if !d.Before(fenwickEpoch) && d.Before(durationEnd) {
			if before := int(d.Sub(fenwickEpoch).Hours() / 24); main != before {
				t.Fatalf("clampDay(%s) = %d, the stored views have it at %d", date, main, before)
			}
		}
	}
	if i > outerSize {
		t.Fatalf("%d days do not fit the outer tree's %d", i, outerSize)
	}
	if fenwickOffset != 693_961 || fenwickLast != "2258-11-11" {
		t.Errorf("the main tree runs from day %d to %s", fenwickOffset, fenwickLast)
	}
}

// TestCountersFarFuture: an event dated after 2192 counts from its own date, not from
// 2192-04-10, and can be taken back exactly; so do events of any date the ledger accepts,
// before 1900 and after 2258 included: none is quarantined.
func TestCountersFarFuture(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	doc := func(id, date string) ledger.Event {
		return mkEvent("UNOCT", id, "compact.document.shared", obj{"document": "d", "title": "t", "shared_by": obj{"entity": "UNOCT"}, "date": date})
	}
	docsAsOf := func(date string) int64 {
		t.Helper()
		c, err := v.Counters(t.Context(), date)
		if err != nil {
			t.Fatal(err)
		}
		return c.DocumentsShared
	}
	events := []ledger.Event{doc("d2250", "2250-01-01"), doc("d2200", "2200-01-01"), doc("d2300", "2300-01-01"),
		doc("d0000", "0000-01-01"), doc("d1899", "1899-12-31"), doc("d9999", "9999-12-31")}
	for _, e := range events {
		if err := schemas.Default().Validate(e.Type, e.Data); err != nil {
			t.Fatalf("the ledger refuses %s: %v", e.ID, err)
		}
	}
	h.wait(v, h.publish(events...))
	for date, want := range map[string]int64{"0000-01-01": 1, "1899-12-30": 1, "1899-12-31": 2, "1900-01-01": 2,
		"2192-04-10": 2, "2199-12-31": 2, "2200-01-01": 3, "2249-12-31": 3, "2250-01-01": 4, "2299-12-31": 4,
		"2300-01-01": 5, "9999-12-30": 5, "9999-12-31": 6} {
		if got := docsAsOf(date); got != want {
			t.Errorf("as of %s documents_shared = %d, want %d", date, got, want)
		}
	}
	if q, _ := v.Quarantine(t.Context(), ViewCounters, 0, 0); len(q) != 0 {
		t.Errorf("quarantine %+v, want none: the ledger accepted every one of them", q)
	}
	h.wait(v, h.publish(correct("UNOCT", "d2250-fix", "d2250", dataOf(doc("d2250", "2210-06-30"))), retract("UNOCT", "d2200-r", "d2200"),
		correct("UNOCT", "d2300-fix", "d2300", dataOf(doc("d2300", "1850-06-30"))), retract("UNOCT", "d9999-r", "d9999")))
	for date, want := range map[string]int64{"1850-06-29": 1, "1850-06-30": 2, "2200-01-01": 3, "2210-06-29": 3, "2210-06-30": 4,
		"2250-01-01": 4, "2300-01-01": 4, "9999-12-31": 4} {
		if got := docsAsOf(date); got != want {
			t.Errorf("after corrections and retractions, as of %s documents_shared = %d, want %d", date, got, want)
		}
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

// TestCountersNeverPassTheLargestExactTotal: the ledger bounds each count at 2^53-1, not their
// sum, and 1,030 visits counted at 2^53-1 used to wrap virtual_visits around int64 to a large
// negative number. An event that would take a counter's counts and values past 2^53-1 is
// quarantined, naming its field; taking a count back (a correction, a retraction) makes room;
// the totals at every date stay what the events that were applied say, and a rebuild gives
// the same view.
func TestCountersNeverPassTheLargestExactTotal(t *testing.T) {
	const max = 1<<53 - 1
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	visits := func(id, day string, n int64) ledger.Event {
		return rawEvent("UNOCT", id, "compact.platform.visits.counted",
			fmt.Sprintf(`{"from":%q,"to":%q,"count":%d}`, day, day, n))
	}
	events := []ledger.Event{
		visits("v1", "2025-05-10", max),
		visits("v2", "2025-05-11", max), // past the bound: quarantined
		visits("v3", "2025-04-01", 1),   // back-dated, still past: quarantined
		rawEvent("SECRETARIAT", "o1", "compact.counter.opened", fmt.Sprintf(`{"counter":"virtual_visits","value":%d,"date":"2024-12-31"}`, -max)), // a magnitude too: quarantined
		correct("UNOCT", "c1", "v1", obj{"from": "2025-05-10", "to": "2025-05-10", "count": max - 10}),
		visits("v4", "2025-06-01", 10), // fits exactly once v1 is smaller
		visits("v5", "2025-06-02", 1),  // quarantined
		retract("UNOCT", "r1", "v4"),
		visits("v6", "2025-06-03", 10), // fits again
		rawEvent("UNOCT", "c2", "compact.event.corrected", `{"corrects":"v6","reason":"recount","data":{"from":"2025-06-03","to":"2025-06-03","count":11}}`), // quarantined at /data/count
	}
	h.wait(v, h.publish(events...))
	want := map[string]string{
		"v2": "count: 9007199254740991 would take virtual_visits past 9007199254740991",
		"v3": "count: 1 would take virtual_visits past",
		"o1": "value: -9007199254740991 would take virtual_visits past",
		"v5": "count: 1 would take virtual_visits past",
		"c2": "data/count: 11 would take virtual_visits past",
	}
	q, err := v.Quarantine(t.Context(), ViewCounters, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != len(want) {
		t.Errorf("quarantine %+v, want %d entries", q, len(want))
	}
	for _, e := range q {
		if w, ok := want[e.ID]; !ok || !strings.Contains(e.Error, w) {
			t.Errorf("quarantined %s: %s; want an error with %q", e.ID, e.Error, w)
		}
	}
	for day, n := range map[string]int64{"2025-05-09": 0, "2025-05-10": max - 10, "2025-06-02": max - 10, "2025-06-03": max, "2030-01-01": max} {
		c, err := v.Counters(t.Context(), day)
		if err != nil {
			t.Fatal(err)
		}
		if c.VirtualVisits != n {
			t.Errorf("virtual_visits as of %s: %d, want %d", day, c.VirtualVisits, n)
		}
	}
	rebuilt := h.open(h.config(t.TempDir()))
	h.wait(rebuilt, h.seq.Load())
	sameViews(t, v, rebuilt)
}
