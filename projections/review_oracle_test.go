package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"compact/ledger"
	"compact/schemas"
)

var (
	reviewSeeds  = flag.Int("projections.reviewseeds", 3, "TestReviewMatchesReference: random histories checked against naiveReview")
	reviewEvents = flag.Int("projections.reviewevents", 200, "TestReviewMatchesReference: events in each random history")
)

// naiveReview is the review of a period read straight from a history, by the contract's rules,
// with nothing kept between calls: the reference the review view is checked against. The
// history is the stream from sequence 1 (an event's sequence is its index + 1).
//
//   - The first event of a source+id counts; a later one with the same source+id is nothing.
//   - A correction or retraction acts on the earlier event of its own source it names; it does
//     nothing when that event is a correction or a retraction, an activity or a curation the view
//     could not read, or an event retracted before it. A correction replaces the whole data of
//     its target when the new data can be read, and nothing otherwise.
//   - An activity belongs to the period of its (corrected) start. A curation of the item for that
//     period decides, the one published last (a corrected curation keeps its place) winning,
//     whatever curations for other periods came after it; a retracted curation is no curation.
//     Else the section hint; else the placement rules.
//   - Within a section: by start, then by the sequence of the original event.
func naiveReview(history []ledger.Event, period string) []Section {
	type item struct {
		seq, cseq uint64
		typ       string
		data      activity
		retracted bool
	}
	type cur struct {
		seq       uint64
		c         curation
		retracted bool
	}
	key := func(src, id string) string { return src + "\x00" + id }
	first := map[string]string{} // source+id → type of its first event
	items := map[string]*item{}
	curs := map[string]*cur{}
	for i, e := range history {
		seq := uint64(i + 1)
		k := key(e.Source, e.ID)
		if _, dup := first[k]; dup {
			continue
		}
		first[k] = e.Type
		switch {
		case isActivityType(e.Type):
			if a, ok := naiveActivity(e.Data); ok {
				items[k] = &item{seq: seq, typ: e.Type, data: a}
			}
		case e.Type == TypeCurated:
			if c, ok := naiveCuration(e.Data); ok {
				curs[k] = &cur{seq: seq, c: c}
			}
		case e.Type == TypeCorrected:
			var c struct {
				Corrects string          `json:"corrects"`
				Data     json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal(e.Data, &c)
			t := key(e.Source, c.Corrects)
			if it := items[t]; it != nil && !it.retracted {
				if a, ok := naiveActivity(c.Data); ok {
					it.data, it.cseq = a, seq
				}
			}
			if cu := curs[t]; cu != nil && !cu.retracted {
				if nc, ok := naiveCuration(c.Data); ok {
					cu.c = nc
				}
			}
		case e.Type == TypeRetracted:
			var r struct {
				Retracts string `json:"retracts"`
			}
			_ = json.Unmarshal(e.Data, &r)
			t := key(e.Source, r.Retracts)
			if it := items[t]; it != nil {
				it.retracted = true
			}
			if cu := curs[t]; cu != nil {
				cu.retracted = true
			}
		}
	}
	out := make([]Section, len(Sections))
	for i, s := range Sections {
		out[i] = Section{ID: s.ID, Group: s.Group, Heading: s.Heading, Items: []Item{}}
	}
	for k, it := range items {
		a := it.data
		if it.retracted || naivePeriod(a.Start) != period {
			continue
		}
		source, id, _ := strings.Cut(k, "\x00")
		section, how := "", ""
		var decision *cur
		for _, cu := range curs {
			if !cu.retracted && cu.c.Period == period && cu.c.Item.Source == source && cu.c.Item.ID == id &&
				(decision == nil || cu.seq > decision.seq) {
				decision = cu
			}
		}
		switch {
		case decision != nil && decision.c.Action == "omit":
			continue
		case decision != nil:
			section, how = decision.c.Section, "curated"
		case a.Section != "":
			section, how = a.Section, "hint"
		default:
			section, how = naiveRule(it.typ, a), "rule"
		}
		s := &out[slices.IndexFunc(Sections, func(d SectionDef) bool { return d.ID == section })]
		s.Items = append(s.Items, Item{Source: source, ID: id, Seq: it.seq, CorrectedSeq: it.cseq, Type: it.typ,
			Title: a.Title, Summary: a.Summary, Start: a.Start, End: a.End, DatePrecision: a.DatePrecision,
			Dates: FormatDates(a.Start, a.End, a.DatePrecision), Organizers: a.Organizers, Countries: a.Countries,
			Links: a.Links, Placement: how, Speaker: a.Speaker, Role: a.Role, Quote: a.Quote})
	}
	for _, s := range out {
		slices.SortFunc(s.Items, func(x, y Item) int {
			if c := strings.Compare(x.Start, y.Start); c != 0 {
				return c
			}
			return int(x.Seq) - int(y.Seq)
		})
	}
	return out
}

// naivePeriod is the period of a date: its year and its odd month.
func naivePeriod(date string) string {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%04d-%02d", t.Year(), int(t.Month())-(int(t.Month())-1)%2)
}

func naiveDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil && len(s) == 10
}

func naiveSection(s string) bool {
	return slices.ContainsFunc(Sections, func(d SectionDef) bool { return d.ID == s })
}

// naiveActivity reads an activity with encoding/json and says whether the review can list it.
func naiveActivity(raw json.RawMessage) (activity, bool) {
	var a activity
	if json.Unmarshal(raw, &a) != nil || a.Title == "" || !naiveDate(a.Start) {
		return a, false
	}
	if a.End != "" && (!naiveDate(a.End) || a.End < a.Start) {
		return a, false
	}
	if a.DatePrecision != "" && a.DatePrecision != "day" && a.DatePrecision != "month" {
		return a, false
	}
	return a, a.Section == "" || naiveSection(a.Section)
}

func naiveCuration(raw json.RawMessage) (curation, bool) {
	var c curation
	if json.Unmarshal(raw, &c) != nil || c.Item.Source == "" || c.Item.ID == "" {
		return c, false
	}
	if t, err := time.Parse("2006-01", c.Period); err != nil || len(c.Period) != 7 || t.Month()%2 != 1 {
		return c, false
	}
	return c, c.Action == "omit" || c.Action == "place" && naiveSection(c.Section)
}

// naiveRule is DESIGN.md's placement rules, first match.
func naiveRule(typ string, a activity) string {
	switch {
	case typ == "compact.statement.made":
		return "leadership.key_issues"
	case typ == "compact.meeting.held" && a.Format == "working_group_meeting":
		return "guidance.working_groups"
	case typ == "compact.publication.released":
		return "guidance.publications"
	case typ == "compact.announcement.made":
		return "whats_new"
	case typ == "compact.visit.conducted", typ == "compact.agreement.signed", typ == "compact.assistance.provided":
		return "member_states"
	case typ == "compact.meeting.held" && (a.Format == "high_level_event" || a.Format == "conference" ||
		a.Format == "retreat" || a.Format == "commission_session"):
		return "leadership.high_level_events"
	}
	entities := map[string]bool{}
	for _, x := range slices.Concat(a.Organizers, a.Partners) {
		if x.Kind == "civil_society" || x.Kind == "academia" || x.Kind == "private_sector" {
			return "joint.civil_society"
		}
	}
	for _, x := range a.Organizers {
		if x.Entity != "" {
			entities[x.Entity] = true
		}
	}
	if len(entities) >= 2 {
		return "joint.multi_agency"
	}
	return "joint.regional_focus"
}

// reviewGen makes random histories aimed at the review's hard cases: items at period edges and on
// the same day, corrections (chains of them, moving an item to another period and back, of a
// curated item), retractions (of corrected and curated items), curations (for the item's period,
// for others, before their item arrives, corrected and retracted), duplicates, and text with
// characters a fast decoder or a key encoding may trip on.
type reviewGen struct {
	r       *rand.Rand
	n       int
	all     []ledger.Event
	acts    []ledger.Event  // activities published
	planned []ledger.Event  // activities not yet published (a curation may name them first)
	curs    []ledger.Event  // curations published
	latest  map[string]obj  // source+id → the activity's latest data
	odds    map[string]bool // source+id of the events odd made
	few     int             // when not 0, at most this many activities: many events act on each
}

func newReviewGen(seed uint64) *reviewGen {
	return &reviewGen{r: rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1)), latest: map[string]obj{}, odds: map[string]bool{}}
}

var (
	rgEntities = []string{"UNOCT", "CTED", "UN-WOMEN", "A1", "UNODC2", "SECRETARIAT"}
	// a few dates, so that items share days, at the edges of periods and across years
	rgDates = []string{"2024-12-31", "2025-01-01", "2025-02-28", "2025-03-01", "2025-04-30", "2025-05-01",
		"2025-05-05", "2025-05-05", "2025-06-15", "2025-06-30", "2025-07-01", "2025-07-01", "2025-08-31",
		"2025-09-01", "2025-10-31", "2025-11-30", "2025-12-31", "2026-01-01"}
	rgTitles = []string{`Plain title`, `Quotes "inside" and \ backslash`, `<b>HTML</b> & ampersand`,
		"Café à Genève — Ünïcode", "Emoji 🛰️ and 𝔘", "Tab\tand\nnewline", "Line\u2028separator", `{"json":[1]}`,
		"Trailing space ", "Ελληνικά", "日本語のタイトル"}
	rgOrgs = []obj{{"org": "Université «Libre» & Co", "kind": "academia"}, {"org": `Say "no"`, "kind": "civil_society"},
		{"org": "Meta\\Platforms", "kind": "private_sector"}, {"org": "OSCE", "kind": "regional"},
		{"org": "Ολυμπία", "kind": "international"}}
)

func (g *reviewGen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

func (g *reviewGen) id() string {
	g.n++
	return g.pick([]string{"e", "ev.", "x:y-", "a_b."}) + fmt.Sprint(g.n)
}

func (g *reviewGen) date() string {
	if g.r.IntN(4) == 0 {
		return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.r.IntN(365)).Format(time.DateOnly)
	}
	return g.pick(rgDates)
}

// activityData is valid data of an activity of typ by entity.
func (g *reviewGen) activityData(typ, entity string) obj {
	d := act(entity, "", typ, g.date(), nil)
	data := dataOf(d)
	data["title"] = g.pick(rgTitles) + fmt.Sprintf(" %d", g.r.IntN(1000))
	if g.r.IntN(3) == 0 {
		other := g.pick(rgEntities)
		if other == entity {
			other = "CTED-2"
		}
		data["organizers"] = []obj{{"entity": entity}, {"entity": other}}
	}
	if g.r.IntN(4) == 0 {
		data["partners"] = []obj{rgOrgs[g.r.IntN(len(rgOrgs))]}
	}
	if g.r.IntN(3) == 0 {
		s, _ := time.Parse(time.DateOnly, data["start"].(string))
		data["end"] = s.AddDate(0, 0, g.r.IntN(70)).Format(time.DateOnly)
	}
	if g.r.IntN(6) == 0 {
		data["date_precision"] = g.pick([]string{"month", "day"})
	}
	if g.r.IntN(6) == 0 {
		data["section"] = Sections[g.r.IntN(len(Sections))].ID
	}
	if g.r.IntN(3) == 0 {
		data["summary"] = g.pick(rgTitles)
	}
	if g.r.IntN(5) == 0 {
		data["links"] = []obj{{"url": "https://example.org/a?b=c&d=é", "label": g.pick(rgTitles)}}
	}
	if g.r.IntN(5) == 0 {
		data["countries"] = []string{"MAR", "FRA"}
	}
	if typ == "compact.meeting.held" {
		data["format"] = g.pick([]string{"high_level_event", "conference", "retreat", "commission_session",
			"working_group_meeting", "expert_meeting", "seminar", "other"})
		if data["format"] == "working_group_meeting" {
			data["working_group"] = "etcip"
		}
	}
	return data
}

// encode writes data as JSON in one of the forms a publisher may use: encoding/json's (HTML
// characters escaped), without HTML escapes, or every non-ASCII character escaped.
func (g *reviewGen) encode(data obj) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	form := g.r.IntN(3)
	enc.SetEscapeHTML(form == 0)
	if err := enc.Encode(data); err != nil {
		panic(err)
	}
	b := bytes.TrimSpace(buf.Bytes())
	if form != 2 {
		return b
	}
	var out []byte
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		switch {
		case r < 0x80:
			out = append(out, byte(r))
		case r > 0xffff:
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04X`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out
}

func (g *reviewGen) event(entity, id, typ string, data obj) ledger.Event {
	e := mkEvent(entity, id, typ, nil)
	e.Data = g.encode(data)
	return e
}

func (g *reviewGen) newActivity() ledger.Event {
	typ := g.pick(activityTs)
	entity := g.pick(rgEntities)
	data := g.activityData(typ, entity)
	e := g.event(entity, g.id(), typ, data)
	if g.r.IntN(6) == 0 { // announced by a curation before it arrives
		g.planned = append(g.planned, e)
		return g.curationOf(e)
	}
	return e
}

// curationOf curates an activity, mostly for the period it is in now.
func (g *reviewGen) curationOf(t ledger.Event) ledger.Event {
	return g.event("SECRETARIAT", g.id(), TypeCurated, g.curationData(t))
}

func (g *reviewGen) curationData(t ledger.Event) obj {
	data := g.latest[t.Source+"\x00"+t.ID]
	if data == nil {
		data = dataOf(t)
	}
	period, _ := PeriodOf(data["start"].(string))
	switch g.r.IntN(6) {
	case 0:
		period, _ = PeriodOf(g.date())
	case 1:
		period, _ = PeriodOf(dataOf(t)["start"].(string)) // where it was first
	}
	if period == "" { // an activity on a day that does not exist
		period = "2025-01"
	}
	d := obj{"period": period, "item": obj{"source": t.Source, "id": t.ID}, "action": "omit"}
	if g.r.IntN(3) > 0 {
		d["action"], d["section"] = "place", Sections[g.r.IntN(len(Sections))].ID
	}
	return d
}

func (g *reviewGen) next() ledger.Event {
	var e ledger.Event
	roll := g.r.IntN(100)
	switch {
	case len(g.acts) == 0 || roll < 30 && (g.few == 0 || len(g.acts)+len(g.planned) < g.few):
		e = g.newActivity()
	case roll < 30:
		e = g.curationOf(g.acts[g.r.IntN(len(g.acts))])
	case roll < 36 && len(g.planned) > 0:
		e, g.planned = g.planned[0], g.planned[1:]
	case roll < 54:
		t := g.acts[g.r.IntN(len(g.acts))]
		if g.r.IntN(3) == 0 {
			t = g.acts[len(g.acts)-1] // the last one again: chains of corrections
		}
		data := g.activityData(t.Type, t.Entity())
		if prev := g.latest[t.Source+"\x00"+t.ID]; prev != nil && g.r.IntN(3) == 0 {
			data["start"] = dataOf(t)["start"] // back to where it was first
			delete(data, "end")
		}
		g.latest[t.Source+"\x00"+t.ID] = data
		e = g.event(t.Entity(), g.id(), TypeCorrected, obj{"corrects": t.ID, "data": data, "reason": "fix"})
	case roll < 60:
		t := g.acts[g.r.IntN(len(g.acts))]
		e = g.event(t.Entity(), g.id(), TypeRetracted, obj{"retracts": t.ID, "reason": "withdrawn"})
	case roll < 76:
		e = g.curationOf(g.acts[g.r.IntN(len(g.acts))])
	case roll < 82 && len(g.curs) > 0:
		c := g.curs[g.r.IntN(len(g.curs))]
		target := dataOf(c)["item"].(obj)
		t := ledger.Event{Source: target["source"].(string), ID: target["id"].(string)}
		t.Data = mustJSON(obj{"start": "2025-05-05"})
		for _, a := range slices.Concat(g.acts, g.planned) {
			if a.Source == t.Source && a.ID == t.ID {
				t = a
			}
		}
		if g.r.IntN(4) == 0 { // the correction moves the curation to another item
			t = g.acts[g.r.IntN(len(g.acts))]
		}
		e = g.event("SECRETARIAT", g.id(), TypeCorrected, obj{"corrects": c.ID, "data": g.curationData(t), "reason": "fix"})
	case roll < 86 && len(g.curs) > 0:
		c := g.curs[g.r.IntN(len(g.curs))]
		e = g.event("SECRETARIAT", g.id(), TypeRetracted, obj{"retracts": c.ID, "reason": "withdrawn"})
	case roll < 94:
		e = g.all[g.r.IntN(len(g.all))] // a duplicate
		if g.r.IntN(4) == 0 && isActivityType(e.Type) {
			e.Data = g.encode(g.activityData(e.Type, e.Entity())) // same source+id, other data
		}
	case roll < 96:
		e = g.event(g.pick(rgEntities), g.id(), "compact.document.shared",
			obj{"document": "d", "title": "t", "shared_by": obj{"entity": "UNOCT"}, "date": g.date()})
	default:
		e = g.odd()
		g.odds[e.Source+"\x00"+e.ID] = true
	}
	switch {
	case isActivityType(e.Type) && !slices.ContainsFunc(g.acts, func(a ledger.Event) bool { return a.Source == e.Source && a.ID == e.ID }):
		g.acts = append(g.acts, e)
	case e.Type == TypeCurated && !slices.ContainsFunc(g.curs, func(a ledger.Event) bool { return a.ID == e.ID }):
		g.curs = append(g.curs, e)
	}
	g.all = append(g.all, e)
	return e
}

// odd makes what the ingest refuses but a view must survive, or what publishers rarely do.
func (g *reviewGen) odd() ledger.Event {
	t := g.acts[g.r.IntN(len(g.acts))]
	switch g.r.IntN(8) {
	case 0: // a correction with data the view cannot read
		bad := dataOf(t)
		bad["end"] = "2000-01-01"
		return g.event(t.Entity(), g.id(), TypeCorrected, obj{"corrects": t.ID, "data": bad, "reason": "bad"})
	case 1: // an activity on a day that does not exist
		return g.event(t.Entity(), g.id(), t.Type, obj{"title": "no such day", "start": "2025-02-30", "organizers": []obj{{"entity": "CTED"}}})
	case 2: // a curation for a month that is no period
		return g.event("SECRETARIAT", g.id(), TypeCurated, obj{"period": "2025-06", "item": obj{"source": t.Source, "id": t.ID}, "action": "omit"})
	case 3: // a correction or retraction of a correction or retraction
		var lc []ledger.Event
		for _, e := range g.all {
			if e.Type == TypeCorrected || e.Type == TypeRetracted {
				lc = append(lc, e)
			}
		}
		if len(lc) == 0 {
			break
		}
		c := lc[g.r.IntN(len(lc))]
		if g.r.IntN(2) == 0 {
			return g.event(c.Entity(), g.id(), TypeRetracted, obj{"retracts": c.ID, "reason": "x"})
		}
		return g.event(c.Entity(), g.id(), TypeCorrected, obj{"corrects": c.ID, "data": dataOf(t), "reason": "x"})
	case 4: // a correction of a curation with data that is no curation
		if len(g.curs) == 0 {
			break
		}
		c := g.curs[g.r.IntN(len(g.curs))]
		return g.event("SECRETARIAT", g.id(), TypeCorrected, obj{"corrects": c.ID, "reason": "x",
			"data": obj{"period": "2025-05", "item": obj{"source": t.Source, "id": t.ID}, "action": "place", "section": "nowhere"}})
	case 5: // a correction or retraction naming an event of another source, or one not yet published
		other := g.pick(rgEntities)
		if g.r.IntN(2) == 0 {
			return g.event(other, g.id(), TypeRetracted, obj{"retracts": t.ID, "reason": "x"})
		}
		return g.event(t.Entity(), g.id(), TypeRetracted, obj{"retracts": fmt.Sprintf("e%d", g.n+2), "reason": "x"})
	}
	// another source's activity with the same id as an earlier one
	other := g.pick(rgEntities)
	if other == t.Entity() {
		other = "CTED-2"
	}
	return g.event(other, t.ID, t.Type, g.activityData(t.Type, other))
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (g *reviewGen) take(n int) []ledger.Event {
	out := make([]ledger.Event, n)
	for i := range out {
		out[i] = g.next()
	}
	return out
}

// checkSchemas makes sure the generator writes what publishers may write: every original and
// every correction's data valid for its type (the bad corrections aside).
func checkSchemas(t *testing.T, g *reviewGen, history []ledger.Event) {
	t.Helper()
	v := schemas.Default()
	for _, e := range history {
		if g.odds[e.Source+"\x00"+e.ID] {
			continue
		}
		if err := v.Validate(e.Type, e.Data); err != nil {
			t.Fatalf("generated %s %s is not valid: %v\n%s", e.Type, e.ID, err, e.Data)
		}
	}
}

// reviewPeriods lists every period a history's activities or curations name.
func reviewPeriods(history []ledger.Event) []string {
	ps := map[string]bool{}
	for _, e := range history {
		var d struct {
			Start, Period string
			Data          struct{ Start, Period string }
		}
		_ = json.Unmarshal(e.Data, &d)
		for _, s := range []string{d.Start, d.Data.Start} {
			if p, err := PeriodOf(s); err == nil {
				ps[p] = true
			}
		}
		for _, p := range []string{d.Period, d.Data.Period} {
			if _, err := ParsePeriod(p); err == nil {
				ps[p] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(ps))
}

// itemLines writes sections one item a line, for a readable difference.
func itemLines(secs []Section) []string {
	var out []string
	for _, s := range secs {
		for _, it := range s.Items {
			b, _ := json.Marshal(it)
			out = append(out, s.ID+" "+string(b))
		}
	}
	return out
}

// checkReview compares every period of the view with naiveReview of the history, and the list
// of periods.
func checkReview(t *testing.T, what string, v *Views, history []ledger.Event) {
	t.Helper()
	var want []string
	for _, p := range reviewPeriods(history) {
		r, err := v.Review(t.Context(), p)
		if err != nil {
			t.Fatalf("%s: review %s: %v", what, p, err)
		}
		exp := naiveReview(history, p)
		gotJ, _ := json.Marshal(r.Sections)
		expJ, _ := json.Marshal(exp)
		n := 0
		var firstSeq uint64
		for _, s := range exp {
			for _, it := range s.Items {
				n++
				if firstSeq == 0 || it.Seq < firstSeq {
					firstSeq = it.Seq
				}
			}
		}
		if n > 0 {
			want = append(want, p)
		}
		if !bytes.Equal(gotJ, expJ) {
			g, e := itemLines(r.Sections), itemLines(exp)
			var diff []string
			for _, l := range g {
				if !slices.Contains(e, l) {
					diff = append(diff, "view only:   "+l)
				}
			}
			for _, l := range e {
				if !slices.Contains(g, l) {
					diff = append(diff, "oracle only: "+l)
				}
			}
			if len(diff) == 0 {
				diff = append(diff, "same items, another order:", strings.Join(g, "\n"), "want", strings.Join(e, "\n"))
			}
			t.Fatalf("%s: review %s (at seq %d) differs from the reference:\n%s", what, p, len(history), strings.Join(diff, "\n"))
		}
		if r.Provenance.FirstSeq != firstSeq {
			t.Errorf("%s: review %s first_seq %d, want %d", what, p, r.Provenance.FirstSeq, firstSeq)
		}
	}
	got, err := v.Periods(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: periods %v, want %v", what, got, want)
	}
}

// buildAt builds the views as known after sequence seq (the package's as-known build, stopped by
// sequence rather than time).
func buildAt(t *testing.T, h *harness, seq uint64) *Views {
	t.Helper()
	v, err := Open(h.ctx, Config{Dir: t.TempDir(), JS: h.js, DisableFeed: true, Until: time.Now().Add(time.Hour), testUntilSeq: seq})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close(context.Background()) })
	if err := v.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	<-v.once.done
	return v
}

// TestReviewMatchesReference checks the review view against naiveReview over random histories
// (reviewGen): built as the events come, in batches of random sizes; rebuilt; built from
// sequence 1 one event at a time; and as known at points of the ledger, by sequence and by
// ledger time. More with -projections.reviewseeds and -projections.reviewevents.
func TestReviewMatchesReference(t *testing.T) {
	for seed := range uint64(*reviewSeeds) {
		t.Run(fmt.Sprint(seed+1), func(t *testing.T) {
			h := newHarness(t)
			g := newReviewGen(seed + 1)
			if seed%3 == 2 {
				g.few = 12
			}
			history := g.take(*reviewEvents)
			checkSchemas(t, g, history)
			cfg := h.config(t.TempDir())
			cfg.BatchMaxCount = 1 + g.r.IntN(8)
			if seed%2 == 1 { // the memo of curated items forgets: every placement reads
				c := curationMemoMax
				t.Cleanup(func() { curationMemoMax = c }) // after the views close: cleanups run last first
				curationMemoMax = 2
			}
			live := h.open(cfg)
			restarted := false
			for i := 0; i < len(history); {
				n := min(len(history)-i, 1+g.r.IntN(25))
				h.wait(live, h.publish(history[i:i+n]...))
				i += n
				if !restarted && i > len(history)/2 { // a restart: the memo starts from the stored keys
					restarted = true
					if err := live.Close(h.ctx); err != nil {
						t.Fatal(err)
					}
					live = h.open(cfg)
				}
				if g.r.IntN(3) == 0 || i == len(history) {
					checkReview(t, "live", live, history[:i])
				}
			}
			if err := live.Rebuild(h.ctx, ViewReview); err != nil {
				t.Fatal(err)
			}
			h.wait(live, uint64(len(history)))
			checkReview(t, "rebuilt", live, history)
			one := h.config(t.TempDir())
			one.BatchMaxCount = 1
			fresh := h.open(one)
			h.wait(fresh, uint64(len(history)))
			checkReview(t, "built one event a batch", fresh, history)
			sameViews(t, live, fresh)
			for range 3 {
				seq := 1 + g.r.IntN(len(history))
				checkReview(t, fmt.Sprintf("as known at seq %d", seq), buildAt(t, h, uint64(seq)), history[:seq])
			}
			// as known at a ledger time: the events appended up to it
			m, err := h.js.Stream(h.ctx, ledger.StreamName)
			if err != nil {
				t.Fatal(err)
			}
			mid := uint64(1 + g.r.IntN(len(history)))
			msg, err := m.GetMsg(h.ctx, mid)
			if err != nil {
				t.Fatal(err)
			}
			upto := mid
			for ; upto < uint64(len(history)); upto++ {
				next, err := m.GetMsg(h.ctx, upto+1)
				if err != nil {
					t.Fatal(err)
				}
				if next.Time.After(msg.Time) {
					break
				}
			}
			known, err := BuildAsKnown(h.ctx, h.js, msg.Time, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer known.Close(context.Background())
			checkReview(t, fmt.Sprintf("as known at %s", msg.Time.Format(time.RFC3339Nano)), known, history[:upto])
		})
	}
}

// TestReviewVersionCountsChanges: built event by event, a period's version goes up whenever its
// review (as naiveReview reads it) changed, and never goes down. It may also go up when an event
// acted on an item of the period without changing what the review reads (README, Contract
// changes): that is not checked.
func TestReviewVersionCountsChanges(t *testing.T) {
	h := newHarness(t)
	g := newReviewGen(99)
	history := g.take(min(*reviewEvents, 120))
	periods := reviewPeriods(history)
	cfg := h.config(t.TempDir())
	cfg.BatchMaxCount = 1
	v := h.open(cfg)
	prev := map[string]string{}
	vers := map[string]uint64{}
	for i, e := range history {
		h.wait(v, h.publish(e))
		for _, p := range periods {
			r, err := v.Review(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			j, _ := json.Marshal(naiveReview(history[:i+1], p))
			changed := prev[p] != "" && string(j) != prev[p] || prev[p] == "" && bytes.Contains(j, []byte(`"source"`))
			prev[p] = string(j)
			if r.Version < vers[p] || changed && r.Version == vers[p] {
				t.Fatalf("seq %d (%s %s): review %s changed %v, version %d → %d", i+1, e.Type, e.ID, p, changed, vers[p], r.Version)
			}
			vers[p] = r.Version
		}
	}
}
