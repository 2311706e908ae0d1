package ledger_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"compact/ledger"
)

func streamMsgs(t *testing.T, n *ledger.Node) uint64 {
	t.Helper()
	s, err := n.JS.Stream(context.Background(), ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.Msgs
}

func TestDuplicateAfterWindowAndRestart(t *testing.T) {
	dir := t.TempDir()
	small := func(c *ledger.NodeConfig) { c.Duplicates = 200 * time.Millisecond }
	n := testNode(t, dir, small)
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	nc, err := connectAs(n, creds)
	if err != nil {
		t.Fatal(err)
	}
	r := natsPublish(t, nc, "UNODC", activity("UNODC", "e-1", "one"))
	natsPublish(t, nc, "UNODC", activity("UNODC", "e-2", "two"))
	seq := r.Results[0].Seq

	time.Sleep(600 * time.Millisecond) // three JetStream dedup windows
	r = natsPublish(t, nc, "UNODC", activity("UNODC", "e-1", "one"))
	if !r.Results[0].Duplicate || r.Results[0].Seq != seq {
		t.Fatalf("after the dedup window: %+v, want duplicate of %d", r.Results[0], seq)
	}
	nc.Close()
	n.Close(context.Background())

	// Restart from the same store: still a duplicate.
	n = testNode(t, dir, small)
	nc, err = connectAs(n, creds)
	if err != nil {
		t.Fatal(err)
	}
	r = natsPublish(t, nc, "UNODC", activity("UNODC", "e-1", "one"))
	if !r.Results[0].Duplicate || r.Results[0].Seq != seq {
		t.Fatalf("after a restart: %+v, want duplicate of %d", r.Results[0], seq)
	}
	nc.Close()
	n.Close(context.Background())

	// Lose the dedup index entirely: it is rebuilt from the stream, and still no duplicate gets in.
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	n = testNode(t, dir, small)
	nc, err = connectAs(n, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r = natsPublish(t, nc, "UNODC", "["+activity("UNODC", "e-2", "two")+","+activity("UNODC", "e-3", "three")+"]")
	if !r.Results[0].Duplicate || r.Results[0].Seq != 2 || r.Results[1].Duplicate || r.Results[1].Seq != 3 {
		t.Fatalf("after losing the index: %+v", r.Results)
	}
	if got := streamMsgs(t, n); got != 3 {
		t.Fatalf("stream holds %d messages, want 3", got)
	}
}

func TestConcurrentSameID(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	const publishers = 64
	var wg sync.WaitGroup
	type outcome struct {
		seq uint64
		dup bool
	}
	out := make(chan outcome, publishers)
	start := make(chan struct{})
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := connectAs(n, creds)
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			<-start
			r := natsPublish(t, nc, "UNODC", activity("UNODC", "same", "same id"))
			if r.Results[0].Error != nil {
				t.Errorf("publish: %+v", r.Results[0].Error)
				return
			}
			out <- outcome{r.Results[0].Seq, r.Results[0].Duplicate}
		}()
	}
	close(start)
	wg.Wait()
	close(out)
	stored := 0
	for o := range out {
		if o.seq != 1 {
			t.Errorf("seq %d, want 1", o.seq)
		}
		if !o.dup {
			stored++
		}
	}
	if stored != 1 {
		t.Fatalf("%d publishers were told they stored it, want exactly 1", stored)
	}
	if got := streamMsgs(t, n); got != 1 {
		t.Fatalf("stream holds %d messages, want 1", got)
	}
}

// Two appenders on one stream (two ingest processes) each keep their own index; the
// conditional append makes the one that is behind catch up instead of double-storing.
func TestTwoWritersOneStream(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	in2 := secondWriter(t, n, "second-writer", ledger.AppenderConfig{})
	p := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	nc, _ := connectAs(n, creds)
	defer nc.Close()

	natsPublish(t, nc, "UNODC", activity("UNODC", "x-1", "via the first"))
	rep := in2.Ingest(context.Background(), p, []byte("["+activity("UNODC", "x-1", "via the first")+","+activity("UNODC", "x-2", "new via the second")+"]"))
	if !rep.Results[0].Duplicate || rep.Results[0].Seq != 1 || rep.Results[1].Duplicate || rep.Results[1].Seq != 2 {
		t.Fatalf("second writer: %+v", rep.Results)
	}
	r := natsPublish(t, nc, "UNODC", activity("UNODC", "x-2", "new via the second"))
	if !r.Results[0].Duplicate || r.Results[0].Seq != 2 {
		t.Fatalf("first writer after the second wrote: %+v", r.Results[0])
	}
	if got := streamMsgs(t, n); got != 2 {
		t.Fatalf("stream holds %d, want 2", got)
	}
}
