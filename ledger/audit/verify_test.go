package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"compact/ledger"
)

func TestVerifyAcceptsTheLedgersHistory(t *testing.T) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	ctx := ctxT(t)

	// An empty ledger verifies.
	rep, err := Verify(ctx, e.js, vkey, VerifyOptions{})
	if err != nil || !rep.OK() || rep.Messages != 0 {
		t.Fatalf("empty ledger: %v %+v", err, rep)
	}

	publish(t, e.js, seqs(1, 23)...)
	c := startCheckpointer(t, e.js, t.TempDir(), signer, vkey, 5)
	cp := flush(t, c)
	if cp == nil || cp.Size != 23 {
		t.Fatalf("latest checkpoint after flush: %+v, want size 23", cp)
	}
	recs := checkpointRecords(t, JetStreamSource{JS: e.js})
	var sizes []uint64
	for _, r := range recs {
		sizes = append(sizes, r.CoveredSeq)
	}
	if want := []uint64{5, 10, 15, 20, 23}; !equalU64(sizes, want) {
		t.Fatalf("checkpoints cover %v, want %v", sizes, want)
	}
	if recs[0].ConsistencyFrom != 0 || recs[1].ConsistencyFrom != 5 || len(recs[1].Consistency) == 0 {
		t.Fatalf("consistency headers: %+v", recs[:2])
	}

	// More events after the last checkpoint are read but reported as not covered yet.
	publish(t, e.js, 24, 25, 26)
	rep, err = Verify(ctx, e.js, vkey, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Messages < 23 || rep.Verified < 23 || rep.Checkpoints < 5 || rep.Origin != "compact-ledger/COMPACT" {
		t.Fatalf("report: %+v", rep)
	}
	if rep.Messages != rep.Verified+rep.Unverified {
		t.Fatalf("report does not add up: %+v", rep)
	}

	// The same history checked against another key: every checkpoint is rejected.
	_, other := testKey(t)
	rep, err = Verify(ctx, e.js, other, VerifyOptions{})
	if !errors.Is(err, ErrBadCheckpoint) || rep.OK() || rep.Problems[0].Kind != ProblemCheckpoint {
		t.Fatalf("verify with another key: %v %+v", err, rep)
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// treeHints gives the leaf hashes of a checkpointer's Pebble state without running it.
type treeHints struct{ tr *tree }

func (h treeHints) LeafHashes(_ context.Context, from, to uint64) ([]tlog.Hash, error) {
	return h.tr.LeafHashes(from, to)
}

func hintsFrom(t *testing.T, dir string) treeHints {
	db := openPebble(t, dir)
	t.Cleanup(func() { db.Close() })
	return treeHints{&tree{db: db, prefix: []byte("checkpoints/")}}
}

// A byte flipped in a stored message on disk: the server notices the record's hash is
// wrong and stops serving the message, which leaves a hole at its sequence, or the end of
// the stream short of the checkpoint when it was the last (if it served the altered
// bytes, the root would differ instead). Either way verify fails and names the sequence.
func TestTamperedMessageOnDisk(t *testing.T) {
	for _, target := range []int{7, 20} {
		t.Run(fmt.Sprint("seq ", target), func(t *testing.T) { tamperOnDisk(t, target) })
	}
}

// flipOnDisk changes one digit of the title of event target in the stopped server's
// message blocks (still valid JSON) and returns the event's original body.
func flipOnDisk(t *testing.T, storeDir string, target int) []byte {
	t.Helper()
	_, body := event(target)
	marker := []byte(fmt.Sprintf("number %04d", target))
	blks, _ := filepath.Glob(filepath.Join(storeDir, "jetstream", "$G", "streams", ledger.StreamName, "msgs", "*.blk"))
	flipped := 0
	for _, f := range blks {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, body)
		if i < 0 {
			continue
		}
		j := i + bytes.Index(body, marker) + len(marker) - 1
		b[j] ^= 0x01
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		flipped++
	}
	if flipped != 1 {
		t.Fatalf("body of event %d found in %d of %v", target, flipped, blks)
	}
	return body
}

// checkpointedLedger is a ledger of 20 events, checkpointed every 5, its checkpointer
// closed; pdir is the checkpointer's state.
func checkpointedLedger(t *testing.T) (e *env, signer note.Signer, vkey, pdir string) {
	t.Helper()
	e = newEnv(t)
	signer, vkey = testKey(t)
	publish(t, e.js, seqs(1, 20)...)
	pdir = t.TempDir()
	c := startCheckpointer(t, e.js, pdir, signer, vkey, 5)
	flush(t, c)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e, signer, vkey, pdir
}

func tamperOnDisk(t *testing.T, target int) {
	e, signer, vkey, pdir := checkpointedLedger(t)
	ctx := ctxT(t)
	if rep, err := Verify(ctx, e.js, vkey, VerifyOptions{}); err != nil || rep.Verified != 20 {
		t.Fatalf("before tampering: %v %+v", err, rep)
	}
	e.s.Shutdown()
	e.s.WaitForShutdown()

	body := flipOnDisk(t, e.storeDir, target)

	s2 := startServer(t, e.storeDir)
	js := connect(t, s2)
	st, err := js.Stream(ctx, ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	wantKind := ProblemRoot
	m, err := st.GetMsg(ctx, uint64(target))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		t.Logf("the server drops the corrupt message %d", target)
		wantKind = ProblemMissing
		if target == 20 {
			wantKind = ProblemTruncated
		}
	case err != nil:
		t.Fatal(err)
	case bytes.Equal(m.Data, body):
		t.Fatal("the server served the original bytes: the file was not changed")
	default:
		t.Log("the server serves the altered message")
	}

	// The checkpointer notices when it restarts on top of a damaged last message, and
	// refuses to prove a damaged one.
	c2, err := Open(ctx, Config{JetStream: js, Dir: pdir, Signer: signer, VerifierKey: vkey, Every: 5})
	if target == 20 {
		if !errors.Is(err, ErrStateMismatch) {
			t.Fatalf("checkpointer opened on a stream whose last folded message is damaged: %v", err)
		}
	} else {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c2.Prove(ctx, uint64(target)); err == nil {
			t.Fatal("proved a damaged message")
		}
		if _, err := c2.Prove(ctx, 3); err != nil {
			t.Fatalf("an intact message: %v", err)
		}
		c2.Close(ctx)
	}

	src := JetStreamSource{JS: js, IdleTimeout: 300 * time.Millisecond}
	rep, err := VerifySource(ctx, src, vkey, VerifyOptions{})
	if !errors.Is(err, ErrHistoryDiffers) {
		t.Fatalf("verify of a tampered history: %v", err)
	}
	tt := uint64(target)
	if rep.Problems[0].Kind != wantKind || rep.DiffersAfter >= tt || rep.FirstBadSeq < tt || rep.FirstBadSeq > (tt+4)/5*5 {
		t.Fatalf("without hints the report must bracket seq %d: %s", target, rep)
	}
	rep, err = VerifySource(ctx, src, vkey, VerifyOptions{Hints: hintsFrom(t, pdir)})
	if !errors.Is(err, ErrHistoryDiffers) || !rep.Exact || rep.FirstBadSeq != tt || rep.Problems[0].Seq != tt {
		t.Fatalf("with the checkpointer's leaf hashes verify must name seq %d: %v\n%s", target, err, rep)
	}
	t.Logf("%s", rep)
}

// copyCheckpoints appends the checkpoint messages of one ledger (with their headers) to
// another's checkpoint stream: a doctored copy is verified against the genuine checkpoints.
func copyCheckpoints(t *testing.T, from, to jetstream.JetStream) {
	t.Helper()
	ctx := ctxT(t)
	err := readStream(ctx, from, ledger.CheckpointStreamName, "", 1, 0, func(m Message, h nats.Header) error {
		msg := nats.NewMsg(ledger.CheckpointSubject)
		msg.Data = m.Data
		msg.Header = h
		_, err := to.PublishMsg(ctx, msg)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// genuine is a ledger of 20 events with checkpoints at 5, 10, 15 and 20.
func genuine(t *testing.T) (*env, string, treeHints) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	publish(t, e.js, seqs(1, 20)...)
	pdir := t.TempDir()
	c := startCheckpointer(t, e.js, pdir, signer, vkey, 5)
	flush(t, c)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e, vkey, hintsFrom(t, pdir)
}

func TestTruncatedHistory(t *testing.T) {
	g, vkey, hints := genuine(t)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name       string
		keep       int
		exactNoHnt bool
	}{
		{"at a checkpoint", 15, true},     // 16 is the first missing and 15 is proven
		{"inside an interval", 13, false}, // 11..13 are not proven without hints
		{"all", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newEnv(t)
			publish(t, d.js, seqs(1, tc.keep)...)
			copyCheckpoints(t, g.js, d.js)
			rep, err := Verify(ctx, d.js, vkey, VerifyOptions{})
			if !errors.Is(err, ErrHistoryDiffers) || rep.Problems[0].Kind != ProblemTruncated || rep.Exact != tc.exactNoHnt {
				t.Fatalf("%v\n%s", err, rep)
			}
			if rep.FirstBadSeq != uint64(tc.keep)+1 {
				t.Fatalf("first bad seq %d, want %d", rep.FirstBadSeq, tc.keep+1)
			}
			rep, err = Verify(ctx, d.js, vkey, VerifyOptions{Hints: hints})
			if !errors.Is(err, ErrHistoryDiffers) || !rep.Exact || rep.FirstBadSeq != uint64(tc.keep)+1 {
				t.Fatalf("with hints: %v\n%s", err, rep)
			}
		})
	}
}

func TestReorderedHistory(t *testing.T) {
	g, vkey, hints := genuine(t)
	ctx := ctxT(t)
	// The same 20 messages, 12 and 13 swapped.
	order := seqs(1, 20)
	order[11], order[12] = order[12], order[11]
	d := newEnv(t)
	publish(t, d.js, order...)
	copyCheckpoints(t, g.js, d.js)

	rep, err := Verify(ctx, d.js, vkey, VerifyOptions{})
	if !errors.Is(err, ErrHistoryDiffers) || rep.Problems[0].Kind != ProblemRoot {
		t.Fatalf("%v\n%s", err, rep)
	}
	if rep.Exact || rep.DiffersAfter != 10 || rep.FirstBadSeq != 15 || rep.Verified != 10 {
		t.Fatalf("without hints: the difference is between the checkpoints of 10 and 15: %s", rep)
	}
	rep, err = Verify(ctx, d.js, vkey, VerifyOptions{Hints: hints})
	if !errors.Is(err, ErrHistoryDiffers) || !rep.Exact || rep.FirstBadSeq != 12 {
		t.Fatalf("with hints: %v\n%s", err, rep)
	}

	// Lying hints (the doctored copy's own leaves) do not hash to the signed root: ignored.
	rep, err = Verify(ctx, d.js, vkey, VerifyOptions{Hints: treeOf(t, d.js)})
	if !errors.Is(err, ErrHistoryDiffers) || rep.Exact || rep.FirstBadSeq != 15 ||
		!strings.Contains(rep.Problems[0].Detail, "do not hash to the signed root") {
		t.Fatalf("with lying hints: %v\n%s", err, rep)
	}
}

// treeOf folds a stream into a fresh tree, as a lying server would offer it.
func treeOf(t *testing.T, js jetstream.JetStream) treeHints {
	tr := &tree{db: openPebble(t, t.TempDir()), prefix: []byte("x/")}
	t.Cleanup(func() { tr.db.Close() })
	var leaves []tlog.Hash
	err := JetStreamSource{JS: js}.Messages(ctxT(t), 1, func(m Message) error {
		h, err := LeafHash(m.Seq, m.Subject, m.Data)
		leaves = append(leaves, h)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Append(0, leaves); err != nil {
		t.Fatal(err)
	}
	return treeHints{tr}
}

// An operator holding the key rewrites message 14 and re-signs a fresh checkpoint stream:
// the stream alone cannot tell, but an auditor who kept an earlier checkpoint can.
func TestRewriteResignedIsCaughtByKnownCheckpoints(t *testing.T) {
	ctx := ctxT(t)
	g := newEnv(t)
	signer, vkey := testKey(t)
	publish(t, g.js, seqs(1, 10)...)
	gc := startCheckpointer(t, g.js, t.TempDir(), signer, vkey, 5)
	kept10 := flush(t, gc).Note
	publish(t, g.js, seqs(11, 18)...)
	kept18 := flush(t, gc).Note // the auditor saved this one
	publish(t, g.js, 19, 20)
	kept20 := flush(t, gc).Note

	d := newEnv(t)
	order := seqs(1, 20)
	order[13] = 99
	publish(t, d.js, order...)
	dc := startCheckpointer(t, d.js, t.TempDir(), signer, vkey, 5)
	flush(t, dc)
	if rep, err := Verify(ctx, d.js, vkey, VerifyOptions{}); err != nil {
		t.Fatalf("the re-signed stream is consistent with itself: %v %s", err, rep)
	}

	// The kept checkpoint of 18 bounds the difference by itself: d's re-signed
	// checkpoints of 5..15 prove nothing once one of them contradicts it.
	rep, err := Verify(ctx, d.js, vkey, VerifyOptions{Known: []string{kept18}})
	if !errors.Is(err, ErrHistoryDiffers) || rep.Problems[0].Kind != ProblemRoot || rep.DiffersAfter != 0 ||
		rep.FirstBadSeq != 18 || rep.Exact || rep.Verified != 0 || !strings.Contains(rep.Problems[0].Detail, "forked") {
		t.Fatalf("with a kept checkpoint of 18: %v\n%s", err, rep)
	}
	// The liar's leaf hashes do not hash to the kept root; genuine ones name message 14.
	rep, _ = Verify(ctx, d.js, vkey, VerifyOptions{Known: []string{kept18}, Hints: dc})
	if rep.Exact {
		t.Fatalf("the re-signed ledger's hints were believed: %s", rep)
	}
	rep, _ = Verify(ctx, d.js, vkey, VerifyOptions{Known: []string{kept18}, Hints: gc})
	if !rep.Exact || rep.FirstBadSeq != 14 {
		t.Fatalf("with genuine hints: %s", rep)
	}

	rep, err = Verify(ctx, d.js, vkey, VerifyOptions{Known: []string{kept20}})
	if err == nil || rep.Problems[0].Kind != ProblemFork || rep.FirstBadSeq != 20 || rep.DiffersAfter != 0 {
		t.Fatalf("with a kept checkpoint of 20: %v\n%s", err, rep)
	}
	if _, err := Verify(ctx, g.js, vkey, VerifyOptions{Known: []string{kept18, kept20}}); err != nil {
		t.Fatalf("the genuine ledger with its own kept checkpoints: %v", err)
	}
	// A kept checkpoint the re-signed stream also has (size 10, before the rewrite) proves
	// its prefix: the difference is bracketed after it, not from the start.
	rep, err = Verify(ctx, d.js, vkey, VerifyOptions{Known: []string{kept10, kept18}})
	if !errors.Is(err, ErrHistoryDiffers) || rep.DiffersAfter != 10 || rep.Verified != 10 || rep.FirstBadSeq != 18 {
		t.Fatalf("with kept checkpoints of 10 (the stream's own) and 18: %v\n%s", err, rep)
	}
}

// A damaged message after the latest checkpoint that the server no longer serves is still
// counted by the stream (its last sequence): verify reports it missing, over JetStream and
// over HTTP, rather than "OK" with one message fewer.
func TestLostMessageAfterTheLastCheckpoint(t *testing.T) {
	e, signer, vkey, pdir := checkpointedLedger(t)
	ctx := ctxT(t)
	publish(t, e.js, 21, 22)
	e.s.Shutdown()
	e.s.WaitForShutdown()
	flipOnDisk(t, e.storeDir, 22)

	s2 := startServer(t, e.storeDir)
	js := connect(t, s2)
	st, err := js.Stream(ctx, ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetMsg(ctx, 22); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("the server serves the damaged message 22 (%v): this test needs it dropped", err)
	}
	c2, err := Open(ctx, Config{JetStream: js, Dir: pdir, Signer: signer, VerifierKey: vkey, Every: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Close(context.Background()) })
	mux := http.NewServeMux()
	Routes(mux, c2, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for name, src := range map[string]Source{
		"JetStream": JetStreamSource{JS: js, IdleTimeout: 300 * time.Millisecond},
		"HTTP":      &Client{BaseURL: srv.URL},
	} {
		rep, err := VerifySource(ctx, src, vkey, VerifyOptions{})
		if !errors.Is(err, ErrHistoryDiffers) || len(rep.Problems) != 1 || rep.Problems[0].Kind != ProblemMissing || rep.FirstBadSeq != 22 {
			t.Errorf("%s: verify of a stream that lost its last message: %v\n%s", name, err, rep)
		}
	}
}

// A failed report with nothing proven says so: it used to read "1..0 proven by 0 valid
// checkpoints" (every checkpoint signed by another key, say).
func TestReportOfNothingProven(t *testing.T) {
	rep := &Report{Messages: 1979, Unverified: 1979, Problems: []Problem{{Kind: ProblemCheckpoint, CheckpointSeq: 1, Detail: "not signed by the key"}}}
	if s := rep.String(); strings.Contains(s, "1..0") || !strings.Contains(s, "1979 messages read; none proven (0 valid checkpoints)") {
		t.Errorf("report:\n%s\nwant it to say none is proven", s)
	}
	rep.Verified, rep.Checkpoints = 1000, 1
	if s := rep.String(); !strings.Contains(s, "1..1000 proven by 1 valid checkpoints") {
		t.Errorf("report:\n%s\nwant the range proven", s)
	}
}
