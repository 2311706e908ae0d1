package projections

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestReviewReadsItsJSONValues: a store whose review items and item records are in the JSON of
// the view's first form goes on without a rebuild: its reviews read the same, and corrections,
// curations and retractions of its items give the reviews a fresh build gives.
func TestReviewReadsItsJSONValues(t *testing.T) {
	h := newHarness(t)
	g := newHistGen(31)
	h.publish(g.take(300)...)
	dir := t.TempDir()
	v := h.open(h.config(dir))
	h.wait(v, h.seq.Load())
	before := map[string]*Review{}
	periods, err := v.Periods(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range periods {
		before[p] = review(t, v, p)
	}
	if err := v.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// rewrite every item and item record of the review in the first form's JSON
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{slog.New(slog.NewTextHandler(io.Discard, nil))}})
	if err != nil {
		t.Fatal(err)
	}
	base := sub(genPrefix(ViewReview, 1), subData)
	b := db.NewBatch()
	n := 0
	for _, c := range []byte{'i', 'p'} {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: cat(base, []byte{c}), UpperBound: cat(base, []byte{c + 1})})
		if err != nil {
			t.Fatal(err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			var legacy []byte
			if c == 'p' {
				item, err := decodeItem(it.Value())
				if err != nil {
					t.Fatal(err)
				}
				legacy, _ = json.Marshal(item)
			} else {
				rec, err := decodeItemRec(it.Value())
				if err != nil {
					t.Fatal(err)
				}
				data := rec.Data
				if data == nil && rec.Period != "" {
					lv, closer, err := db.Get(cat(base, listKey(rec.Period, rec.Sec, rec.Start, rec.Seq)))
					if err != nil {
						t.Fatal(err)
					}
					item, _ := decodeItem(lv)
					closer.Close()
					data, _ = json.Marshal(activity{Title: item.Title, Start: item.Start, End: item.End,
						DatePrecision: item.DatePrecision, Organizers: item.Organizers, Partners: rec.Partners,
						Countries: item.Countries, Links: item.Links, Section: rec.Section, Format: rec.Format,
						Speaker: item.Speaker, Role: item.Role, Quote: item.Quote})
				}
				legacy, _ = json.Marshal(legacyItemRec{Type: rec.Type, Seq: rec.Seq, CSeq: rec.CSeq, Data: data,
					Retracted: rec.Retracted, Period: rec.Period, Sec: rec.Sec, Start: rec.Start})
			}
			if err := b.Set(it.Key(), legacy, nil); err != nil {
				t.Fatal(err)
			}
			n++
		}
		_ = it.Close()
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if n < 100 {
		t.Fatalf("only %d review values rewritten", n)
	}

	v = h.open(h.config(dir))
	for p, want := range before {
		if got := review(t, v, p); !reflect.DeepEqual(got, want) {
			t.Errorf("review %s read from JSON values differs", p)
		}
	}
	// the JSON items go on being corrected, curated, retracted
	h.publish(g.take(300)...)
	last := h.seq.Load()
	h.wait(v, last)
	fresh := h.open(h.config(t.TempDir()))
	h.wait(fresh, last)
	periods, _ = fresh.Periods(t.Context())
	for _, p := range periods {
		if got, want := review(t, v, p), review(t, fresh, p); !reflect.DeepEqual(got.Sections, want.Sections) || got.Version != want.Version {
			t.Errorf("review %s of the store with JSON values differs from a fresh build", p)
		}
	}
}
