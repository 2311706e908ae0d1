package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
)

// An auditor reads the ledger and a KV bucket of the ledger's account over NATS, and can
// change nothing.
func TestAuditorReadsOverNATS(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	pub := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	aud := addEntity(t, n, dir, "AUDIT", ledger.RoleAuditor)
	ncp, _ := connectAs(n, pub)
	defer ncp.Close()
	natsPublish(t, ncp, "UNODC", activity("UNODC", "r-1", "readable"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ljs, _ := jetstream.New(n.Conn)
	kv, err := ljs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "COMPACT_VIEWS"})
	if err != nil {
		t.Fatal(err)
	}
	kv.Put(ctx, "counters", []byte(`{"entities":46}`))

	var errs asyncErrors
	nc, err := connectAs(n, aud, nats.ErrorHandler(errs.handler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, ledger.StreamName)
	if err != nil {
		t.Fatalf("auditor stream info: %v", err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil || len(m.Data) == 0 {
		t.Fatalf("auditor reads seq 1: %v", err)
	}
	rkv, err := js.KeyValue(ctx, "COMPACT_VIEWS")
	if err != nil {
		t.Fatal(err)
	}
	w, err := rkv.Watch(ctx, "counters")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-w.Updates():
		if e == nil || string(e.Value()) != `{"entities":46}` {
			t.Fatalf("kv watch: %v", e)
		}
	case <-ctx.Done():
		t.Fatal("kv watch gave nothing")
	}
	w.Stop()
	if err := js.DeleteStream(ctx, ledger.StreamName); err == nil {
		t.Fatal("auditor deleted the stream")
	}
	if err := s.DeleteMsg(ctx, 1); err == nil {
		t.Fatal("auditor deleted a message")
	}
	if _, err := rkv.Put(ctx, "counters", []byte("{}")); err == nil {
		t.Fatal("auditor wrote the KV bucket")
	}
	nc.Publish("compact.ingest.UNODC", []byte(activity("UNODC", "spoof", "x")))
	nc.Publish("compact.events.UNODC.meeting.held", []byte(activity("UNODC", "spoof", "x")))
	errs.waitFor(t, `Permissions Violation for Publish to "compact.ingest.UNODC"`)
	errs.waitFor(t, `Permissions Violation for Publish to "compact.events.UNODC.meeting.held"`)
	for _, subj := range []string{"compact.views.review", ledger.CheckpointSubject} {
		nc.Publish(subj, []byte(`{"seq":999999}`))
		errs.waitFor(t, `Permissions Violation for Publish to "`+subj+`"`)
	}
	if got := streamMsgs(t, n); got != 1 {
		t.Fatalf("stream holds %d, want 1", got)
	}
}
