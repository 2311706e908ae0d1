package ledger_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
)

func TestStreamConfigIsTheContract(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	if !n.Server.NATS().JetStreamConfig().SyncAlways {
		t.Fatal("the embedded server does not run with SyncAlways")
	}
	for _, name := range []string{ledger.StreamName, ledger.CheckpointStreamName} {
		s, err := n.JS.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		c := s.CachedInfo().Config
		switch {
		case c.Storage != jetstream.FileStorage:
			t.Errorf("%s: storage %v", name, c.Storage)
		case !c.DenyDelete || !c.DenyPurge:
			t.Errorf("%s: deletes or purges allowed", name)
		case c.AllowRollup:
			t.Errorf("%s: rollups allowed", name)
		case c.MaxAge != 0 || c.AllowMsgTTL || c.SubjectDeleteMarkerTTL != 0:
			t.Errorf("%s: messages can expire", name)
		case c.Discard != jetstream.DiscardNew:
			t.Errorf("%s: discard %v", name, c.Discard)
		case c.PersistMode != jetstream.DefaultPersistMode:
			t.Errorf("%s: persist mode %v", name, c.PersistMode)
		case c.MaxMsgs != -1 || c.MaxBytes != -1:
			t.Errorf("%s: limits %d msgs %d bytes", name, c.MaxMsgs, c.MaxBytes)
		}
	}
	// A delete or purge is refused by the server itself, even for the ledger's own account.
	ctx := context.Background()
	s, _ := n.JS.Stream(ctx, ledger.StreamName)
	if err := s.Purge(ctx); err == nil {
		t.Error("purge succeeded")
	}
	if err := n.JS.DeleteStream(ctx, ledger.StreamName); err != nil {
		// DenyDelete forbids deleting messages; deleting the stream is an operator act that
		// only the ledger's own account could attempt. It must at least not be open to entities.
		t.Logf("stream delete refused: %v", err)
	}
}

func TestChangedStreamIsRefused(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	n.Close(context.Background())

	// Someone changes the stream by hand: a retention limit.
	reg, _ := ledger.OpenRegistry(dir)
	srv, err := ledger.StartServer(ledger.ServerConfig{DataDir: dir, Port: -1, Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := srv.Connect("operator")
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := ledger.StreamConfig(ledger.StreamOptions{})
	cfg.MaxAge = time.Hour
	cfg.MaxMsgs = 1000
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	srv.Shutdown()

	_, err = ledger.StartNode(ctx, ledger.NodeConfig{DataDir: dir, Listen: "127.0.0.1:-1", Ingest: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if !errors.Is(err, ledger.ErrStreamConfig) {
		t.Fatalf("start on a changed stream: %v, want ErrStreamConfig", err)
	}
	for _, want := range []string{"max_age is 1h0m0s, want 0s", "max_msgs is 1000, want -1", "never changes an existing stream"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestAcknowledgedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	nc, _ := connectAs(n, creds)
	var acked []uint64
	for i := range 50 {
		r := natsPublish(t, nc, "UNODC", activity("UNODC", "d-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "durable"))
		acked = append(acked, r.Results[0].Seq)
	}
	nc.Close()
	n.Close(context.Background())

	n = testNode(t, dir)
	s, _ := n.JS.Stream(context.Background(), ledger.StreamName)
	for _, seq := range acked {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatalf("acknowledged seq %d missing after restart: %v", seq, err)
		}
		if !strings.Contains(string(m.Data), `"durable"`) {
			t.Fatalf("seq %d holds %s", seq, m.Data)
		}
	}
}
