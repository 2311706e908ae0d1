package ledger

import (
	"encoding/json"
	"fmt"
)

// The rules an event is judged by before the Appender stores it: a repeat of an event the
// ledger holds is answered with the stored one, not stored again, and a correction,
// retraction or curation must point at an event of the ledger it may act on. The index
// answers for the stream; the batch being built and the batch in flight answer for what is
// not in the stream yet.

// judge checks one event as check does, p coming after the events of pr; the events of
// inFlight (a batch sent and not acknowledged yet) count as stored.
func (a *Appender) judge(pr *prepared, p *pendingEvent, lastBefore uint64, inFlight map[string]*pendingEvent) {
	if p.res.Error != nil || p.res.Seq != 0 {
		return
	}
	ev := p.c.Event
	key := ev.Source + "\x00" + ev.ID
	if first, ok := inFlight[key]; ok {
		p.res.Duplicate = true
		p.dupOf(first)
		return
	}
	if e, ok, err := a.cfg.Index.Lookup(ev.Source, ev.ID); err != nil {
		p.res.Error = unavailable("not stored: dedup index: %v", err)
		return
	} else if ok {
		p.res.Seq, p.res.Duplicate = e.Seq, e.Seq <= lastBefore
		return
	}
	if first, ok := pr.inBatch[key]; ok {
		p.res.Duplicate = true
		p.res.Error = nil
		p.dupOf(first)
		return
	}
	if fe := a.checkReferences(ev, p.c.Role, pr.inBatch, inFlight); fe != nil {
		p.res.Error = fe
		return
	}
	pr.inBatch[key] = p
	if target := retractionTarget(ev); target != "" {
		pr.inBatch[retractionKey(ev.Source, target)] = p
	}
	pr.toStore = append(pr.toStore, p)
}

const typeRetracted = "compact.event.retracted"

// retractionTarget is the id a retraction retracts; "" for any other event.
func retractionTarget(ev *Event) string {
	if ev.Type != typeRetracted {
		return ""
	}
	var r struct {
		Retracts string `json:"retracts"`
	}
	if json.Unmarshal(ev.Data, &r) != nil {
		return ""
	}
	return r.Retracts
}

// retractionKey is where a batch notes, beside its events by source+id, the retraction of
// source+id it holds (sources start with '/', so the two never meet).
func retractionKey(source, id string) string { return "r\x00" + source + "\x00" + id }

// dupOf marks p as a duplicate of an event earlier in the same batch; its result is
// filled from that event's once it is settled.
func (p *pendingEvent) dupOf(first *pendingEvent) { p.res.Seq = 0; p.firstOf = first }

func (a *Appender) resolveInBatchDuplicates(batch []*pendingEvent) {
	for _, p := range batch {
		if p.firstOf != nil {
			p.res.Seq, p.res.Error = p.firstOf.res.Seq, p.firstOf.res.Error
			p.res.Duplicate = p.res.Error == nil
			p.firstOf = nil
		}
	}
}

// references is what lifecycle and editorial events point at.
type references struct {
	Corrects string          `json:"corrects"`
	Retracts string          `json:"retracts"`
	Data     json.RawMessage `json:"data"`
	Item     *struct {
		Source string `json:"source"`
		ID     string `json:"id"`
	} `json:"item"`
}

// lifecycleTypes may not be corrected or retracted themselves. A curation (an editorial
// decision) may: the review view applies a corrected curation, and takes a retracted one's
// decision back (README, Contract changes).
var lifecycleTypes = map[string]bool{
	"compact.event.corrected": true,
	"compact.event.retracted": true,
}

// activityTypes are the types whose events are items of the review, the only ones a
// curation may place or omit.
var activityTypes = map[string]bool{
	"compact.meeting.held": true, "compact.training.delivered": true, "compact.visit.conducted": true,
	"compact.agreement.signed": true, "compact.assistance.provided": true,
	"compact.publication.released": true, "compact.statement.made": true, "compact.announcement.made": true,
}

// checkReferences checks that a correction, retraction or curation points at an event
// the ledger holds (or that comes earlier in the same batch), and that a correction's
// replacement data is valid for the original's type.
func (a *Appender) checkReferences(ev *Event, role Role, inBatch, inFlight map[string]*pendingEvent) *FieldError {
	switch ev.Type {
	case "compact.event.corrected", "compact.event.retracted", "compact.review.curated":
	default:
		return nil
	}
	var r references
	if err := json.Unmarshal(ev.Data, &r); err != nil {
		return invalid("/data", "%v", err)
	}
	source, id, field := ev.Source, r.Corrects, "/data/corrects"
	switch ev.Type {
	case "compact.event.retracted":
		id, field = r.Retracts, "/data/retracts"
	case "compact.review.curated":
		if r.Item == nil {
			return invalid("/data/item", "required")
		}
		source, id, field = r.Item.Source, r.Item.ID, "/data/item"
	}
	typ, ok, err := a.lookupType(source, id, inBatch, inFlight)
	if err != nil {
		return unavailable("not stored: dedup index: %v", err)
	}
	if !ok {
		return invalid(field, "no event %q from %s in the ledger (only an event already stored, or earlier in the same request, can be referred to)", id, source)
	}
	if ev.Type == "compact.review.curated" {
		if !activityTypes[typ] {
			return invalid(field, "%q is a %s event: only activities are items of a review", id, typ)
		}
		return a.notRetractedItem(field, source, id, inBatch, inFlight)
	}
	if lifecycleTypes[typ] {
		return invalid(field, "%q is a %s event: only an activity, a counter event or a curation can be corrected or retracted", id, typ)
	}
	if secretariatTypes[typ] && role != RoleSecretariat {
		// As publishing one: an entity that was the Secretariat and is no longer keeps
		// its events' source, not the right to rewrite its opening balances or curations.
		return forbidden(field, "%q is a %s event: only the Secretariat may correct or retract it", id, typ)
	}
	// The views never apply a correction of a retracted event, nor a second retraction:
	// refused here, neither enters the ledger to be acknowledged and then ignored.
	retracted, err := a.retracted(source, id, inBatch, inFlight)
	if err != nil {
		return unavailable("not stored: dedup index: %v", err)
	}
	if retracted && ev.Type == "compact.event.retracted" {
		return invalid(field, "%q was retracted already: a retracted event stays retracted, and a second retraction would change nothing", id)
	}
	if ev.Type == "compact.event.corrected" {
		if retracted {
			return invalid(field, "%q was retracted: a retracted event stays retracted; publish a new event instead", id)
		}
		if err := a.cfg.Validator.Validate(typ, r.Data); err != nil {
			fe := dataError(err)
			fe.Field = "/data/data" + fe.Field[len("/data"):]
			fe.Message = fmt.Sprintf("%s (the replacement must be valid %s data)", fe.Message, typ)
			return fe
		}
		if typ == "compact.review.curated" {
			// the replacement curation's item, as a curation's own
			var c references
			if err := json.Unmarshal(r.Data, &c); err != nil || c.Item == nil {
				return invalid("/data/data/item", "required")
			}
			itemTyp, ok, err := a.lookupType(c.Item.Source, c.Item.ID, inBatch, inFlight)
			switch {
			case err != nil:
				return unavailable("not stored: dedup index: %v", err)
			case !ok:
				return invalid("/data/data/item", "no event %q from %s in the ledger (only an event already stored, or earlier in the same request, can be referred to)", c.Item.ID, c.Item.Source)
			case !activityTypes[itemTyp]:
				return invalid("/data/data/item", "%q is a %s event: only activities are items of a review", c.Item.ID, itemTyp)
			}
			return a.notRetractedItem("/data/data/item", c.Item.Source, c.Item.ID, inBatch, inFlight)
		}
	}
	return nil
}

// retracted reports whether a retraction of source+id is stored, or comes earlier in the
// batch or in the batch in flight.
func (a *Appender) retracted(source, id string, inBatch, inFlight map[string]*pendingEvent) (bool, error) {
	if _, ok := inBatch[retractionKey(source, id)]; ok {
		return true, nil
	}
	if _, ok := inFlight[retractionKey(source, id)]; ok {
		return true, nil
	}
	_, ok, err := a.cfg.Index.Retracted(source, id)
	return ok, err
}

// notRetractedItem refuses a curation whose item is retracted: a retracted activity is in no
// review, so the curation would be stored and change nothing.
func (a *Appender) notRetractedItem(field, source, id string, inBatch, inFlight map[string]*pendingEvent) *FieldError {
	retracted, err := a.retracted(source, id, inBatch, inFlight)
	if err != nil {
		return unavailable("not stored: dedup index: %v", err)
	}
	if retracted {
		return invalid(field, "%q was retracted: a retracted activity is in no review, and a curation of it would change nothing", id)
	}
	return nil
}

func (a *Appender) lookupType(source, id string, inBatch, inFlight map[string]*pendingEvent) (string, bool, error) {
	if p, ok := inBatch[source+"\x00"+id]; ok {
		return p.c.Event.Type, true, nil
	}
	if p, ok := inFlight[source+"\x00"+id]; ok {
		return p.c.Event.Type, true, nil
	}
	e, ok, err := a.cfg.Index.Lookup(source, id)
	return e.Type, ok, err
}
