package backup_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/audit"
	"compact/ledger/backup"
)

// A backup of a larger ledger, taken over HTTP as compact backup takes it (the endpoint
// behind serve's stall bound, Save on the client's side) while events and checkpoints are
// being written: thousands of events whose snapshot is more chunks than the server sends
// before it waits for acknowledgements (8 MiB of 128 KiB chunks), restored, verifies.
func TestBackupOfALargerLedger(t *testing.T) {
	l := newLedger(t, 0)
	ctx := t.Context()
	filler := make([]byte, 3<<10)
	event := func(i int) (string, []byte) {
		rand.Read(filler) // incompressible: the snapshot is as large as the stream
		ev := ledger.Event{SpecVersion: "1.0", ID: fmt.Sprintf("l-%05d", i), Source: ledger.SourcePrefix + "UNODC",
			Type: "compact.training.delivered", Time: "2025-05-07T10:00:00Z",
			Data: json.RawMessage(fmt.Sprintf(`{"title":%q,"start":"2025-05-06","format":"workshop","organizers":[{"entity":"UNODC"}]}`, base64.StdEncoding.EncodeToString(filler)))}
		body, _ := json.Marshal(&ev)
		return ev.Subject(), body
	}
	const n = 3000
	for i := 0; i < n; i += 100 {
		var acks []jetstream.PubAckFuture
		for j := i; j < i+100; j++ {
			subj, body := event(j)
			a, err := l.js.PublishAsync(subj, body)
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, a)
		}
		for _, a := range acks {
			select {
			case <-a.Ok():
			case err := <-a.Err():
				t.Fatal(err)
			}
		}
		if _, err := l.ck.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	mux := http.NewServeMux()
	backup.Routes(mux, backup.Source{Conn: connect(t, l.srv), DataDir: l.dir}, backup.HandlerConfig{}, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(ledger.GiveUpStalled(ledger.DefaultWriteStall, mux))
	defer srv.Close()

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	writing := make(chan error, 1)
	go func() {
		for i := n; ; i++ {
			subj, body := event(i)
			if _, err := l.js.Publish(wctx, subj, body); err != nil {
				writing <- nil
				return
			}
			if _, err := l.ck.Flush(wctx); err != nil && wctx.Err() == nil {
				writing <- err
				return
			}
		}
	}()
	resp, err := http.Get(srv.URL + "/v1/admin/backup")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "b.tar")
	m, size, err := backup.Save(resp.Body, file)
	resp.Body.Close()
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-writing; err != nil {
		t.Fatal(err)
	}
	var events uint64
	for _, s := range m.Streams {
		if s.Name == ledger.StreamName {
			events = s.LastSeq
		}
	}
	if events < n || size < 8<<20 {
		t.Fatalf("the backup holds %d events in %d bytes, want at least %d in 8 MiB", events, size, n)
	}

	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	to := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, f, backup.RestoreConfig{DataDir: to}); err != nil {
		t.Fatal(err)
	}
	js := openRestored(t, to)
	rep, err := audit.Verify(ctx, js, l.vkey, audit.VerifyOptions{})
	if err != nil || rep.Messages != events || rep.Verified < n {
		t.Fatalf("verify of the restored ledger: %v %+v (the backup holds %d events)", err, rep, events)
	}
}
