package projections

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The structure view: working groups, the coordination committee and the secretariat as of a date.
//
// compact.structure.updated carries the full description of one unit and no date of its own, so
// a description holds from the date of the event's time attribute (the publisher's own date, as
// written in its offset) onwards, until a later description of the same unit.
//
// compact.entity.joined may give the entity a short name, the name the review prints for it where
// its acronym is not the name it goes by (UN Women for UNWOMEN): from the event's date onwards,
// until a later join of the same entity says otherwise.
//
// Keys (inside the view's prefix):
//
//	u enc(unit) <date 10> <seq8>   a description of a unit (Unit JSON)
//	n enc(unit)                    index of the units ever described
//	e enc(source) enc(id)          which description an event wrote, for corrections and retractions
//	a enc(entity) <date 10> <seq8> an entity's short name as a join gave it ("" for none)
//	j enc(source) enc(id)          which short name a join wrote, for corrections and retractions
type structureView struct{ version int }

const structureVersion = 2

const typeEntityJoined = "compact.entity.joined"

// joinRef is what a join wrote: the key of its short name.
type joinRef struct {
	Entity    string `json:"e"`
	At        string `json:"at"`
	Seq       uint64 `json:"q"`
	Retracted bool   `json:"x,omitempty"`
}

func nameKey(entity, at string, seq uint64) []byte {
	return cat([]byte{'a'}, enc(entity), []byte(at), u64(seq))
}

// decodeJoin reads what the view keeps of a join: its entity, date and short name.
func decodeJoin(raw json.RawMessage) (entity, at, short string, err error) {
	var d struct {
		Entity    string `json:"entity"`
		Date      string `json:"date"`
		ShortName string `json:"short_name"`
	}
	if err := decodeData(raw, &d); err != nil {
		return "", "", "", err
	}
	if d.Entity == "" {
		return "", "", "", invalid("/entity", "missing")
	}
	if _, err := ParseDate(d.Date); err != nil {
		return "", "", "", invalid("/date", "%v", err)
	}
	return d.Entity, d.Date, d.ShortName, nil
}

func (p *structureView) Name() string { return ViewStructure }
func (p *structureView) Version() int { return p.version }

const typeStructure = "compact.structure.updated"

type unitRef struct {
	Unit      string `json:"u"`
	At        string `json:"at"`
	Seq       uint64 `json:"q"`
	Retracted bool   `json:"x,omitempty"`
}

func unitKey(unit, at string, seq uint64) []byte {
	return cat([]byte{'u'}, enc(unit), []byte(at), u64(seq))
}

func decodeUnit(raw json.RawMessage, seq uint64) (*Unit, error) {
	var u Unit
	if err := decodeData(raw, &u); err != nil {
		return nil, err
	}
	if u.Unit == "" {
		return nil, invalid("/unit", "missing")
	}
	switch u.Kind {
	case "working_group", "coordination_committee", "secretariat":
	default:
		return nil, invalid("/unit_kind", "%q is not working_group, coordination_committee or secretariat", u.Kind)
	}
	if u.Name == "" {
		return nil, invalid("/name", "missing")
	}
	u.Seq = seq
	return &u, nil
}

func (p *structureView) Apply(tx *Tx, ev *Event) error {
	switch ev.Type {
	case typeStructure:
		u, err := decodeUnit(ev.Data, ev.Seq)
		if err != nil {
			return err
		}
		at, err := eventDate(ev)
		if err != nil {
			return err
		}
		return p.write(tx, ev.Source, ev.ID, unitRef{Unit: u.Unit, At: at, Seq: ev.Seq}, u)
	case typeEntityJoined:
		entity, at, short, err := decodeJoin(ev.Data)
		if err != nil {
			return err
		}
		return p.writeName(tx, ev.Source, ev.ID, joinRef{Entity: entity, At: at, Seq: ev.Seq}, short)
	case TypeCorrected:
		var c correctionData
		if err := decodeData(ev.Data, &c); err != nil {
			return err
		}
		o, err := tx.target(ev.Source, c.Corrects, "/corrects")
		if err == nil && o.Type == typeEntityJoined {
			return p.correctJoin(tx, ev.Source, c.Corrects, c.Data)
		}
		if err != nil || o.Type != typeStructure {
			return err
		}
		ref, err := loadRecord[unitRef](tx, 'e', ev.Source, c.Corrects)
		if err != nil {
			return err
		}
		if ref.Retracted {
			return &DataError{Field: "/corrects", Err: ErrRetracted,
				Message: fmt.Sprintf("event %q was retracted; publish a new event instead", c.Corrects)}
		}
		u, err := decodeUnit(c.Data, ref.Seq)
		if err != nil {
			return prefixField(err, "/data")
		}
		if err := tx.Delete(unitKey(ref.Unit, ref.At, ref.Seq)); err != nil {
			return err
		}
		return p.write(tx, ev.Source, c.Corrects, unitRef{Unit: u.Unit, At: ref.At, Seq: ref.Seq}, u)
	case TypeRetracted:
		var r retractionData
		if err := decodeData(ev.Data, &r); err != nil {
			return err
		}
		o, err := tx.target(ev.Source, r.Retracts, "/retracts")
		if err == nil && o.Type == typeEntityJoined {
			return p.retractJoin(tx, ev.Source, r.Retracts)
		}
		if err != nil || o.Type != typeStructure {
			return err
		}
		ref, err := loadRecord[unitRef](tx, 'e', ev.Source, r.Retracts)
		if err != nil || ref.Retracted {
			return err
		}
		if err := tx.Delete(unitKey(ref.Unit, ref.At, ref.Seq)); err != nil {
			return err
		}
		ref.Retracted = true
		tx.Notify(ViewStructure)
		return saveRecord(tx, 'e', ev.Source, r.Retracts, ref)
	}
	return nil
}

// eventDate is the date of the event's time attribute in the publisher's own offset; the
// ledger time's UTC date when the attribute cannot be read.
func eventDate(ev *Event) (string, error) {
	if t, err := time.Parse(time.RFC3339Nano, ev.Time); err == nil {
		return t.Format(time.DateOnly), nil
	}
	if ev.LedgerTime.IsZero() {
		return "", invalid("", "event time %q is not RFC 3339 and the message has no ledger time", ev.Time)
	}
	return ev.LedgerTime.UTC().Format(time.DateOnly), nil
}

// loadRecord reads the record an event wrote under c ('e' for a description, 'j' for a join):
// what a correction or a retraction of the event changes.
func loadRecord[T any](tx *Tx, c byte, source, id string) (T, error) {
	var ref T
	b, ok, err := tx.Get(cat([]byte{c}, enc(source, id)))
	if err != nil {
		return ref, err
	}
	if !ok {
		return ref, &DataError{Err: ErrUnknownTarget, Message: fmt.Sprintf("event %q is not in the structure view (it was quarantined there)", id)}
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		return ref, fmt.Errorf("structure: stored reference of %s %s is corrupt: %w; run compact rebuild structure", source, id, err)
	}
	return ref, nil
}

// saveRecord writes the record of an event under c.
func saveRecord(tx *Tx, c byte, source, id string, ref any) error {
	b, err := json.Marshal(ref)
	if err != nil {
		return err
	}
	return tx.setOwn(cat([]byte{c}, enc(source, id)), b)
}

func (p *structureView) write(tx *Tx, source, id string, ref unitRef, u *Unit) error {
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	if err := tx.setOwn(unitKey(ref.Unit, ref.At, ref.Seq), b); err != nil {
		return err
	}
	if err := tx.setOwn(cat([]byte{'n'}, enc(ref.Unit)), nil); err != nil {
		return err
	}
	tx.Notify(ViewStructure)
	return saveRecord(tx, 'e', source, id, ref)
}

// writeName records the short name a join gives its entity, and what the join wrote.
func (p *structureView) writeName(tx *Tx, source, id string, ref joinRef, short string) error {
	if err := tx.setOwn(nameKey(ref.Entity, ref.At, ref.Seq), []byte(short)); err != nil {
		return err
	}
	tx.Notify(ViewStructure)
	return saveRecord(tx, 'j', source, id, ref)
}

// correctJoin replaces what a join wrote with what its correction's data says.
func (p *structureView) correctJoin(tx *Tx, source, id string, data json.RawMessage) error {
	ref, err := loadRecord[joinRef](tx, 'j', source, id)
	if err != nil {
		return err
	}
	if ref.Retracted {
		return &DataError{Field: "/corrects", Err: ErrRetracted,
			Message: fmt.Sprintf("event %q was retracted; publish a new event instead", id)}
	}
	entity, at, short, err := decodeJoin(data)
	if err != nil {
		return prefixField(err, "/data")
	}
	if err := tx.Delete(nameKey(ref.Entity, ref.At, ref.Seq)); err != nil {
		return err
	}
	return p.writeName(tx, source, id, joinRef{Entity: entity, At: at, Seq: ref.Seq}, short)
}

// retractJoin takes back the short name a join gave.
func (p *structureView) retractJoin(tx *Tx, source, id string) error {
	ref, err := loadRecord[joinRef](tx, 'j', source, id)
	if err != nil || ref.Retracted {
		return err
	}
	if err := tx.Delete(nameKey(ref.Entity, ref.At, ref.Seq)); err != nil {
		return err
	}
	ref.Retracted = true
	tx.Notify(ViewStructure)
	return saveRecord(tx, 'j', source, id, ref)
}

// shortNames returns the short names, as of a date, of the entities the structure names.
func shortNames(r *reader, s *Structure) (map[string]string, error) {
	var names map[string]string
	seen := map[string]bool{}
	look := func(entity string) error {
		if entity == "" || seen[entity] {
			return nil
		}
		seen[entity] = true
		p := cat([]byte{'a'}, enc(entity))
		upper := cat(p, []byte(s.AsOf), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		_, v, ok, err := r.Last(p, upper)
		if err != nil || !ok || len(v) == 0 {
			return err
		}
		if names == nil {
			names = map[string]string{}
		}
		names[entity] = string(v)
		return nil
	}
	units := slices.Clone(s.WorkingGroups)
	for _, u := range []*Unit{s.CoordinationCommittee, s.Secretariat} {
		if u != nil {
			units = append(units, *u)
		}
	}
	for _, u := range units {
		for _, e := range append(append([]string{u.Chair}, u.CoChairs...), u.ViceChairs...) {
			if err := look(e); err != nil {
				return nil, err
			}
		}
	}
	return names, nil
}

// structureAt reads the structure as of a date: one seek per unit ever described.
func structureAt(r *reader, asOf string) (*Structure, error) {
	if _, err := ParseDate(asOf); err != nil {
		return nil, err
	}
	var units []string
	err := r.Scan([]byte{'n'}, []byte{'o'}, func(k, _ []byte) (bool, error) {
		units = append(units, decodeStr(k[1:]))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := &Structure{AsOf: asOf, WorkingGroups: []Unit{}}
	type dated struct {
		u   Unit
		key string
	}
	var cc, sec *dated
	for _, name := range units {
		p := cat([]byte{'u'}, enc(name))
		// every key of a date ≤ asOf sorts below asOf followed by 0xff bytes
		upper := cat(p, []byte(asOf), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		k, v, ok, err := r.Last(p, upper)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var u Unit
		if err := json.Unmarshal(v, &u); err != nil {
			return nil, fmt.Errorf("structure: stored unit %q is corrupt: %w; run compact rebuild structure", name, err)
		}
		d := &dated{u: u, key: string(k[len(p):])}
		switch u.Kind {
		case "working_group":
			out.WorkingGroups = append(out.WorkingGroups, u)
		case "coordination_committee":
			if cc == nil || d.key > cc.key {
				cc = d
			}
		case "secretariat":
			if sec == nil || d.key > sec.key {
				sec = d
			}
		}
	}
	// Roman numerals I < II < III < IV sort as strings too.
	slices.SortFunc(out.WorkingGroups, func(a, b Unit) int {
		if a.Pillar != b.Pillar {
			if a.Pillar < b.Pillar {
				return -1
			}
			return 1
		}
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		if a.Unit < b.Unit {
			return -1
		}
		return 1
	})
	if cc != nil {
		out.CoordinationCommittee = &cc.u
	}
	if sec != nil {
		out.Secretariat = &sec.u
	}
	if out.ShortNames, err = shortNames(r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeStr reverses appendStr for one string at the start of b.
func decodeStr(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == 0 {
			if i+1 < len(b) && b[i+1] == 0xff {
				out = append(out, 0)
				i++
				continue
			}
			break
		}
		out = append(out, b[i])
	}
	return string(out)
}
