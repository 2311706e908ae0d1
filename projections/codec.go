package projections

import (
	"encoding/binary"
	"encoding/json"
	"errors"
)

// The review's values are written in a small binary form rather than JSON: a review of a
// period is read by decoding every item of the period, and a rebuild writes every item, so the
// cost of the encoding is the cost of both. Each value starts with a format byte; strings and
// byte strings are a uvarint length and the bytes, numbers uvarints, lists a uvarint count
// and the elements. An empty list reads back as nil, as omitempty JSON did.
//
// Values the first version of the view wrote in JSON (they start with '{', never a format
// byte) are still read, so a store written by it goes on without a rebuild; what the view
// writes again it writes in the binary form.

// errCorrupt is what a decoder returns for a value it cannot read; the caller says which key.
var errCorrupt = errors.New("truncated or unknown value")

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) str(s string)   { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(p []byte) { e.uint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) bool(v bool)    { e.b = append(e.b, b2byte(v)) }
func (e *encoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *encoder) actors(as []Actor) {
	e.uint(uint64(len(as)))
	for _, a := range as {
		e.str(a.Entity)
		e.str(a.State)
		e.str(a.Org)
		e.str(a.Kind)
	}
}

func b2byte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// decoder reads what encoder wrote; after the first error every read returns zero values and
// err stays set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byteString() []byte {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string { return string(d.byteString()) }

func (d *decoder) bool() bool {
	if len(d.b) == 0 {
		d.fail()
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v == 1
}

// count reads a list length, bounded by what is left (each element takes a byte at least).
func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) actors() []Actor {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]Actor, n)
	for i := range out {
		out[i] = Actor{Entity: d.str(), State: d.str(), Org: d.str(), Kind: d.str()}
	}
	return out
}

// itemFormat is the first byte of a listed item's value: 2 since items keep the summary (the
// last field); an item of format 1 has none.
const (
	itemFormat   = 2
	itemFormatV1 = 1
)

func encodeItem(it *Item) []byte {
	e := encoder{b: make([]byte, 0, 256)}
	e.b = append(e.b, itemFormat)
	e.str(it.Source)
	e.str(it.ID)
	e.uint(it.Seq)
	e.uint(it.CorrectedSeq)
	e.str(it.Type)
	e.str(it.Title)
	e.str(it.Start)
	e.str(it.End)
	e.str(it.DatePrecision)
	e.str(it.Dates)
	e.actors(it.Organizers)
	e.strs(it.Countries)
	e.uint(uint64(len(it.Links)))
	for _, l := range it.Links {
		e.str(l.URL)
		e.str(l.Label)
	}
	e.str(it.Placement)
	e.str(it.Speaker)
	e.str(it.Role)
	e.str(it.Quote)
	e.str(it.Summary)
	return e.b
}

func decodeItem(b []byte) (Item, error) {
	var it Item
	if len(b) > 0 && b[0] == '{' {
		// written as JSON by the first version of the view
		err := json.Unmarshal(b, &it)
		return it, err
	}
	if len(b) == 0 || (b[0] != itemFormat && b[0] != itemFormatV1) {
		return it, errCorrupt
	}
	d := decoder{b: b[1:]}
	it.Source, it.ID, it.Seq, it.CorrectedSeq = d.str(), d.str(), d.uint(), d.uint()
	it.Type, it.Title, it.Start, it.End, it.DatePrecision, it.Dates = d.str(), d.str(), d.str(), d.str(), d.str(), d.str()
	it.Organizers = d.actors()
	it.Countries = d.strs()
	if n := d.count(); n > 0 {
		it.Links = make([]Link, n)
		for i := range it.Links {
			it.Links[i] = Link{URL: d.str(), Label: d.str()}
		}
	}
	it.Placement, it.Speaker, it.Role, it.Quote = d.str(), d.str(), d.str(), d.str()
	if b[0] == itemFormat {
		it.Summary = d.str()
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = errCorrupt
	}
	return it, d.err
}

// itemRecFormat is the first byte of an item record's value.
const itemRecFormat = 1

func encodeItemRec(r *itemRec) []byte {
	e := encoder{b: make([]byte, 0, 64+len(r.Data))}
	e.b = append(e.b, itemRecFormat)
	e.str(r.Type)
	e.uint(r.Seq)
	e.uint(r.CSeq)
	e.bool(r.Retracted)
	e.str(r.Period)
	e.uint(uint64(r.Sec))
	e.str(r.Start)
	e.str(r.Format)
	e.str(r.Section)
	e.actors(r.Partners)
	e.bytes(r.Data)
	return e.b
}

// legacyItemRec is an item record as the first version of the view wrote it, in JSON and
// always with the activity's data.
type legacyItemRec struct {
	Type      string          `json:"t"`
	Seq       uint64          `json:"q"`
	CSeq      uint64          `json:"cq,omitempty"`
	Data      json.RawMessage `json:"d"`
	Retracted bool            `json:"x,omitempty"`
	Period    string          `json:"p,omitempty"`
	Sec       int             `json:"s,omitempty"`
	Start     string          `json:"a,omitempty"`
}

func decodeItemRec(b []byte) (itemRec, error) {
	var r itemRec
	if len(b) > 0 && b[0] == '{' {
		var l legacyItemRec
		if err := json.Unmarshal(b, &l); err != nil {
			return r, err
		}
		return itemRec{Type: l.Type, Seq: l.Seq, CSeq: l.CSeq, Retracted: l.Retracted, Period: l.Period,
			Sec: l.Sec, Start: l.Start, Data: l.Data}, nil
	}
	if len(b) == 0 || b[0] != itemRecFormat {
		return r, errCorrupt
	}
	d := decoder{b: b[1:]}
	r.Type, r.Seq, r.CSeq, r.Retracted = d.str(), d.uint(), d.uint(), d.bool()
	r.Period, r.Sec, r.Start = d.str(), int(d.uint()), d.str()
	r.Format, r.Section, r.Partners = d.str(), d.str(), d.actors()
	if data := d.byteString(); len(data) > 0 {
		r.Data = data
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = errCorrupt
	}
	return r, d.err
}
