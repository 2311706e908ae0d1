package ledger_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"compact/ledger"
	"compact/schemas/demo"
)

// serve --demo on a data directory where a demo entity was revoked refuses it, naming the
// entity, rather than issuing it new credentials: the demo would undo the revocation (its
// events need a live publisher), and whoever revoked it meant it.
func TestDemoRefusesARevokedDemoEntity(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	if _, err := ledger.AddEntity(t.Context(), dir, "UNOCT", "UN Office of Counter-Terrorism", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.RevokeCredentials(t.Context(), dir, "UNOCT"); err != nil {
		t.Fatal(err)
	}
	load, err := n.PrepareDemo(t.Context(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "UNOCT") || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("PrepareDemo with UNOCT revoked: %v (load %v); want an error naming UNOCT, revoked", err, load != nil)
	}
	recs, err := ledger.ListEntities(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Revoked == nil || recs[0].NKey != "" || recs[0].TokenSHA256 != "" {
		t.Fatalf("the entities after serve --demo was refused: %+v; want UNOCT alone, revoked still", recs)
	}
}

// serve --demo on a ledger where an earlier version of the demo stored one of its events with
// other content (the demo's data was mended since, and the earlier load was cut short before
// its marker) loads the rest and keeps the stored event: a conflict there is the ledger's
// history, not a failure of the load. Before duplicates were checked for their content, the
// load took it for a duplicate; since, it stopped at it.
func TestDemoKeepsAnEarlierVersionOfItsEvent(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	load, err := n.PrepareDemo(t.Context(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || load == nil {
		t.Fatalf("PrepareDemo: %v", err)
	}
	raws, err := demo.Events()
	if err != nil {
		t.Fatal(err)
	}
	var old []byte
	var entity string
	for _, r := range raws {
		if s := string(r); strings.Contains(s, `"type":"compact.meeting.held"`) && strings.Contains(s, `"title":"`) {
			var head struct{ Source string }
			if err := json.Unmarshal(r, &head); err != nil {
				t.Fatal(err)
			}
			entity = strings.TrimPrefix(head.Source, ledger.SourcePrefix)
			old = []byte(strings.Replace(s, `"title":"`, `"title":"(as an earlier demo wrote it) `, 1))
			break
		}
	}
	rep := n.Ingester.Ingest(t.Context(), ledger.Principal{Entity: entity, Role: ledger.RolePublisher}, old)
	if rep.Error != nil || rep.Results[0].Error != nil {
		t.Fatalf("storing the earlier version: %+v %+v", rep.Error, rep.Results)
	}
	if err := load(t.Context()); err != nil {
		t.Fatalf("the demo load with an earlier version of one of its events stored: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "demo.loaded")); err != nil {
		t.Errorf("no marker after the load: %v", err)
	}
	if got := streamMsgs(t, n); got != uint64(len(raws)) {
		t.Errorf("the stream holds %d events, want the demo's %d (the earlier version in place of its own)", got, len(raws))
	}
}

// serve --demo re-sends a request that found no one to answer it, as the README asks of every
// publisher: an entities change (the demo registers its entities just before it loads)
// re-establishes the service imports, and a request meanwhile finds no responder. Here the
// ingest service stops as the load starts and is back 300 ms later; before, the load stopped at
// its first request with "no responders" and left the demo unloaded until the next start.
func TestDemoResendsWhenNoOneAnswers(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	load, err := n.PrepareDemo(t.Context(), log)
	if err != nil || load == nil {
		t.Fatalf("PrepareDemo: %v", err)
	}
	if err := n.Service.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	back := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		svc, err := ledger.StartIngestService(t.Context(), n.Conn, n.Ingester, n.Registry, "0.1.0", log)
		n.Service = svc // stopped by the node's Close
		back <- err
	}()
	err = load(t.Context())
	if serr := <-back; serr != nil {
		t.Fatalf("restarting the ingest service: %v", serr)
	}
	if err != nil {
		t.Fatalf("loading the demo while the ingest service was away for 300 ms: %v", err)
	}
	raws, err := demo.Events()
	if err != nil {
		t.Fatal(err)
	}
	s, err := n.JS.Stream(t.Context(), ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(raws)) {
		t.Fatalf("the ledger holds %d events after the demo's load, want the demo's %d", info.State.Msgs, len(raws))
	}
}
