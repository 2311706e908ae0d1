package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

func openPebble(t testing.TB, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func hashes(h []tlog.Hash) [][]byte {
	out := make([][]byte, len(h))
	for i := range h {
		out[i] = h[i][:]
	}
	return out
}

// The Pebble-backed tlog tree agrees with transparency-dev/merkle (compact ranges for the
// roots, its proof package for inclusion and consistency proofs) on random sizes, built
// in random batch sizes.
func TestTreeMatchesIndependentImplementation(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 7))

	db := openPebble(t, t.TempDir())
	defer db.Close()
	tr := &tree{db: db, prefix: []byte("t/")}
	other := &tree{db: db, prefix: []byte("u/")} // another tree in the same DB stays apart

	total := 300 + rnd.IntN(400)
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng := rf.NewEmptyRange(0)
	refRoots := [][]byte{rfc6962.DefaultHasher.EmptyRoot()}
	var leaves []tlog.Hash
	for i := range total {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		d := sha256.Sum256(b[:])
		leaf := tlog.Hash(sha256.Sum256(append([]byte{0}, d[:]...)))
		if got := rfc6962.DefaultHasher.HashLeaf(d[:]); string(got) != string(leaf[:]) {
			t.Fatal("leaf hash differs from RFC 6962's")
		}
		leaves = append(leaves, leaf)
		if err := rng.Append(leaf[:], nil); err != nil {
			t.Fatal(err)
		}
		root, err := rng.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		refRoots = append(refRoots, root)
	}
	if _, err := other.Append(0, leaves[:5]); err != nil {
		t.Fatal(err)
	}

	size := uint64(0)
	for size < uint64(total) {
		n := min(uint64(1+rnd.IntN(40)), uint64(total)-size)
		var err error
		if size, err = tr.Append(size, leaves[size:size+n]); err != nil {
			t.Fatal(err)
		}
		stored, err := tr.Size()
		if err != nil || stored != size {
			t.Fatalf("stored size %d (%v), want %d", stored, err, size)
		}
	}
	for n := uint64(0); n <= uint64(total); n++ {
		root, err := tr.Root(n)
		if err != nil {
			t.Fatal(err)
		}
		if string(root[:]) != string(refRoots[n]) {
			t.Fatalf("root of size %d: %x, transparency-dev says %x", n, root, refRoots[n])
		}
	}
	// Every stored hash is there, and nothing more: tlog's count for the size.
	var keys int64
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte("t/h"), UpperBound: []byte("t/i")})
	if err != nil {
		t.Fatal(err)
	}
	for it.First(); it.Valid(); it.Next() {
		keys++
	}
	it.Close()
	if want := tlog.StoredHashCount(int64(total)); keys != want {
		t.Fatalf("%d stored hashes, want %d", keys, want)
	}

	for range 200 {
		n := 1 + uint64(rnd.IntN(total))
		i := uint64(rnd.IntN(int(n)))
		p, err := tlog.ProveRecord(int64(n), int64(i), tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, n, leaves[i][:], hashes(p), refRoots[n]); err != nil {
			t.Fatalf("inclusion proof of %d in %d rejected by transparency-dev: %v", i, n, err)
		}
		if i+1 < n {
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i+1, n, leaves[i][:], hashes(p), refRoots[n]); err == nil {
				t.Fatalf("inclusion proof of %d in %d accepted for index %d", i, n, i+1)
			}
		}
		m := 1 + uint64(rnd.IntN(int(n)))
		cp, err := tlog.ProveTree(int64(n), int64(m), tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, m, n, hashes(cp), refRoots[m], refRoots[n]); err != nil {
			t.Fatalf("consistency proof %d→%d rejected by transparency-dev: %v", m, n, err)
		}
	}
	if root, err := other.Root(5); err != nil || string(root[:]) != string(refRoots[5]) {
		t.Fatalf("the second tree's root is %x (%v), want %x", root, err, refRoots[5])
	}
}
