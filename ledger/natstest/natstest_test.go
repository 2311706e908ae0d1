package natstest_test

import (
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger/natstest"
)

// A server started on a store keeps what it acknowledged across a restart on that store,
// with the options given applied.
func TestStartOnAStoreAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := natstest.Start(t, natstest.StoreDir(dir), natstest.SyncAlways)
	if got := s.JetStreamConfig().StoreDir; filepath.Dir(got) != dir {
		t.Fatalf("JetStream store %q is not in %q", got, dir)
	}
	if !s.JetStreamConfig().SyncAlways {
		t.Fatal("SyncAlways not applied")
	}
	_, js := natstest.Connect(t, s)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.a", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	s.WaitForShutdown()

	_, js = natstest.Connect(t, natstest.Start(t, natstest.StoreDir(dir)))
	st, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "kept" {
		t.Fatalf("message 1 = %q after the restart, want %q", m.Data, "kept")
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports := natstest.FreePorts(t, 16)
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: %d is not a fresh port", ports, p)
		}
		seen[p] = true
	}
}
