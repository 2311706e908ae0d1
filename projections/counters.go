package projections

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The counters view: "Compact in numbers" as of any date (activity time).
//
// Keys (inside the view's prefix):
//
//	f <group u32>                         Fenwick nodes, sixteen to a key: those not zero, and of
//	                                      them the counters not zero (fenwick.go); g the same of
//	                                      the outer tree
//	m                                     latest activity date applied (the as_of of the totals)
//	e enc(source) enc(id)                 what a corrected or retracted event contributes now
//	                                      (contribution JSON), so that a further correction takes it
//	                                      back exactly; an event with no record contributes what its
//	                                      data says, read again from the ledger (original.go)
//	t <ns> enc(subject) <date> <seq8>     timeline entries (timelines.go): ns 'e' entity membership,
//	                                      'f' focal point
//	a enc(actor) <date>                   net active focal points of a state or org starting that date
//	                                      (actors.go)
//	b                                     the magnitude the plain deltas hold, per counter (8 int64):
//	                                      the sum of |delta| over every contribution applied
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
//
// A counter never passes ±(2^53-1), the largest integer every JSON reader holds exactly. The
// ledger bounds each count and value so, but not their sum: 1,030 visits counted at 2^53-1
// each wrapped virtual_visits around int64 to a large negative number. So the view keeps, per
// counter, the sum of the magnitudes of the plain deltas it holds (key b) and quarantines an
// event that would take it past 2^53-1. That sum bounds every node of the Fenwick trees and
// every total as of any date, whatever the signs and the order of the deltas; the timelines'
// deltas (±1 an event) add at most the number of events to it.
type countersView struct{ version int }

// countersVersion is 2 since counts and values written 12.0 or 1e2, integers for JSON Schema
// and accepted by the ledger, are counted: version 1 quarantined them, so its stored views can
// differ from a rebuild and are rebuilt at start-up. It is 3 since dates from 2192-04-11 on
// have a day of their own in the Fenwick tree and dates after 2258-11-11 are quarantined
// (fenwick.go): version 2 counted all of them on one day, 2192-04-10. It is 4 since dates
// before 1900-01-01 and after 2258-11-11 are counted, in a tree of their own (fenwick.go):
// version 3 quarantined them. The main tree's keys did not change, so a stored view of version
// 3 serves as it did while its rebuild runs. It is 5 since a counter's plain deltas are bounded
// (key b): version 4 let a sum wrap around int64, and has no b to bound from. It is 6 since
// only corrected and retracted events have a record (key e): version 5 wrote one for every
// event that counts, which a rebuild no longer does. It is 7 since the Fenwick nodes are
// stored sixteen to a key (fenwick.go): version 6 had a key per node.
const countersVersion = 7

// maxCounted is the largest magnitude the plain deltas of one counter may sum to: 2^53-1.
const maxCounted = 1<<53 - 1

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

// isCountingType reports whether events of type t can contribute to a counter: only these can.
func isCountingType(t string) bool {
	switch t {
	case "compact.entity.joined", "compact.entity.left",
		"compact.focal_point.registered", "compact.focal_point.removed",
		"compact.document.shared", "compact.platform.visits.counted",
		"compact.recommendations.issued", "compact.visit.conducted",
		"compact.counter.opened":
		return true
	}
	return false
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
	// Field is the member of the event's data V comes from, for an error about it; it is not
	// stored (a contribution read back only takes its deltas away).
	Field string `json:"-"`
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

// jsonInt reads a field the schemas type "integer" (absent or null: nil). JSON Schema calls
// every number without a fractional part an integer, 12.0 and 1e2 included, and the ledger's
// validator accepts them, so the views must apply them too; json.Unmarshal into an int64 would
// refuse them and quarantine a valid event. An integer beyond int64 is an error: the counters
// hold int64.
func jsonInt(field string, raw json.RawMessage) (*int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	n, err := jsonInteger(raw)
	if err != nil {
		return nil, &DataError{Field: field, Err: ErrInvalidData, Message: err.Error()}
	}
	return &n, nil
}

// jsonInteger is the value of the JSON number b if it is an integer that fits in an int64. It
// works on the decimal digits, exactly: through float64, 12.000000000000001 would be 12 and
// 9223372036854775807 would not fit.
func jsonInteger(b []byte) (int64, error) {
	s := string(b)
	digitsEnd := func(i int) int {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i
	}
	i := 0
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	j := digitsEnd(i)
	intPart := s[i:j]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return 0, notNumber(s)
	}
	if j == len(s) { // the usual form: plain digits
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, outOfRange(s)
		}
		return n, nil
	}
	frac := ""
	if j < len(s) && s[j] == '.' {
		k := digitsEnd(j + 1)
		if frac = s[j+1 : k]; frac == "" {
			return 0, notNumber(s)
		}
		j = k
	}
	exp := 0
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		esign := 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			if s[k] == '-' {
				esign = -1
			}
			k++
		}
		end := digitsEnd(k)
		if end == k {
			return 0, notNumber(s)
		}
		// Past 9 digits the exponent is beyond any number of digits a message can hold: it
		// saturates, and its sign alone decides (out of range, or a fraction).
		ed := strings.TrimLeft(s[k:end], "0")
		if len(ed) > 9 {
			ed = "999999999"
		}
		for _, c := range ed {
			exp = exp*10 + int(c-'0')
		}
		exp *= esign
		j = end
	}
	if j != len(s) {
		return 0, notNumber(s)
	}
	// the value is digits × 10^shift
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return 0, nil // 0, -0, 0.0, 0e7
	}
	shift := exp - len(frac)
	trimmed := strings.TrimRight(digits, "0")
	shift += len(digits) - len(trimmed)
	digits = trimmed
	if shift < 0 {
		return 0, fmt.Errorf("%.40s is not an integer", s)
	}
	if len(digits)+shift > 19 { // int64 has at most 19 digits
		return 0, outOfRange(s)
	}
	v := digits + strings.Repeat("0", shift)
	if neg {
		v = "-" + v
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, outOfRange(s)
	}
	return n, nil
}

func notNumber(s string) error {
	return fmt.Errorf("%.40s is not a number: an integer is expected", s)
}

func outOfRange(s string) error {
	return fmt.Errorf("%.40s is out of range: an integer from %d to %d is expected", s, int64(math.MinInt64), int64(math.MaxInt64))
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
		if !isCountingType(o.Type) {
			return nil
		}
		old, err := p.load(tx, ev.Source, c.Corrects, o)
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
			return prefixField(err, "/data")
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
		if !isCountingType(o.Type) {
			return nil
		}
		old, err := p.load(tx, ev.Source, r.Retracts, o)
		if err != nil || old.Retracted {
			return err // retracting twice changes nothing
		}
		if err := p.apply(tx, old, -1); err != nil {
			return err
		}
		return p.save(tx, ev.Source, r.Retracts, contribution{Retracted: true})
	}
	if !isCountingType(ev.Type) {
		return nil
	}
	c, err := contributionOf(ev.Type, ev.Data, ev.Seq)
	if err != nil {
		return err
	}
	// no record: what it contributed is what its data says until a correction or retraction
	// (original.go)
	return p.apply(tx, c, +1)
}

func prefixField(err error, prefix string) error {
	if de, ok := err.(*DataError); ok {
		cp := *de
		cp.Field = prefix + cp.Field
		return &cp
	}
	return err
}

// load returns what the event (source, id), the original o, contributes now: its record, when
// a correction or retraction wrote one, else what its data says, read again from the ledger;
// nothing when this view quarantined it.
func (p *countersView) load(tx *Tx, source, id string, o Original) (contribution, error) {
	var c contribution
	b, ok, err := tx.Get(contribKey(source, id))
	if err != nil {
		return c, err
	}
	if ok {
		if err := json.Unmarshal(b, &c); err != nil {
			return c, fmt.Errorf("counters: stored contribution of %s %s is corrupt: %w; run compact rebuild counters", source, id, err)
		}
		return c, nil
	}
	if q, err := tx.quarantined(o.Seq); q || err != nil {
		return c, err
	}
	ev, err := tx.event(o)
	if err != nil {
		return c, err
	}
	if c, err = contributionOf(o.Type, ev.Data, o.Seq); err != nil {
		return c, fmt.Errorf("counters: event %s %s (seq %d) was applied but its data no longer counts (%v); run compact rebuild counters", source, id, o.Seq, err)
	}
	return c, nil
}

// save records what the event (source, id) contributes after a correction or retraction, even
// nothing: a missing record means "what its data says" (load).
func (p *countersView) save(tx *Tx, source, id string, c contribution) error {
	b, err := marshalContribution(c)
	if err != nil {
		return err
	}
	return tx.setOwn(contribKey(source, id), b)
}

func contribKey(source, id string) []byte { return cat([]byte{'e'}, enc(source, id)) }

// contributionOf computes what an event of type typ with data contributes. Its errors name the
// field relative to data.
func contributionOf(typ string, raw json.RawMessage, seq uint64) (contribution, error) {
	var c contribution
	var d countingData
	if len(raw) == 0 || raw[0] != '{' || !fastCounting(raw, &d) {
		d = countingData{}
		if err := decodeData(raw, &d); err != nil {
			return c, err
		}
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
		n, err := jsonInt("/count", d.Count)
		if err != nil {
			return c, err
		}
		if n == nil || *n < 0 {
			return c, invalid("/count", "missing or negative")
		}
		c.Deltas = []cdelta{{C: cVirtualVisits, At: d.To, V: *n, Field: "/count"}}
	case "compact.recommendations.issued":
		if err := date("date", d.Date); err != nil {
			return c, err
		}
		n, err := jsonInt("/count", d.Count)
		if err != nil {
			return c, err
		}
		if n == nil || *n < 0 {
			return c, invalid("/count", "missing or negative")
		}
		c.Deltas = []cdelta{{C: cTARecommendations, At: d.Date, V: *n, Field: "/count"}}
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
		n, err := jsonInt("/value", d.Value)
		if err != nil {
			return c, err
		}
		if n == nil {
			return c, invalid("/value", "missing")
		}
		c.Deltas = []cdelta{{C: i, At: d.Date, V: *n, Field: "/value"}}
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
	if err := p.weigh(tx, c.Deltas, sign); err != nil {
		return err
	}
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

// weigh adds the magnitudes of deltas (sign +1) to the counters' bound, or takes them back
// (sign -1), and refuses deltas that would take a counter past maxCounted.
func (p *countersView) weigh(tx *Tx, deltas []cdelta, sign int64) error {
	if len(deltas) == 0 {
		return nil
	}
	b, _, err := tx.Get([]byte{'b'})
	if err != nil {
		return err
	}
	mass := decodeVec(b)
	for _, d := range deltas {
		m := magnitude(d.V)
		if sign < 0 {
			mass[d.C] -= int64(min(m, uint64(mass[d.C])))
			continue
		}
		if m > uint64(maxCounted-mass[d.C]) {
			return &DataError{Field: d.Field, Err: ErrInvalidData, Message: fmt.Sprintf(
				"%d would take %s past %d, the largest total the counters hold exactly (it holds %d in counts and values already)",
				d.V, CounterNames[d.C], int64(maxCounted), mass[d.C])}
		}
		mass[d.C] += int64(m)
	}
	return tx.setOwn([]byte{'b'}, encodeVec(mass))
}

// magnitude is |v|, for every int64 (|MinInt64| does not fit in an int64).
func magnitude(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}

func (p *countersView) noteDate(tx *Tx, date string) error {
	cur, _, err := tx.Get([]byte{'m'})
	if err != nil || string(cur) >= date {
		return err
	}
	return tx.setOwn([]byte{'m'}, []byte(date))
}

// countersAt reads the counters as of a date from one generation: at most fenwickBits+1 Gets.
func countersAt(r *reader, asOf string) (Counters, error) {
	out := Counters{AsOf: asOf}
	v, err := fenwickAt(r, asOf)
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
	v, err := fenwickTotal(r)
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
