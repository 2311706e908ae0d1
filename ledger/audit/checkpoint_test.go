package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"compact/ledger"
)

func TestCheckpointNoteFormat(t *testing.T) {
	signer, vkey := testKey(t)
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	root := tlog.RecordHash([]byte("x"))
	cp, err := SignCheckpoint("compact-ledger/COMPACT", 42, root, signer)
	if err != nil {
		t.Fatal(err)
	}
	body, sigs, ok := strings.Cut(cp.Note, "\n\n")
	if !ok || body != "compact-ledger/COMPACT\n42\n"+root.String() || !strings.HasPrefix(sigs, "— "+KeyName+" ") {
		t.Fatalf("note is not a C2SP checkpoint:\n%s", cp.Note)
	}
	got, err := OpenCheckpoint([]byte(cp.Note), v)
	if err != nil || got.Size != 42 || got.Root != root || got.Origin != "compact-ledger/COMPACT" {
		t.Fatalf("%+v %v", got, err)
	}
	// Extension lines are signed but ignored.
	ext, _ := note.Sign(&note.Note{Text: "o\n3\n" + root.String() + "\nsome extension\n"}, signer)
	if got, err := OpenCheckpoint(ext, v); err != nil || got.Size != 3 {
		t.Fatalf("with an extension line: %+v %v", got, err)
	}
	for _, bad := range []string{"o\n03\n" + root.String() + "\n", "o\n-1\n" + root.String() + "\n", "o\n3\n", "o\n3\nAAAA\n", "\n3\n" + root.String() + "\n"} {
		msg, _ := note.Sign(&note.Note{Text: bad}, signer)
		if _, err := OpenCheckpoint(msg, v); !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

func TestKeyIsCreatedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	s1, v1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	s2, v2, err := LoadOrCreateKey(dir)
	if err != nil || v1 != v2 || s1.KeyHash() != s2.KeyHash() {
		t.Fatalf("second start: %v %q %q", err, v1, v2)
	}
	if got, err := ReadVerifierKey(dir); err != nil || got != v1 {
		t.Fatalf("ReadVerifierKey: %q %v", got, err)
	}
	if fi, err := statMode(dir + "/" + SignerKeyFile); err != nil || fi != 0o600 {
		t.Fatalf("signer key file mode %o %v", fi, err)
	}
	// A signature by the loaded signer verifies with the stored verifier key.
	cp, _ := SignCheckpoint("o", 1, tlog.Hash{}, s2)
	v, _ := NewVerifier(v1)
	if _, err := OpenCheckpoint([]byte(cp.Note), v); err != nil {
		t.Fatal(err)
	}
}

// Two processes starting at once on a fresh data directory both start, with the same key.
func TestKeyCreatedByTwoAtOnce(t *testing.T) {
	for round := range 100 {
		dir := t.TempDir()
		var wg sync.WaitGroup
		var keys [2]string
		var errs [2]error
		for i := range 2 {
			wg.Go(func() { _, keys[i], errs[i] = LoadOrCreateKey(dir) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || keys[0] != keys[1] {
			t.Fatalf("round %d: %q %v, %q %v", round, keys[0], errs[0], keys[1], errs[1])
		}
	}
}

// forgeEnv is a ledger of 10 events with checkpoints at 5 and 10 and its closed
// checkpointer's state.
type forgeEnv struct {
	*env
	signer note.Signer
	vkey   string
	pdir   string
}

func newForgeEnv(t *testing.T) *forgeEnv {
	f := &forgeEnv{env: newEnv(t), pdir: t.TempDir()}
	f.signer, f.vkey = testKey(t)
	publish(t, f.js, seqs(1, 10)...)
	c := startCheckpointer(t, f.js, f.pdir, f.signer, f.vkey, 5)
	flush(t, c)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *forgeEnv) publishNote(t *testing.T, msg string, headers map[string]string) uint64 {
	t.Helper()
	m := nats.NewMsg(ledger.CheckpointSubject)
	m.Data = []byte(msg)
	for k, v := range headers {
		m.Header.Set(k, v)
	}
	ack, err := f.js.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func (f *forgeEnv) reopen(t *testing.T) (*Checkpointer, error) {
	c, err := Open(context.Background(), Config{JetStream: f.js, Dir: f.pdir, Signer: f.signer, VerifierKey: f.vkey, Every: 5})
	if err == nil {
		t.Cleanup(func() { c.Close(context.Background()) })
	}
	return c, err
}

func randomHash(t *testing.T) tlog.Hash {
	var h tlog.Hash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestForgedCheckpointsAreRejected(t *testing.T) {
	ctx := ctxT(t)
	genuineRoot := func(t *testing.T, f *forgeEnv) tlog.Hash {
		recs := checkpointRecords(t, JetStreamSource{JS: f.js})
		_, _, root, err := ParseCheckpointBody(strings.SplitAfter(recs[len(recs)-1].Note, "\n\n")[0])
		if err != nil {
			t.Fatal(err)
		}
		return root
	}
	for _, tc := range []struct {
		name string
		// forge publishes the forged checkpoint and returns its checkpoint-stream seq.
		forge    func(t *testing.T, f *forgeEnv) uint64
		kind     ProblemKind
		reopenOK bool // whether the checkpointer may still open on top of it
	}{
		{"signed by another key of the same name", func(t *testing.T, f *forgeEnv) uint64 {
			other, _ := testKey(t)
			cp, _ := SignCheckpoint("compact-ledger/COMPACT", 10, genuineRoot(t, f), other)
			return f.publishNote(t, cp.Note, nil)
		}, ProblemCheckpoint, false},
		{"body altered under a genuine signature", func(t *testing.T, f *forgeEnv) uint64 {
			cp, _ := SignCheckpoint("compact-ledger/COMPACT", 10, genuineRoot(t, f), f.signer)
			forged := strings.Replace(cp.Note, "\n10\n", "\n11\n", 1)
			return f.publishNote(t, forged, nil)
		}, ProblemCheckpoint, false},
		{"fork: same size, another root", func(t *testing.T, f *forgeEnv) uint64 {
			cp, _ := SignCheckpoint("compact-ledger/COMPACT", 10, randomHash(t), f.signer)
			return f.publishNote(t, cp.Note, map[string]string{HeaderCoveredSeq: "10"})
		}, ProblemFork, false},
		{"wrong root, no consistency proof", func(t *testing.T, f *forgeEnv) uint64 {
			publish(t, f.js, 11, 12)
			cp, _ := SignCheckpoint("compact-ledger/COMPACT", 12, randomHash(t), f.signer)
			return f.publishNote(t, cp.Note, nil)
		}, ProblemInconsistent, true},
		{"wrong root, the genuine consistency proof", func(t *testing.T, f *forgeEnv) uint64 {
			publish(t, f.js, 11, 12)
			// The proof a genuine checkpoint of 12 would carry.
			proof, err := tlog.ProveTree(12, 10, treeOf(t, f.js).tr)
			if err != nil {
				t.Fatal(err)
			}
			cp, _ := SignCheckpoint("compact-ledger/COMPACT", 12, randomHash(t), f.signer)
			return f.publishNote(t, cp.Note, map[string]string{HeaderConsistencyFrom: "10", HeaderConsistencyProof: formatProof(proof)})
		}, ProblemInconsistent, true},
		{"another origin", func(t *testing.T, f *forgeEnv) uint64 {
			cp, _ := SignCheckpoint("someone-else/COMPACT", 10, genuineRoot(t, f), f.signer)
			return f.publishNote(t, cp.Note, nil)
		}, ProblemOrigin, false},
		{"header disagrees with the signed size", func(t *testing.T, f *forgeEnv) uint64 {
			cp, _ := SignCheckpoint("compact-ledger/COMPACT", 10, genuineRoot(t, f), f.signer)
			return f.publishNote(t, cp.Note, map[string]string{HeaderCoveredSeq: strconv.Itoa(9)})
		}, ProblemCheckpoint, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newForgeEnv(t)
			if rep, err := Verify(ctx, f.js, f.vkey, VerifyOptions{}); err != nil {
				t.Fatalf("genuine ledger: %v %s", err, rep)
			}
			seq := tc.forge(t, f)
			rep, err := Verify(ctx, f.js, f.vkey, VerifyOptions{})
			if err == nil || rep.OK() {
				t.Fatalf("forged checkpoint accepted: %s", rep)
			}
			if !errors.Is(err, ErrBadCheckpoint) || rep.FirstBadSeq != 0 {
				t.Fatalf("the messages are genuine, only the checkpoint is bad: %v\n%s", err, rep)
			}
			p := rep.Problems[0]
			if p.Kind != tc.kind || p.CheckpointSeq != seq {
				t.Fatalf("problem %s, want %s at checkpoint #%d", p, tc.kind, seq)
			}
			if rep.Verified != 10 {
				t.Fatalf("the genuine checkpoints still prove 1..10: %s", rep)
			}

			// The checkpointer will not sign on from a checkpoint it cannot vouch for.
			c, err := f.reopen(t)
			if !tc.reopenOK {
				if !errors.Is(err, ErrStateMismatch) {
					t.Fatalf("checkpointer opened on top of a forged checkpoint: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind != ProblemInconsistent {
				return
			}
			// Its tree reaches size 12 and finds the signed root is not its own: it stops.
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Flush(ctx); !errors.Is(err, ErrStateMismatch) {
				t.Fatalf("flush over a wrong-root checkpoint: %v", err)
			}
			if c.Status().Err == "" {
				t.Fatal("status does not say why the checkpointer stopped")
			}
		})
	}
}

// A data directory holding the verifier key but not its signing key (ledger.pub copied from
// the ingest process that made the key, ledger.key forgotten) is refused with what is
// missing: a new signing key made there would not match, and signing on with it would make
// checkpoints nobody can check against the ledger's key.
func TestVerifierKeyWithoutItsSigningKeyIsRefused(t *testing.T) {
	_, vkey := testKey(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, VerifierKeyFile), []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadOrCreateKey(dir)
	if err == nil || !strings.Contains(err.Error(), SignerKeyFile) || !strings.Contains(err.Error(), "copy") {
		t.Errorf("ledger.pub without ledger.key: %v; want a refusal saying to copy %s", err, SignerKeyFile)
	}
	if _, err := os.Stat(filepath.Join(dir, SignerKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a new signing key was made beside another key's ledger.pub: %v", err)
	}
	if got, err := ReadVerifierKey(dir); err != nil || got != vkey {
		t.Errorf("ledger.pub changed: %q %v", got, err)
	}
}
