package projections

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// The counters view: "Compact in numbers" as of any date (activity time).
//
// Keys (inside the view's prefix):
//
//	f <node u32>                          Fenwick node: 8 int64, one per counter (fenwick.go)
//	m                                     latest activity date applied (the as_of of the totals)
//	e enc(source) enc(id)                 what an event contributed (contribution JSON), so that a
//	                                      correction or retraction can take it back exactly
//	t <ns> enc(subject) <date> <seq8>     timeline entries: ns 'e' entity membership, 'f' focal point
//	a enc(actor) <date>                   net active focal points of a state or org starting that date
//
// Plain counters (documents, visits, recommendations, assessments, opening balances) are deltas
// at a date. Entities and focal points are timelines: the state of one entity or focal point on
// a date is the value of its last event (by date, then sequence) on or before it, so a second
// registration of the same focal point does not count twice and events may arrive in any date
// order. member_states and organizations count actors whose number of active focal points is
// ≥ 1: each actor keeps per-date net counts and contributes +1 where its count rises to 1 and
// -1 where it falls to 0. Every change is made by taking back the old contribution and adding
// the new one, so corrections, retractions and back-dated events all end in the state a rebuild
// gives.
type countersView struct{ version int }

const countersVersion = 1

// counter indexes, in the order of CounterNames.
const (
	cEntities = iota
	cMemberStates
	cOrganizations
	cFocalPoints
	cDocumentsShared
	cVirtualVisits
	cTARecommendations
	cCountryAssessments
)

func (p *countersView) Name() string { return ViewCounters }
func (p *countersView) Version() int { return p.version }

// countingTypes are the only types that can contribute to a counter.
var countingTypes = map[string]bool{
	"compact.entity.joined": true, "compact.entity.left": true,
	"compact.focal_point.registered": true, "compact.focal_point.removed": true,
	"compact.document.shared": true, "compact.platform.visits.counted": true,
	"compact.recommendations.issued": true, "compact.visit.conducted": true,
	"compact.counter.opened": true,
}

type contribution struct {
	Deltas    []cdelta `json:"d,omitempty"`
	TL        *tlEntry `json:"tl,omitempty"`
	Retracted bool     `json:"x,omitempty"`
}

type cdelta struct {
	C  int    `json:"c"`
	At string `json:"at"`
	V  int64  `json:"v"`
}

type tlEntry struct {
	NS   byte   `json:"ns"` // 'e' entity, 'f' focal point
	Subj string `json:"s"`
	At   string `json:"at"`
	Seq  uint64 `json:"q"`
	Val  string `json:"v"` // "" inactive
}

type correctionData struct {
	Corrects string          `json:"corrects"`
	Data     json.RawMessage `json:"data"`
	Reason   string          `json:"reason"`
}

type retractionData struct {
	Retracts string `json:"retracts"`
	Reason   string `json:"reason"`
}

func decodeData(raw json.RawMessage, into any) error {
	if len(raw) == 0 || raw[0] != '{' {
		return invalid("", "data is not a JSON object")
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return invalid("", "cannot decode data: %v", err)
	}
	return nil
}

func (p *countersView) Apply(tx *Tx, ev *Event) error {
	switch ev.Type {
	case TypeCorrected:
		var c correctionData
		if err := decodeData(ev.Data, &c); err != nil {
			return err
		}
		o, err := tx.target(ev.Source, c.Corrects, "/corrects")
		if err != nil {
			return err
		}
		if !countingTypes[o.Type] {
			return nil
		}
		old, err := p.load(tx, ev.Source, c.Corrects)
		if err != nil {
			return err
		}
		if old.Retracted {
			return &DataError{Field: "/corrects", Err: ErrRetracted,
				Message: fmt.Sprintf("event %q was retracted; publish a new event instead", c.Corrects)}
		}
		next, err := contributionOf(o.Type, c.Data, o.Seq)
		if err != nil {
			return prefixField(err, "/data")
		}
		if err := p.apply(tx, old, -1); err != nil {
			return err
		}
		if err := p.apply(tx, next, +1); err != nil {
			return err
		}
		return p.save(tx, ev.Source, c.Corrects, next)
	case TypeRetracted:
		var r retractionData
		if err := decodeData(ev.Data, &r); err != nil {
			return err
		}
		o, err := tx.target(ev.Source, r.Retracts, "/retracts")
		if err != nil {
			return err
		}
		if !countingTypes[o.Type] {
			return nil
		}
		old, err := p.load(tx, ev.Source, r.Retracts)
		if err != nil || old.Retracted {
			return err // retracting twice changes nothing
		}
		if err := p.apply(tx, old, -1); err != nil {
			return err
		}
		return p.save(tx, ev.Source, r.Retracts, contribution{Retracted: true})
	}
	if !countingTypes[ev.Type] {
		return nil
	}
	c, err := contributionOf(ev.Type, ev.Data, ev.Seq)
	if err != nil {
		return err
	}
	if err := p.apply(tx, c, +1); err != nil {
		return err
	}
	return p.save(tx, ev.Source, ev.ID, c)
}

func prefixField(err error, prefix string) error {
	if de, ok := err.(*DataError); ok {
		cp := *de
		cp.Field = prefix + cp.Field
		return &cp
	}
	return err
}

func (p *countersView) load(tx *Tx, source, id string) (contribution, error) {
	var c contribution
	b, ok, err := tx.Get(cat([]byte{'e'}, enc(source, id)))
	if err != nil || !ok {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("counters: stored contribution of %s %s is corrupt: %w; run compact rebuild counters", source, id, err)
	}
	return c, nil
}

func (p *countersView) save(tx *Tx, source, id string, c contribution) error {
	k := cat([]byte{'e'}, enc(source, id))
	if len(c.Deltas) == 0 && c.TL == nil && !c.Retracted {
		return tx.Delete(k)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return tx.Set(k, b)
}

// contributionOf computes what an event of type typ with data contributes. Its errors name the
// field relative to data.
func contributionOf(typ string, raw json.RawMessage, seq uint64) (contribution, error) {
	var c contribution
	var d struct {
		Entity     string  `json:"entity"`
		Status     string  `json:"status"`
		Date       string  `json:"date"`
		FocalPoint string  `json:"focal_point"`
		Represents *Actor  `json:"represents"`
		From       string  `json:"from"`
		To         string  `json:"to"`
		Count      *int64  `json:"count"`
		Purpose    string  `json:"purpose"`
		Start      string  `json:"start"`
		Organizers []Actor `json:"organizers"`
		Counter    string  `json:"counter"`
		Value      *int64  `json:"value"`
	}
	if err := decodeData(raw, &d); err != nil {
		return c, err
	}
	date := func(field, v string) error {
		if _, err := dayIndex(v); err != nil {
			return invalid("/"+field, "%v", err)
		}
		return nil
	}
	switch typ {
	case "compact.entity.joined", "compact.entity.left":
		if d.Entity == "" {
			return c, invalid("/entity", "missing")
		}
		if err := date("date", d.Date); err != nil {
			return c, err
		}
		val := ""
		if typ == "compact.entity.joined" {
			if d.Status != "member" && d.Status != "observer" {
				return c, invalid("/status", "%q is neither member nor observer", d.Status)
			}
			val = d.Status
		}
		c.TL = &tlEntry{NS: 'e', Subj: d.Entity, At: d.Date, Seq: seq, Val: val}
	case "compact.focal_point.registered", "compact.focal_point.removed":
		if d.FocalPoint == "" {
			return c, invalid("/focal_point", "missing")
		}
		if err := date("date", d.Date); err != nil {
			return c, err
		}
		val := ""
		if typ == "compact.focal_point.registered" {
			a, err := actorValue(d.Represents)
			if err != nil {
				return c, err
			}
			val = a
		}
		c.TL = &tlEntry{NS: 'f', Subj: d.FocalPoint, At: d.Date, Seq: seq, Val: val}
	case "compact.document.shared":
		if err := date("date", d.Date); err != nil {
			return c, err
		}
		c.Deltas = []cdelta{{C: cDocumentsShared, At: d.Date, V: 1}}
	case "compact.platform.visits.counted":
		if err := date("to", d.To); err != nil {
			return c, err
		}
		if d.Count == nil || *d.Count < 0 {
			return c, invalid("/count", "missing or negative")
		}
		c.Deltas = []cdelta{{C: cVirtualVisits, At: d.To, V: *d.Count}}
	case "compact.recommendations.issued":
		if err := date("date", d.Date); err != nil {
			return c, err
		}
		if d.Count == nil || *d.Count < 0 {
			return c, invalid("/count", "missing or negative")
		}
		c.Deltas = []cdelta{{C: cTARecommendations, At: d.Date, V: *d.Count}}
	case "compact.visit.conducted":
		if err := date("start", d.Start); err != nil {
			return c, err
		}
		if (d.Purpose == "assessment" || d.Purpose == "follow_up_assessment") &&
			slices.ContainsFunc(d.Organizers, func(a Actor) bool { return a.Entity == "CTED" }) {
			c.Deltas = []cdelta{{C: cCountryAssessments, At: d.Start, V: 1}}
		}
	case "compact.counter.opened":
		if err := date("date", d.Date); err != nil {
			return c, err
		}
		i := slices.Index(CounterNames, d.Counter)
		if i < 0 {
			return c, invalid("/counter", "%q is not a counter (one of %v)", d.Counter, CounterNames)
		}
		if d.Value == nil {
			return c, invalid("/value", "missing")
		}
		c.Deltas = []cdelta{{C: i, At: d.Date, V: *d.Value}}
	}
	return c, nil
}

// actorValue is how a focal point's "represents" is kept in its timeline: "s:<state>" and
// "o:<org>" (international or regional) count toward member_states and organizations; an
// entity or another kind of body is active ("x:...") but counts only as a focal point.
func actorValue(a *Actor) (string, error) {
	switch {
	case a == nil:
		return "", invalid("/represents", "missing")
	case a.State != "":
		return "s:" + a.State, nil
	case a.Org != "" && (a.Kind == "international" || a.Kind == "regional"):
		return "o:" + a.Org, nil
	case a.Org != "":
		return "x:" + a.Kind + ":" + a.Org, nil
	case a.Entity != "":
		return "x:entity:" + a.Entity, nil
	}
	return "", invalid("/represents", "names no state, org or entity")
}

// apply adds (sign +1) or takes back (sign -1) a contribution.
func (p *countersView) apply(tx *Tx, c contribution, sign int64) error {
	for _, d := range c.Deltas {
		day, err := dayIndex(d.At)
		if err != nil {
			return err
		}
		if err := fenwickAdd(tx, day, d.C, sign*d.V); err != nil {
			return err
		}
		if sign > 0 {
			if err := p.noteDate(tx, d.At); err != nil {
				return err
			}
		}
	}
	if c.TL != nil {
		if err := p.timelineChange(tx, *c.TL, sign > 0); err != nil {
			return err
		}
		if sign > 0 {
			if err := p.noteDate(tx, c.TL.At); err != nil {
				return err
			}
		}
	}
	tx.Notify(ViewCounters)
	return nil
}

func (p *countersView) noteDate(tx *Tx, date string) error {
	cur, _, err := tx.Get([]byte{'m'})
	if err != nil || string(cur) >= date {
		return err
	}
	return tx.Set([]byte{'m'}, []byte(date))
}

type transition struct {
	At       string
	From, To string
}

func tlPrefix(ns byte, subj string) []byte { return cat([]byte{'t', ns}, enc(subj)) }

// tlRow is one timeline entry: its key suffix (date then seq8) and value.
type tlRow struct {
	key string
	val string
}

func loadTimeline(tx *Tx, ns byte, subj string) ([]tlRow, error) {
	p := tlPrefix(ns, subj)
	var rows []tlRow
	err := tx.Scan(p, prefixEnd(p), func(k, v []byte) (bool, error) {
		if len(k)-len(p) < 10 {
			return false, fmt.Errorf("counters: timeline key %q is corrupt; run compact rebuild counters", k)
		}
		rows = append(rows, tlRow{key: string(k[len(p):]), val: string(v)})
		return true, nil
	})
	return rows, err
}

// transitionsOf lists where a subject's state changes: the state at the end of each date is the
// value of its last entry that date.
func transitionsOf(rows []tlRow) []transition {
	var out []transition
	prev := ""
	for i, r := range rows {
		date := r.key[:10]
		if i+1 < len(rows) && rows[i+1].key[:10] == date {
			continue // not the last entry of its date
		}
		if r.val != prev {
			out = append(out, transition{At: date, From: prev, To: r.val})
			prev = r.val
		}
	}
	return out
}

// cancelCommon drops the transitions present in both lists: only the difference is emitted.
func cancelCommon[T comparable](old, new []T) ([]T, []T) {
	var o []T
	n := slices.Clone(new)
	for _, t := range old {
		if i := slices.Index(n, t); i >= 0 {
			n = slices.Delete(n, i, i+1)
			continue
		}
		o = append(o, t)
	}
	return o, n
}

func (p *countersView) timelineChange(tx *Tx, e tlEntry, add bool) error {
	rows, err := loadTimeline(tx, e.NS, e.Subj)
	if err != nil {
		return err
	}
	old := transitionsOf(rows)
	suffix := e.At + string(u64(e.Seq))
	i, found := slices.BinarySearchFunc(rows, suffix, func(r tlRow, k string) int { return strings.Compare(r.key, k) })
	k := cat(tlPrefix(e.NS, e.Subj), []byte(suffix))
	switch {
	case add && found:
		rows[i].val = e.Val
		err = tx.Set(k, []byte(e.Val))
	case add:
		rows = slices.Insert(rows, i, tlRow{key: suffix, val: e.Val})
		err = tx.Set(k, []byte(e.Val))
	case found:
		rows = slices.Delete(rows, i, i+1)
		err = tx.Delete(k)
	}
	if err != nil {
		return err
	}
	old, now := cancelCommon(old, transitionsOf(rows))
	for _, t := range old {
		if err := p.emit(tx, e.NS, t, -1); err != nil {
			return err
		}
	}
	for _, t := range now {
		if err := p.emit(tx, e.NS, t, +1); err != nil {
			return err
		}
	}
	return nil
}

// emit turns a subject's state change into counter deltas.
func (p *countersView) emit(tx *Tx, ns byte, t transition, sign int64) error {
	day, err := dayIndex(t.At)
	if err != nil {
		return err
	}
	if ns == 'e' {
		from, to := t.From == "member", t.To == "member"
		if from != to {
			return fenwickAdd(tx, day, cEntities, sign*b2i(to))
		}
		return nil
	}
	from, to := t.From != "", t.To != ""
	if from != to {
		if err := fenwickAdd(tx, day, cFocalPoints, sign*b2i(to)); err != nil {
			return err
		}
	}
	if countable(t.From) {
		if err := p.actorAdd(tx, t.From, t.At, -sign); err != nil {
			return err
		}
	}
	if countable(t.To) {
		if err := p.actorAdd(tx, t.To, t.At, sign); err != nil {
			return err
		}
	}
	return nil
}

func b2i(up bool) int64 {
	if up {
		return 1
	}
	return -1
}

func countable(v string) bool {
	return len(v) > 2 && (v[:2] == "s:" || v[:2] == "o:")
}

type step1 struct {
	At string
	V  int64
}

type actorRow struct {
	date string
	n    int64
}

// indicatorOf lists where an actor's active focal points rise to ≥1 (+1) or fall to 0 (-1).
func indicatorOf(rows []actorRow) []step1 {
	var out []step1
	var sum int64
	for _, r := range rows {
		before := sum
		sum += r.n
		switch {
		case before < 1 && sum >= 1:
			out = append(out, step1{r.date, 1})
		case before >= 1 && sum < 1:
			out = append(out, step1{r.date, -1})
		}
	}
	return out
}

func (p *countersView) actorAdd(tx *Tx, actor, at string, delta int64) error {
	pre := cat([]byte{'a'}, enc(actor))
	var rows []actorRow
	err := tx.Scan(pre, prefixEnd(pre), func(k, v []byte) (bool, error) {
		rows = append(rows, actorRow{date: string(k[len(pre):]), n: int64(getU64(v))})
		return true, nil
	})
	if err != nil {
		return err
	}
	old := indicatorOf(rows)
	i, found := slices.BinarySearchFunc(rows, at, func(r actorRow, d string) int { return strings.Compare(r.date, d) })
	if !found {
		rows = slices.Insert(rows, i, actorRow{date: at})
	}
	rows[i].n += delta
	k := cat(pre, []byte(at))
	if rows[i].n == 0 {
		rows = slices.Delete(rows, i, i+1)
		err = tx.Delete(k)
	} else {
		err = tx.Set(k, u64(uint64(rows[i].n)))
	}
	if err != nil {
		return err
	}
	c := cMemberStates
	if actor[0] == 'o' {
		c = cOrganizations
	}
	old, now := cancelCommon(old, indicatorOf(rows))
	for _, s := range old {
		day, _ := dayIndex(s.At)
		if err := fenwickAdd(tx, day, c, -s.V); err != nil {
			return err
		}
	}
	for _, s := range now {
		day, _ := dayIndex(s.At)
		if err := fenwickAdd(tx, day, c, s.V); err != nil {
			return err
		}
	}
	return nil
}

// countersAt reads the counters as of a date from one generation: at most fenwickBits+1 Gets.
func countersAt(r *reader, asOf string) (Counters, error) {
	out := Counters{AsOf: asOf}
	day, err := clampDay(asOf)
	if err != nil {
		return out, err
	}
	if day < 0 {
		return out, nil
	}
	v, err := fenwickPrefix(r, day)
	if err != nil {
		return out, err
	}
	out.Entities, out.MemberStates, out.Organizations, out.FocalPoints = v[0], v[1], v[2], v[3]
	out.DocumentsShared, out.VirtualVisits, out.TARecommendations, out.CountryAssessments = v[4], v[5], v[6], v[7]
	return out, nil
}

// countersTotal reads the counters over every date: the totals of the change feed, labelled
// with the latest activity date applied.
func countersTotal(r *reader) (Counters, error) {
	last, ok, err := r.Get([]byte{'m'})
	if err != nil {
		return Counters{}, err
	}
	v, err := fenwickPrefix(r, fenwickSize-1)
	if err != nil {
		return Counters{}, err
	}
	out := Counters{}
	if ok {
		out.AsOf = string(last)
	}
	out.Entities, out.MemberStates, out.Organizations, out.FocalPoints = v[0], v[1], v[2], v[3]
	out.DocumentsShared, out.VirtualVisits, out.TARecommendations, out.CountryAssessments = v[4], v[5], v[6], v[7]
	return out, nil
}
