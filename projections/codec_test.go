package projections

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

func randStr(r *rand.Rand) string {
	alphabet := []string{"", "a", "UNODC", "\x00", "é", "🙂", "\"quoted\"", "x\ny", "/entities/CTED"}
	s := ""
	for range r.IntN(4) {
		s += alphabet[r.IntN(len(alphabet))]
	}
	return s
}

func randActors(r *rand.Rand) []Actor {
	n := r.IntN(4)
	if n == 0 {
		return nil
	}
	out := make([]Actor, n)
	for i := range out {
		out[i] = Actor{Entity: randStr(r), State: randStr(r), Org: randStr(r), Kind: randStr(r)}
	}
	return out
}

// TestItemCodec: items and item records read back as written, nil for empty lists as the JSON
// with omitempty gave, and a value cut short or with bytes after its end is an error.
func TestItemCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		it := Item{Source: randStr(r), ID: randStr(r), Seq: r.Uint64() >> r.IntN(64), CorrectedSeq: uint64(r.IntN(3)),
			Type: randStr(r), Title: randStr(r), Start: randStr(r), End: randStr(r), DatePrecision: randStr(r),
			Dates: randStr(r), Organizers: randActors(r), Placement: randStr(r), Speaker: randStr(r), Role: randStr(r), Summary: randStr(r),
			Quote: randStr(r)}
		for range r.IntN(3) {
			it.Countries = append(it.Countries, randStr(r))
		}
		for range r.IntN(3) {
			it.Links = append(it.Links, Link{URL: randStr(r), Label: randStr(r)})
		}
		b := encodeItem(&it)
		got, err := decodeItem(b)
		if err != nil || !reflect.DeepEqual(got, it) {
			t.Fatalf("item %+v read back as %+v (%v)", it, got, err)
		}
		rec := itemRec{Type: randStr(r), Seq: r.Uint64(), CSeq: uint64(r.IntN(5)), Retracted: r.IntN(2) == 0,
			Period: randStr(r), Sec: r.IntN(9), Start: randStr(r), Format: randStr(r), Section: randStr(r),
			Partners: randActors(r)}
		if r.IntN(2) == 0 {
			rec.Data = json.RawMessage(`{"title":"` + randStr(r) + `"}`)
		}
		rb := encodeItemRec(&rec)
		gotRec, err := decodeItemRec(rb)
		if err != nil || !reflect.DeepEqual(gotRec, rec) {
			t.Fatalf("item record %+v read back as %+v (%v)", rec, gotRec, err)
		}
		if _, err := decodeItem(b[:r.IntN(len(b))]); err == nil {
			t.Fatalf("an item cut short read without error")
		}
		if _, err := decodeItemRec(rb[:r.IntN(len(rb))]); err == nil {
			t.Fatalf("an item record cut short read without error")
		}
		if _, err := decodeItem(append(b, 0)); err == nil {
			t.Fatalf("an item with a byte after its end read without error")
		}
		// An item written before summaries were kept (format 1) reads with none.
		old := it
		old.Summary = ""
		v1 := encodeItem(&old)
		v1 = append([]byte{itemFormatV1}, v1[1:len(v1)-1]...) // the empty summary is one byte
		if got, err := decodeItem(v1); err != nil || !reflect.DeepEqual(got, old) {
			t.Fatalf("a format-1 item %+v read back as %+v (%v)", old, got, err)
		}
	}
}

// TestReviewRelistKeepsPlacement: an item listed by its partners, its format or its section
// hint, relisted when a curation of it comes and goes, is placed from the same data: the
// record keeps what the listed item does not show; and an omitted item placed again is listed
// as it was.
func TestReviewRelistKeepsPlacement(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	civil := []obj{{"org": "IIJ", "kind": "civil_society"}}
	items := []struct {
		id, typ string
		extra   obj
		section string
	}{
		{"partnered", "compact.training.delivered", obj{"partners": civil}, "joint.civil_society"},
		{"wg", "compact.meeting.held", obj{"format": "working_group_meeting", "working_group": "etcip"}, "guidance.working_groups"},
		{"hinted", "compact.training.delivered", obj{"section": "whats_new"}, "whats_new"},
		{"joint", "compact.training.delivered", obj{"organizers": []obj{{"entity": "UNODC"}, {"entity": "CTED"}},
			"countries": []string{"MAR"}, "links": []obj{{"url": "https://example.org", "label": "x"}}}, "joint.multi_agency"},
	}
	var events []ledgerEvent
	for _, c := range items {
		events = append(events, act("UNODC", c.id, c.typ, "2025-05-10", c.extra))
	}
	h.wait(v, h.publish(events...))
	before := review(t, v, "2025-05")
	for i, c := range items {
		// a curation for another period relists the item from its record, changing nothing
		h.wait(v, h.publish(curate("other-"+c.id, "2025-03", "UNODC", c.id, "place", "member_states")))
		if sec, it := where(review(t, v, "2025-05"), "UNODC", c.id); sec != c.section || it.Placement == "curated" {
			t.Errorf("%s relisted from its record: in %q by %q, want %q", c.id, sec, placement(it), c.section)
		}
		// omitted, then the omission retracted: back where it was, with the same item
		h.wait(v, h.publish(curate("omit-"+c.id, "2025-05", "UNODC", c.id, "omit", "")))
		if sec, _ := where(review(t, v, "2025-05"), "UNODC", c.id); sec != "" {
			t.Errorf("%s omitted but listed in %q", c.id, sec)
		}
		h.wait(v, h.publish(retract("SECRETARIAT", "unomit-"+c.id, "omit-"+c.id)))
		r := review(t, v, "2025-05")
		_, it := where(r, "UNODC", c.id)
		_, was := where(before, "UNODC", c.id)
		if it == nil || !reflect.DeepEqual(*it, *was) {
			t.Errorf("item %d %s after omission and its retraction: %+v, want %+v", i, c.id, it, was)
		}
	}
}
