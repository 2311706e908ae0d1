package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"

	"compact/ledger"
	"compact/ledger/natstest"
)

// startServer starts an in-process nats-server with JetStream on storeDir, as the ledger
// runs it (SyncAlways), and stops it at the end of the test unless stopped before.
func startServer(t testing.TB, storeDir string) *server.Server {
	t.Helper()
	return natstest.Start(t, natstest.StoreDir(storeDir), natstest.SyncAlways)
}

func connect(t testing.TB, s *server.Server) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Connect(t, s)
	return js
}

// env is a ledger under test: a server with the contract's streams.
type env struct {
	storeDir string
	s        *server.Server
	js       jetstream.JetStream
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{storeDir: t.TempDir()}
	e.s = startServer(t, e.storeDir)
	e.js = connect(t, e.s)
	if err := ledger.EnsureStreams(context.Background(), e.js, ledger.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

var entities = []string{"UNODC", "CTED", "UNOCT", "INTERPOL"}

// event returns the stored body and subject of test event i (unique id and title).
func event(i int) (subject string, body []byte) {
	data, _ := json.Marshal(map[string]any{
		"title":      fmt.Sprintf("Workshop on border security number %04d", i),
		"start":      "2025-05-06",
		"organizers": []map[string]string{{"entity": entities[i%len(entities)]}},
		"format":     "workshop",
	})
	ev := ledger.Event{SpecVersion: "1.0", ID: fmt.Sprintf("evt-%04d", i), Source: ledger.SourcePrefix + entities[i%len(entities)],
		Type: "compact.training.delivered", Time: "2025-05-07T10:00:00Z", Data: data}
	body, _ = json.Marshal(&ev)
	return ev.Subject(), body
}

// publish stores events from..to (inclusive) in order, checking each lands at seq i when
// wantSeq.
func publish(t testing.TB, js jetstream.JetStream, order ...int) {
	t.Helper()
	for _, i := range order {
		subj, body := event(i)
		if _, err := js.Publish(context.Background(), subj, body); err != nil {
			t.Fatal(err)
		}
	}
}

func seqs(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func testKey(t testing.TB) (note.Signer, string) {
	t.Helper()
	s, v, err := LoadOrCreateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// startCheckpointer opens a checkpointer on dir (Pebble) and starts it; it is closed at
// the end of the test unless closed before.
func startCheckpointer(t testing.TB, js jetstream.JetStream, dir string, signer note.Signer, vkey string, every int) *Checkpointer {
	t.Helper()
	c, err := Open(context.Background(), Config{JetStream: js, Dir: dir, Signer: signer, VerifierKey: vkey, Every: every, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func flush(t testing.TB, c *Checkpointer) *Checkpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cp, err := c.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// checkpointRecords reads src's whole checkpoint stream, for tests of a few checkpoints.
func checkpointRecords(t testing.TB, src Source) []CheckpointRecord {
	t.Helper()
	var recs []CheckpointRecord
	err := src.Checkpoints(ctxT(t), func(r CheckpointRecord) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func statMode(path string) (os.FileMode, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Mode().Perm(), nil
}
