package projections

import (
	"encoding/json"
	"fmt"
	"slices"
)

// The review view: one bimonthly review per period.
//
// Keys (inside the view's prefix):
//
//	i enc(source) enc(id)                     itemRec: the activity's current data and where it is listed
//	p <period 7> <section 1> <start 10> <seq8> the listed Item (JSON): a period's review is one prefix scan
//	v <period>                                the period's version (u64)
//	n <period>                                how many items the period lists (u64)
//	c enc(item source) enc(item id) <seq8>    a Secretariat curation of an item (the last one wins)
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

const reviewVersion = 1

func (p *reviewView) Name() string { return ViewReview }
func (p *reviewView) Version() int { return p.version }

type itemRec struct {
	Type      string          `json:"t"`
	Seq       uint64          `json:"q"`
	CSeq      uint64          `json:"cq,omitempty"`
	Data      json.RawMessage `json:"d"`
	Retracted bool            `json:"x,omitempty"`
	// Where it is listed now; Period "" when it is not (omitted or retracted).
	Period string `json:"p,omitempty"`
	Sec    int    `json:"s,omitempty"`
	Start  string `json:"a,omitempty"`
}

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
	touched map[string]bool
}

func (p *reviewView) Apply(tx *Tx, ev *Event) error {
	rt := &reviewTx{Tx: tx, touched: map[string]bool{}}
	if err := p.apply(rt, ev); err != nil {
		return err
	}
	periods := make([]string, 0, len(rt.touched))
	for period := range rt.touched {
		periods = append(periods, period)
	}
	slices.Sort(periods)
	for _, period := range periods {
		k := cat([]byte{'v'}, []byte(period))
		b, _, err := tx.Get(k)
		if err != nil {
			return err
		}
		if err := tx.Set(k, u64(getU64(b)+1)); err != nil {
			return err
		}
		tx.Notify("review:" + period)
	}
	return nil
}

func (p *reviewView) apply(tx *reviewTx, ev *Event) error {
	switch {
	case activityTypes[ev.Type]:
		if _, err := decodeActivity(ev.Data); err != nil {
			return err
		}
		return p.list(tx, ev.Source, ev.ID, &itemRec{Type: ev.Type, Seq: ev.Seq, Data: ev.Data})
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

func (p *reviewView) loadItem(tx *reviewTx, source, id string) (*itemRec, error) {
	b, ok, err := tx.Get(itemKey(source, id))
	if err != nil || !ok {
		return nil, err
	}
	var rec itemRec
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("review: stored item %s %s is corrupt: %w; run compact rebuild review", source, id, err)
	}
	return &rec, nil
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
	case activityTypes[o.Type]:
		rec, err := p.loadItem(tx, ev.Source, c.Corrects)
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
		if _, err := decodeActivity(c.Data); err != nil {
			return prefixField(err, "/data")
		}
		rec.Data, rec.CSeq = c.Data, ev.Seq
		return p.list(tx, ev.Source, c.Corrects, rec)
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
	case activityTypes[o.Type]:
		rec, err := p.loadItem(tx, source, id)
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
		return p.list(tx, source, id, rec)
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
	return tx.Set(curationRefKey(source, id), b)
}

// setCuration records curation event (source, id) acting on ref's item and relists the item.
func (p *reviewView) setCuration(tx *reviewTx, source, id string, ref curationRef, c *curation) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := tx.Set(cat(curationPrefix(ref.Source, ref.ID), u64(ref.Seq)), b); err != nil {
		return err
	}
	if err := p.saveRef(tx, source, id, &ref); err != nil {
		return err
	}
	return p.relist(tx, ref.Source, ref.ID)
}

// relist recomputes the listing of an item after its curation changed; an item not seen yet
// is listed with its curation when it arrives.
func (p *reviewView) relist(tx *reviewTx, source, id string) error {
	rec, err := p.loadItem(tx, source, id)
	if err != nil || rec == nil {
		return err
	}
	return p.list(tx, source, id, rec)
}

// list takes an item out of where it was listed and lists it where its data and curation say.
func (p *reviewView) list(tx *reviewTx, source, id string, rec *itemRec) error {
	if rec.Period != "" {
		if err := tx.Delete(listKey(rec.Period, rec.Sec, rec.Start, rec.Seq)); err != nil {
			return err
		}
		if err := p.count(tx, rec.Period, -1); err != nil {
			return err
		}
		tx.touched[rec.Period] = true
		rec.Period, rec.Sec, rec.Start = "", 0, ""
	}
	if !rec.Retracted {
		a, err := decodeActivity(rec.Data)
		if err != nil {
			return err
		}
		period, _ := PeriodOf(a.Start)
		sec, how, err := p.decide(tx, source, id, period, rec.Type, a)
		if err != nil {
			return err
		}
		tx.touched[period] = true
		if sec >= 0 {
			it := makeItem(source, id, rec, a, how)
			b, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := tx.Set(listKey(period, sec, a.Start, rec.Seq), b); err != nil {
				return err
			}
			if err := p.count(tx, period, +1); err != nil {
				return err
			}
			rec.Period, rec.Sec, rec.Start = period, sec, a.Start
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Set(itemKey(source, id), b)
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
	return tx.Set(k, u64(uint64(n)))
}

// decide places an item: the last curation taken for the item's period wins, then the
// event's section hint, then the rules. A section of -1 means omitted.
func (p *reviewView) decide(tx *reviewTx, source, id, period, typ string, a *activity) (int, string, error) {
	cp := curationPrefix(source, id)
	_, b, ok, err := tx.Last(cp, prefixEnd(cp))
	if err != nil {
		return 0, "", err
	}
	if ok {
		var c curation
		if err := json.Unmarshal(b, &c); err != nil {
			return 0, "", fmt.Errorf("review: stored curation of %s %s is corrupt: %w; run compact rebuild review", source, id, err)
		}
		// A curation is an editorial decision about one issue: it holds while the item belongs to
		// that period, and a correction that moves the item elsewhere leaves it to the rules.
		if c.Period == period {
			if c.Action == "omit" {
				return -1, "curated", nil
			}
			return sectionIndex(c.Section), "curated", nil
		}
	}
	if a.Section != "" {
		return sectionIndex(a.Section), "hint", nil
	}
	return sectionIndex(ruleSection(typ, a)), "rule", nil
}

func makeItem(source, id string, rec *itemRec, a *activity, how string) Item {
	return Item{
		Source: source, ID: id, Seq: rec.Seq, CorrectedSeq: rec.CSeq, Type: rec.Type,
		Title: a.Title, Start: a.Start, End: a.End, DatePrecision: a.DatePrecision,
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
		var it Item
		if err := json.Unmarshal(v, &it); err != nil || sec >= len(sections) {
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
