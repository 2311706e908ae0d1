package projections

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// The review view: one bimonthly review per period.
//
// Keys (inside the view's prefix):
//
//	i enc(source) enc(id)                     itemRec: where the activity is listed, and what its
//	                                          listed Item does not say of it (codec.go); only for
//	                                          an activity corrected, retracted or not listed: one
//	                                          listed as published has none (itemRec.derivable)
//	p <period 7> <section 1> <start 10> <seq8> the listed Item (codec.go): a period's review is one
//	                                          prefix scan
//	v <period>                                the period's version (u64): one more for every event
//	                                          that placed an item in the period (listed or omitted)
//	                                          or took one out, whether or not the review reads
//	                                          differently after it: versions are a function of the
//	                                          events (README, Contract changes)
//	n <period>                                how many items the period lists (u64)
//	c enc(item source) enc(item id) <seq8>    a Secretariat curation of an item (the last one for
//	                                          the period the item is in wins; seq8 is the curation's
//	                                          own sequence, kept when it is corrected)
//	k enc(source) enc(id)                     a curation event: which item it acts on, for its own
//	                                          correction or retraction
//
// Who may curate is the ingest's business (only the Secretariat's credentials can publish
// compact.review.curated); the view applies every curation in the stream.
//
// Items are keyed by source+id, so the same event twice on the stream lists once (the runtime
// also skips it). Reading a period touches only its p, v keys: the cost depends on the size of
// that period's review, never on the size of the ledger.
type reviewView struct{ version int }

// reviewVersion is 2 since items keep the activity's summary: a view stored by version 1 reads
// as before (its items end before the summary) and is rebuilt at start-up to fill them in. (The
// binary form of codec.go did not change the version: it reads the JSON values of before.)
// It is 3 since a curation for the item's period holds whatever curations for other periods
// came after it: version 2 read only the item's last curation, so its stored listings can
// differ from a rebuild and are rebuilt at start-up.
// It is 4 since an activity listed as published has no record (key i): version 3 wrote one for
// every activity, which a rebuild no longer does.
const reviewVersion = 4

func (p *reviewView) Name() string { return ViewReview }
func (p *reviewView) Version() int { return p.version }

// itemRec is what the view keeps of an activity. A listed activity is its listed Item with
// Format, Section and Partners, so its data is not kept twice; the record of an activity not
// listed (omitted by a curation) keeps its data, for when a curation lists it again.
type itemRec struct {
	Type      string
	Seq       uint64
	CSeq      uint64
	Retracted bool
	// Where it is listed now; Period "" when it is not (omitted or retracted).
	Period string
	Sec    int
	Start  string
	// What the listed Item does not carry of the activity and placement needs.
	Format, Section string
	Partners        []Actor
	// Data is the activity (JSON) while it is not listed and not retracted.
	Data json.RawMessage

	// stored says the record was read from key i (not encoded): a record derived from the
	// event has no key to delete.
	stored bool
}

// derivable reports whether the record says nothing the event's own data does not: the
// activity as published, listed. Such a record is not written (original.go); derive gives
// it back.
func (r *itemRec) derivable() bool { return r.CSeq == 0 && !r.Retracted && r.Period != "" }

type curation struct {
	Period string `json:"period"`
	Item   struct {
		Source string `json:"source"`
		ID     string `json:"id"`
	} `json:"item"`
	Action  string `json:"action"`
	Section string `json:"section,omitempty"`
}

type curationRef struct {
	Source    string `json:"s"`
	ID        string `json:"i"`
	Seq       uint64 `json:"q"`
	Retracted bool   `json:"x,omitempty"`
}

func itemKey(source, id string) []byte        { return cat([]byte{'i'}, enc(source, id)) }
func curationPrefix(source, id string) []byte { return cat([]byte{'c'}, enc(source, id)) }
func curationRefKey(source, id string) []byte { return cat([]byte{'k'}, enc(source, id)) }
func listKey(period string, sec int, start string, seq uint64) []byte {
	return cat([]byte{'p'}, []byte(period), []byte{byte(sec)}, []byte(start), u64(seq))
}

// reviewTx carries the periods an Apply changed, so each version goes up once per event.
type reviewTx struct {
	*Tx
	touched []string // without repeats; an event touches one or two
}

func (t *reviewTx) touch(period string) {
	if !slices.Contains(t.touched, period) {
		t.touched = append(t.touched, period)
	}
}

func (p *reviewView) Apply(tx *Tx, ev *Event) error {
	var periods [2]string
	rt := &reviewTx{Tx: tx, touched: periods[:0]}
	if err := p.apply(rt, ev); err != nil {
		return err
	}
	slices.Sort(rt.touched)
	for _, period := range rt.touched {
		k := cat([]byte{'v'}, []byte(period))
		b, _, err := tx.Get(k)
		if err != nil {
			return err
		}
		if err := tx.setOwn(k, u64(getU64(b)+1)); err != nil {
			return err
		}
		tx.Notify("review:" + period)
	}
	return nil
}

func (p *reviewView) apply(tx *reviewTx, ev *Event) error {
	switch {
	case isActivityType(ev.Type):
		a, err := decodeActivity(ev.Data)
		if err != nil {
			return err
		}
		return p.list(tx, ev.Source, ev.ID, &itemRec{Type: ev.Type, Seq: ev.Seq, Data: ev.Data}, a)
	case ev.Type == TypeCurated:
		c, err := decodeCuration(ev.Data)
		if err != nil {
			return err
		}
		ref := curationRef{Source: c.Item.Source, ID: c.Item.ID, Seq: ev.Seq}
		return p.setCuration(tx, ev.Source, ev.ID, ref, c)
	case ev.Type == TypeCorrected:
		var c correctionData
		if err := decodeData(ev.Data, &c); err != nil {
			return err
		}
		o, err := tx.target(ev.Source, c.Corrects, "/corrects")
		if err != nil {
			return err
		}
		return p.correct(tx, ev, o, c)
	case ev.Type == TypeRetracted:
		var r retractionData
		if err := decodeData(ev.Data, &r); err != nil {
			return err
		}
		o, err := tx.target(ev.Source, r.Retracts, "/retracts")
		if err != nil {
			return err
		}
		return p.retract(tx, ev.Source, r.Retracts, o)
	}
	return nil
}

func decodeCuration(raw json.RawMessage) (*curation, error) {
	var c curation
	if err := decodeData(raw, &c); err != nil {
		return nil, err
	}
	if _, err := ParsePeriod(c.Period); err != nil {
		return nil, invalid("/period", "%v", err)
	}
	if c.Item.Source == "" || c.Item.ID == "" {
		return nil, invalid("/item", "needs source and id")
	}
	switch c.Action {
	case "omit":
	case "place":
		if sectionIndex(c.Section) < 0 {
			return nil, invalid("/section", "%q is not a section of the review", c.Section)
		}
	default:
		return nil, invalid("/action", "%q is neither place nor omit", c.Action)
	}
	return &c, nil
}

// loadItem returns the record of activity (source, id), the original o: the one key i holds,
// else the one derived from the event (derive); nil when this view quarantined it.
func (p *reviewView) loadItem(tx *reviewTx, source, id string, o Original) (*itemRec, error) {
	b, ok, err := tx.Get(itemKey(source, id))
	if err != nil {
		return nil, err
	}
	if ok {
		rec, err := decodeItemRec(b)
		if err != nil {
			return nil, fmt.Errorf("review: stored item %s %s is corrupt: %w; run compact rebuild review", source, id, err)
		}
		rec.stored = true
		return &rec, nil
	}
	if q, err := tx.quarantined(o.Seq); q || err != nil {
		return nil, err
	}
	return p.derive(tx, source, id, o)
}

// derive gives back the record of an activity the view applied and kept no record of: listed
// as published (itemRec.derivable). Where it is listed follows from its data but for the
// section, which a curation may have chosen: the listing is looked for in each.
func (p *reviewView) derive(tx *reviewTx, source, id string, o Original) (*itemRec, error) {
	ev, err := tx.event(o)
	if err != nil {
		return nil, err
	}
	a, err := decodeActivity(ev.Data)
	if err != nil {
		return nil, fmt.Errorf("review: item %s %s (seq %d) was applied but its data no longer reads (%v); run compact rebuild review", source, id, o.Seq, err)
	}
	period, _ := PeriodOf(a.Start)
	for sec := range Sections {
		_, ok, err := tx.Get(listKey(period, sec, a.Start, o.Seq))
		if err != nil {
			return nil, err
		}
		if ok {
			return &itemRec{Type: o.Type, Seq: o.Seq, Period: period, Sec: sec, Start: a.Start,
				Format: a.Format, Section: a.Section, Partners: a.Partners}, nil
		}
	}
	return nil, fmt.Errorf("review: item %s %s (seq %d) has neither a record nor a listing in %s; run compact rebuild review", source, id, o.Seq, period)
}

// activityOf gives back the activity of an item record: its data when it keeps it, else its
// listed Item and what the record adds to it.
func (p *reviewView) activityOf(tx *reviewTx, source, id string, rec *itemRec) (*activity, error) {
	if rec.Data != nil {
		return decodeActivity(rec.Data)
	}
	corrupt := func(err error) error {
		return fmt.Errorf("review: item %s %s is listed in %s but its listing cannot be read (%v); run compact rebuild review",
			source, id, rec.Period, err)
	}
	if rec.Period == "" {
		return nil, corrupt(errors.New("no listing and no data"))
	}
	b, ok, err := tx.Get(listKey(rec.Period, rec.Sec, rec.Start, rec.Seq))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, corrupt(errors.New("no listing"))
	}
	it, err := decodeItem(b)
	if err != nil {
		return nil, corrupt(err)
	}
	return &activity{Title: it.Title, Summary: it.Summary, Start: it.Start, End: it.End, DatePrecision: it.DatePrecision,
		Organizers: it.Organizers, Partners: rec.Partners, Countries: it.Countries, Links: it.Links,
		Section: rec.Section, Format: rec.Format, Speaker: it.Speaker, Role: it.Role, Quote: it.Quote}, nil
}

func (p *reviewView) loadRef(tx *reviewTx, source, id string) (*curationRef, error) {
	b, ok, err := tx.Get(curationRefKey(source, id))
	if err != nil || !ok {
		return nil, err
	}
	var ref curationRef
	if err := json.Unmarshal(b, &ref); err != nil {
		return nil, fmt.Errorf("review: stored curation %s %s is corrupt: %w; run compact rebuild review", source, id, err)
	}
	return &ref, nil
}

func notInView(field, id string) error {
	return &DataError{Field: field, Err: ErrUnknownTarget,
		Message: fmt.Sprintf("event %q is not in the review view (it was quarantined there)", id)}
}

func (p *reviewView) correct(tx *reviewTx, ev *Event, o Original, c correctionData) error {
	switch {
	case isActivityType(o.Type):
		rec, err := p.loadItem(tx, ev.Source, c.Corrects, o)
		if err != nil {
			return err
		}
		if rec == nil {
			return notInView("/corrects", c.Corrects)
		}
		if rec.Retracted {
			return &DataError{Field: "/corrects", Err: ErrRetracted,
				Message: fmt.Sprintf("event %q was retracted; publish a new event instead", c.Corrects)}
		}
		a, err := decodeActivity(c.Data)
		if err != nil {
			return prefixField(err, "/data")
		}
		rec.Data, rec.CSeq = c.Data, ev.Seq
		return p.list(tx, ev.Source, c.Corrects, rec, a)
	case o.Type == TypeCurated:
		ref, err := p.loadRef(tx, ev.Source, c.Corrects)
		if err != nil {
			return err
		}
		if ref == nil {
			return notInView("/corrects", c.Corrects)
		}
		if ref.Retracted {
			return &DataError{Field: "/corrects", Err: ErrRetracted,
				Message: fmt.Sprintf("curation %q was retracted; publish a new one instead", c.Corrects)}
		}
		nc, err := decodeCuration(c.Data)
		if err != nil {
			return prefixField(err, "/data")
		}
		if err := tx.Delete(cat(curationPrefix(ref.Source, ref.ID), u64(ref.Seq))); err != nil {
			return err
		}
		if err := p.relist(tx, ref.Source, ref.ID); err != nil {
			return err
		}
		next := curationRef{Source: nc.Item.Source, ID: nc.Item.ID, Seq: ref.Seq}
		return p.setCuration(tx, ev.Source, c.Corrects, next, nc)
	}
	return nil
}

func (p *reviewView) retract(tx *reviewTx, source, id string, o Original) error {
	switch {
	case isActivityType(o.Type):
		rec, err := p.loadItem(tx, source, id, o)
		if err != nil {
			return err
		}
		if rec == nil {
			return notInView("/retracts", id)
		}
		if rec.Retracted {
			return nil
		}
		rec.Retracted = true
		return p.list(tx, source, id, rec, nil)
	case o.Type == TypeCurated:
		ref, err := p.loadRef(tx, source, id)
		if err != nil {
			return err
		}
		if ref == nil {
			return notInView("/retracts", id)
		}
		if ref.Retracted {
			return nil
		}
		if err := tx.Delete(cat(curationPrefix(ref.Source, ref.ID), u64(ref.Seq))); err != nil {
			return err
		}
		ref.Retracted = true
		if err := p.saveRef(tx, source, id, ref); err != nil {
			return err
		}
		return p.relist(tx, ref.Source, ref.ID)
	}
	return nil
}

func (p *reviewView) saveRef(tx *reviewTx, source, id string, ref *curationRef) error {
	b, err := json.Marshal(ref)
	if err != nil {
		return err
	}
	return tx.setOwn(curationRefKey(source, id), b)
}

// setCuration records curation event (source, id) acting on ref's item and relists the item.
func (p *reviewView) setCuration(tx *reviewTx, source, id string, ref curationRef, c *curation) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := tx.setOwn(cat(curationPrefix(ref.Source, ref.ID), u64(ref.Seq)), b); err != nil {
		return err
	}
	tx.memo.curated.add(enc(ref.Source, ref.ID))
	if err := p.saveRef(tx, source, id, &ref); err != nil {
		return err
	}
	return p.relist(tx, ref.Source, ref.ID)
}

// relist recomputes the listing of an item after its curation changed; an item not seen yet
// is listed with its curation when it arrives.
func (p *reviewView) relist(tx *reviewTx, source, id string) error {
	o, ok, err := tx.Original(source, id)
	if err != nil || !ok || !isActivityType(o.Type) {
		return err
	}
	rec, err := p.loadItem(tx, source, id, o)
	if err != nil || rec == nil {
		return err
	}
	return p.list(tx, source, id, rec, nil)
}

// list takes an item out of where it was listed and lists it where its data and curation say;
// a is rec.Data decoded, or nil to decode it here.
func (p *reviewView) list(tx *reviewTx, source, id string, rec *itemRec, a *activity) error {
	if a == nil && !rec.Retracted {
		var err error
		if a, err = p.activityOf(tx, source, id, rec); err != nil {
			return err
		}
	}
	if rec.Period != "" {
		if err := tx.Delete(listKey(rec.Period, rec.Sec, rec.Start, rec.Seq)); err != nil {
			return err
		}
		if err := p.count(tx, rec.Period, -1); err != nil {
			return err
		}
		tx.touch(rec.Period)
		rec.Period, rec.Sec, rec.Start = "", 0, ""
	}
	rec.Data, rec.Format, rec.Section, rec.Partners = nil, "", "", nil
	if !rec.Retracted {
		period, _ := PeriodOf(a.Start)
		sec, how, err := p.decide(tx, source, id, period, rec.Type, a)
		if err != nil {
			return err
		}
		tx.touch(period)
		rec.Format, rec.Section, rec.Partners = a.Format, a.Section, a.Partners
		if sec >= 0 {
			it := makeItem(source, id, rec, a, how)
			if err := tx.setOwn(listKey(period, sec, a.Start, rec.Seq), encodeItem(&it)); err != nil {
				return err
			}
			if err := p.count(tx, period, +1); err != nil {
				return err
			}
			rec.Period, rec.Sec, rec.Start = period, sec, a.Start
		} else if rec.Data, err = json.Marshal(a); err != nil {
			return err
		}
	}
	if rec.derivable() {
		if rec.stored {
			return tx.Delete(itemKey(source, id))
		}
		return nil
	}
	return tx.setOwn(itemKey(source, id), encodeItemRec(rec))
}

func (p *reviewView) count(tx *reviewTx, period string, d int64) error {
	k := cat([]byte{'n'}, []byte(period))
	b, _, err := tx.Get(k)
	if err != nil {
		return err
	}
	n := int64(getU64(b)) + d
	if n <= 0 {
		return tx.Delete(k)
	}
	return tx.setOwn(k, u64(uint64(n)))
}

// curationMemo knows which items may have a curation: a superset of the items with a curation
// key, so that placing an item that was never curated, nearly every item, needs no read.
type curationMemo struct {
	loaded   bool
	complete bool // items covers every curated item
	items    map[string]struct{}
}

// curationMemoMax bounds how many curated items the memo holds; past it, every placement reads.
var curationMemoMax = 1 << 16

func (m *curationMemo) init(empty bool) {
	m.loaded, m.complete, m.items = empty, empty, map[string]struct{}{}
}

// mayHave reports whether the item (enc(source, id)) may have a curation. The first call on a
// memo that did not start empty reads every curation key once: they are few.
func (m *curationMemo) mayHave(tx *Tx, item []byte) (bool, error) {
	if !m.loaded {
		m.loaded, m.complete = true, true
		err := tx.Scan([]byte{'c'}, []byte{'d'}, func(k, _ []byte) (bool, error) {
			if len(k) < 9 {
				return true, nil
			}
			m.items[string(k[1:len(k)-8])] = struct{}{}
			if len(m.items) > curationMemoMax {
				m.complete, m.items = false, map[string]struct{}{}
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			m.loaded, m.complete = false, false
			return true, err
		}
	}
	if !m.complete {
		return true, nil
	}
	_, ok := m.items[string(item)]
	return ok, nil
}

// add notes that an item has (or had) a curation. A rollback keeps the note: a superset only
// costs a read.
func (m *curationMemo) add(item []byte) {
	if m.complete {
		m.items[string(item)] = struct{}{}
		if len(m.items) > curationMemoMax {
			m.complete, m.items = false, map[string]struct{}{}
		}
	}
}

// decide places an item: the last curation taken for the item's period wins, then the
// event's section hint, then the rules. A section of -1 means omitted.
func (p *reviewView) decide(tx *reviewTx, source, id, period, typ string, a *activity) (int, string, error) {
	var c curation
	found := false
	if may, err := tx.memo.curated.mayHave(tx.Tx, enc(source, id)); err != nil {
		return 0, "", err
	} else if may {
		// A curation is an editorial decision about one issue: it holds while the item belongs to
		// that period, and a correction that moves the item elsewhere leaves it to the rules. A
		// later curation for another issue does not undo it, so the item's curations are read
		// from the last back to the first for its period, not just the last one.
		cp := curationPrefix(source, id)
		err := tx.ScanReverse(cp, prefixEnd(cp), func(_, b []byte) (bool, error) {
			c = curation{}
			if err := json.Unmarshal(b, &c); err != nil {
				return false, fmt.Errorf("review: stored curation of %s %s is corrupt: %w; run compact rebuild review", source, id, err)
			}
			found = c.Period == period
			return !found, nil
		})
		if err != nil {
			return 0, "", err
		}
	}
	if found {
		if c.Action == "omit" {
			return -1, "curated", nil
		}
		return sectionIndex(c.Section), "curated", nil
	}
	if a.Section != "" {
		return sectionIndex(a.Section), "hint", nil
	}
	return sectionIndex(ruleSection(typ, a)), "rule", nil
}

func makeItem(source, id string, rec *itemRec, a *activity, how string) Item {
	return Item{
		Source: source, ID: id, Seq: rec.Seq, CorrectedSeq: rec.CSeq, Type: rec.Type,
		Title: a.Title, Summary: a.Summary, Start: a.Start, End: a.End, DatePrecision: a.DatePrecision,
		Dates:      FormatDates(a.Start, a.End, a.DatePrecision),
		Organizers: a.Organizers, Countries: a.Countries, Links: a.Links, Placement: how,
		Speaker: a.Speaker, Role: a.Role, Quote: a.Quote,
	}
}

// reviewRead reads a period's sections from one generation: one prefix scan and one Get.
func reviewRead(r *reader, period string) (sections []Section, version, firstSeq uint64, err error) {
	sections = make([]Section, len(Sections))
	for i, s := range Sections {
		sections[i] = Section{ID: s.ID, Group: s.Group, Heading: s.Heading, Items: []Item{}}
	}
	p := cat([]byte{'p'}, []byte(period))
	err = r.Scan(p, prefixEnd(p), func(k, v []byte) (bool, error) {
		sec := int(k[len(p)])
		it, err := decodeItem(v)
		if err != nil || sec >= len(sections) {
			return false, fmt.Errorf("review: stored item %q is corrupt: %v; run compact rebuild review", k, err)
		}
		sections[sec].Items = append(sections[sec].Items, it)
		if firstSeq == 0 || it.Seq < firstSeq {
			firstSeq = it.Seq
		}
		return true, nil
	})
	if err != nil {
		return nil, 0, 0, err
	}
	b, _, err := r.Get(cat([]byte{'v'}, []byte(period)))
	return sections, getU64(b), firstSeq, err
}

// periodsRead lists the periods that list at least one item, newest first.
func periodsRead(r *reader) ([]string, error) {
	var out []string
	err := r.ScanReverse([]byte{'n'}, []byte{'o'}, func(k, v []byte) (bool, error) {
		if getU64(v) > 0 {
			out = append(out, string(k[1:]))
		}
		return true, nil
	})
	return out, err
}
