package projections

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestTxModel applies random writes through Tx, with Applies that fail and batches that commit,
// and checks every read against a map of what the reads must see: the committed keys, the
// writes of the batch's kept Applies and of the current Apply. It runs with a tail that merges
// often and with the usual one.
func TestTxModel(t *testing.T) {
	for _, tail := range []int{1, overlayTailMin} {
		t.Run(fmt.Sprint("tail", tail), func(t *testing.T) {
			defer func(n int) { overlayTailMin = n }(overlayTailMin)
			overlayTailMin = tail
			testTxModel(t, uint64(tail))
		})
	}
}

func testTxModel(t *testing.T, seed uint64) {
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: pebbleLogger{slog.New(slog.NewTextHandler(io.Discard, nil))}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := &follower{v: &Views{db: db}, base: genPrefix("model", 1), memo: newMemo(true)}
	// a key of another generation and one of the runtime's, which no read may see
	if err := db.Set(cat(genPrefix("model", 2), []byte{subData, 'a'}), []byte("other"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Set(sub(f.base, subCheckpoint), u64(7), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 99))
	key := func() []byte { return []byte(fmt.Sprintf("%c%02d", 'a'+r.IntN(3), r.IntN(30))) }
	committed := map[string]string{} // what the DB holds
	batch := map[string]string{}     // what reads see before the current Apply
	var tx *Tx
	for round := range 400 {
		if tx == nil {
			tx = f.batchTx()
			batch = maps.Clone(committed)
		}
		now := maps.Clone(batch) // what reads see during this Apply
		for range 1 + r.IntN(8) {
			switch k := key(); r.IntN(4) {
			case 0:
				if err := tx.Delete(k); err != nil {
					t.Fatal(err)
				}
				delete(now, string(k))
			default:
				v := fmt.Sprintf("v%d-%d", round, r.IntN(1000))
				if r.IntN(5) == 0 {
					v += string(bytes.Repeat([]byte{'x'}, batchMemoMax)) // not cached when read
				}
				if err := tx.Set(k, []byte(v)); err != nil {
					t.Fatal(err)
				}
				delete(now, string(k))
				now[string(k)] = v
			}
			checkTxReads(t, tx, now, r)
		}
		if r.IntN(4) == 0 {
			tx.drop()
		} else {
			if err := tx.keep(); err != nil {
				t.Fatal(err)
			}
			batch = now
		}
		checkTxReads(t, tx, batch, r)
		if r.IntN(6) == 0 {
			b, err := tx.flush()
			if err != nil {
				t.Fatal(err)
			}
			err = b.Commit(pebble.Sync)
			tx.committed(err) // the batch is reset for the next flush, as the runtime does
			if err != nil {
				t.Fatal(err)
			}
			tx, committed = nil, batch
			checkStored(t, db, committed)
		}
	}
}

// checkTxReads compares Get, Scan, ScanReverse and Last on tx with want.
func checkTxReads(t *testing.T, tx *Tx, want map[string]string, r *rand.Rand) {
	t.Helper()
	for _, k := range []string{"a00", "b07", "c29", fmt.Sprintf("%c%02d", 'a'+r.IntN(3), r.IntN(30))} {
		v, ok, err := tx.Get([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		w, wok := want[k]
		if ok != wok || string(v) != w {
			t.Fatalf("Get(%s) = %q %v, want %q %v", k, v, ok, w, wok)
		}
	}
	bounds := [][2][]byte{{nil, nil}, {[]byte("b"), []byte("c")}, {[]byte("a1"), []byte("b15")}, {[]byte("c2"), nil}}
	for _, bd := range bounds {
		var keys []string
		for k := range want {
			if k >= string(bd[0]) && (bd[1] == nil || k < string(bd[1])) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		var got []string
		err := tx.Scan(bd[0], bd[1], func(k, v []byte) (bool, error) {
			if want[string(k)] != string(v) {
				t.Fatalf("Scan: %s = %q, want %q", k, v, want[string(k)])
			}
			got = append(got, string(k))
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, keys) {
			t.Fatalf("Scan [%s, %s) = %q, want %q", bd[0], bd[1], got, keys)
		}
		got = got[:0]
		err = tx.ScanReverse(bd[0], bd[1], func(k, _ []byte) (bool, error) {
			got = append(got, string(k))
			return len(got) < 3, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		rev := slices.Clone(keys)
		slices.Reverse(rev)
		if !slices.Equal(got, rev[:min(3, len(rev))]) {
			t.Fatalf("ScanReverse [%s, %s) = %q, want the first 3 of %q", bd[0], bd[1], got, rev)
		}
		k, v, ok, err := tx.Last(bd[0], bd[1])
		if err != nil {
			t.Fatal(err)
		}
		if ok != (len(keys) > 0) || (ok && (string(k) != keys[len(keys)-1] || string(v) != want[string(k)])) {
			t.Fatalf("Last [%s, %s) = %s %q %v, want the last of %q", bd[0], bd[1], k, v, ok, keys)
		}
	}
}

// checkStored compares everything the DB holds with the committed keys of generation 1 of the
// model view, the other generation's key and the checkpoint.
func checkStored(t *testing.T, db *pebble.DB, committed map[string]string) {
	t.Helper()
	data := sub(genPrefix("model", 1), subData)
	want := map[string]string{
		string(cat(genPrefix("model", 2), []byte{subData, 'a'})): "other",
		string(sub(genPrefix("model", 1), subCheckpoint)):        string(u64(7)),
	}
	for k, v := range committed {
		want[string(data)+k] = v
	}
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	got := map[string]string{}
	for valid := it.First(); valid; valid = it.Next() {
		got[string(it.Key())] = string(it.Value())
	}
	if !maps.Equal(got, want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
}
