package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"

	"compact/ledger"
)

// publishCheckpoints appends n signed checkpoints, of sizes 1..n and unrelated roots, to
// the checkpoint stream: what the checkpoint readers carry, not a history that verifies.
func publishCheckpoints(t *testing.T, js jetstream.JetStream, signer note.Signer, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		cp, err := SignCheckpoint("compact-ledger/COMPACT", uint64(i), randomHash(t), signer)
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg(ledger.CheckpointSubject)
		m.Data = []byte(cp.Note)
		m.Header.Set(HeaderCoveredSeq, strconv.Itoa(i))
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// heldBack is a checkpoint stream whose last record reaches the reader only once release
// is closed.
type heldBack struct {
	JetStreamSource
	last    uint64
	release <-chan struct{}
}

func (s heldBack) Checkpoints(ctx context.Context, fn func(CheckpointRecord) error) error {
	return s.JetStreamSource.Checkpoints(ctx, func(rec CheckpointRecord) error {
		if rec.StreamSeq == s.last {
			select {
			case <-s.release:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		return fn(rec)
	})
}

// GET /v1/checkpoints sends the records while it reads them: here the server gets the
// stream's last record only after the client has taken the first, which a server that
// gathered the whole answer before sending it would wait for forever.
func TestCheckpointsAnswerIsStreamed(t *testing.T) {
	e := newEnv(t)
	signer, _ := testKey(t)
	n := 2*checkpointLinesPerFlush + 1 // the first lines are flushed long before the last
	publishCheckpoints(t, e.js, signer, n)

	release := make(chan struct{})
	var once sync.Once
	src := heldBack{JetStreamSource: JetStreamSource{JS: e.js}, last: uint64(n), release: release}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeCheckpoints(w, r, src) }))
	t.Cleanup(srv.Close)
	// The idle timeout only ends the test when the server holds the answer back.
	c := &Client{BaseURL: srv.URL, IdleTimeout: 10 * time.Second}

	var got []uint64
	err := c.Checkpoints(ctxT(t), func(rec CheckpointRecord) error {
		got = append(got, rec.StreamSeq)
		once.Do(func() { close(release) })
		return nil
	})
	if errors.Is(err, ErrStalled) {
		t.Fatalf("the client got nothing while the server read the checkpoint stream: the answer was not streamed: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || got[0] != 1 || got[n-1] != uint64(n) {
		t.Fatalf("got %d records (%v...), want the %d of the stream in order", len(got), got[:min(len(got), 3)], n)
	}
}

// An answer of GET /v1/checkpoints without its end line was cut short on the way: the
// client says so rather than give the records it got for all of them, and verify stops
// with that error rather than check the history against part of its checkpoints.
func TestCutShortCheckpointsAnswerIsAnError(t *testing.T) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	publish(t, e.js, seqs(1, 12)...)
	c := startCheckpointer(t, e.js, t.TempDir(), signer, vkey, 5)
	flush(t, c)
	mux := http.NewServeMux()
	Routes(mux, c, func(h http.Handler) http.Handler { return h })
	ctx := ctxT(t)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	whole := checkpointRecords(t, &Client{BaseURL: srv.URL})
	if len(whole) != 3 {
		t.Fatalf("the ledger has %d checkpoints, want 3 (5, 10, 12)", len(whole))
	}
	for name, drop := range map[string]int{"the end line": 1, "the last record and the end line": 2} {
		t.Run(name, func(t *testing.T) {
			cut := httptest.NewServer(doctor(mux, "/v1/checkpoints", func(lines [][]byte) [][]byte {
				return append(lines[:len(lines)-1-drop], lines[len(lines)-1]) // the last is the "" after the final newline
			}))
			t.Cleanup(cut.Close)
			cl := &Client{BaseURL: cut.URL}
			got := 0
			err := cl.Checkpoints(ctx, func(CheckpointRecord) error { got++; return nil })
			if err == nil || !strings.Contains(err.Error(), "cut short") {
				t.Fatalf("an answer without its end line, %d of the %d records: %v; want an error saying it was cut short", got, len(whole), err)
			}
			if got != len(whole)+1-drop {
				t.Fatalf("%d records before the error, want the %d sent", got, len(whole)+1-drop)
			}
			rep, err := VerifySource(ctx, cl, vkey, VerifyOptions{})
			if err == nil || errors.Is(err, ErrHistoryDiffers) || !strings.Contains(err.Error(), "cut short") {
				t.Fatalf("verify over a cut answer: %v %v; want the read's error, not a verdict", err, rep)
			}
		})
	}
}

// failingAfter is a checkpoint stream whose read fails after its first n records.
type failingAfter struct {
	JetStreamSource
	n int
}

func (s failingAfter) Checkpoints(ctx context.Context, fn func(CheckpointRecord) error) error {
	i := 0
	return s.JetStreamSource.Checkpoints(ctx, func(rec CheckpointRecord) error {
		if i == s.n {
			return errors.New("the checkpoint stream failed")
		}
		i++
		return fn(rec)
	})
}

// A read of the checkpoint stream that fails before the first line is answered 503; one
// that fails after, when the status is sent, ends the answer with an error line that the
// client reports, after the records that came.
func TestCheckpointsAnswerOfAFailedRead(t *testing.T) {
	e := newEnv(t)
	signer, _ := testKey(t)
	n := checkpointLinesPerFlush + 2
	publishCheckpoints(t, e.js, signer, n)
	ctx := ctxT(t)
	for _, fail := range []int{0, 1, checkpointLinesPerFlush + 1} {
		t.Run(fmt.Sprint("after ", fail), func(t *testing.T) {
			src := failingAfter{JetStreamSource{JS: e.js}, fail}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeCheckpoints(w, r, src) }))
			t.Cleanup(srv.Close)
			got := 0
			err := (&Client{BaseURL: srv.URL}).Checkpoints(ctx, func(CheckpointRecord) error { got++; return nil })
			var he *HTTPError
			switch {
			case fail == 0 && (!errors.As(err, &he) || he.Status != http.StatusServiceUnavailable || !strings.Contains(he.Message, "the checkpoint stream failed")):
				t.Fatalf("a read that fails at once: %v; want a 503 with the reason", err)
			case fail > 0 && (err == nil || !strings.Contains(err.Error(), "the server failed: the checkpoint stream failed")):
				t.Fatalf("a read that fails after %d records: %v; want the server's error", fail, err)
			case got != fail:
				t.Fatalf("%d records before the error, want the %d sent", got, fail)
			}
		})
	}
}

// An error from the caller's fn ends the read of the checkpoints there and is returned as
// it is, from JetStream and over HTTP.
func TestCheckpointsStopAtTheCallersError(t *testing.T) {
	srv, e := auditServer(t, 12, func(h http.Handler) http.Handler { return h })
	ctx := ctxT(t)
	enough := errors.New("enough")
	for name, src := range map[string]Source{
		"JetStream": JetStreamSource{JS: e.js},
		"HTTP":      &Client{BaseURL: srv.URL},
	} {
		if recs := checkpointRecords(t, src); len(recs) != 3 {
			t.Fatalf("%s: %d checkpoints, want 3 (5, 10, 12)", name, len(recs))
		}
		var got []uint64
		err := src.Checkpoints(ctx, func(rec CheckpointRecord) error {
			got = append(got, rec.StreamSeq)
			if len(got) == 2 {
				return enough
			}
			return nil
		})
		if !errors.Is(err, enough) || len(got) != 2 {
			t.Errorf("%s: fn failed at the 2nd of 3 records: read %v, returned %v; want the 2 and fn's error", name, got, err)
		}
	}
}

// A checkpoint of a size the stream signed before, after a larger one, is checked against
// that earlier checkpoint: a repeat of it is no problem, another root is a fork naming it
// (not a checkpoint out of order).
func TestCheckpointOfAnEarlierSizeAgain(t *testing.T) {
	ctx := ctxT(t)
	f := newForgeEnv(t) // checkpoints of 5 and 10
	recs := checkpointRecords(t, JetStreamSource{JS: f.js})
	if len(recs) != 2 || recs[0].CoveredSeq != 5 {
		t.Fatalf("the ledger's checkpoints: %+v, want those of 5 and 10", recs)
	}
	f.publishNote(t, recs[0].Note, map[string]string{HeaderCoveredSeq: "5"})
	rep, err := Verify(ctx, f.js, f.vkey, VerifyOptions{})
	if err != nil || rep.Checkpoints != 2 || rep.Verified != 10 {
		t.Fatalf("the checkpoint of 5 again: %v\n%s", err, rep)
	}
	forged, _ := SignCheckpoint("compact-ledger/COMPACT", 5, randomHash(t), f.signer)
	seq := f.publishNote(t, forged.Note, map[string]string{HeaderCoveredSeq: "5"})
	rep, err = Verify(ctx, f.js, f.vkey, VerifyOptions{})
	if !errors.Is(err, ErrBadCheckpoint) || len(rep.Problems) != 1 {
		t.Fatalf("another checkpoint of 5: %v\n%s", err, rep)
	}
	want := Problem{Kind: ProblemFork, CheckpointSeq: seq, Detail: fmt.Sprintf("two signed checkpoints of size 5 with different roots (the other is checkpoint #%d): the log was forked", recs[0].StreamSeq)}
	if rep.Problems[0] != want {
		t.Fatalf("another checkpoint of 5: %s\nwant %s", rep.Problems[0], want)
	}
	if rep.Latest == nil || rep.Latest.Size != 10 || rep.Latest.Note != recs[1].Note {
		t.Fatalf("the latest checkpoint: %+v, want that of 10 with its note", rep.Latest)
	}
}
