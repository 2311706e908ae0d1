package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/natstest"
	"compact/projections"
)

// The change feed as an entity's reporting job receives it (through its account's import of
// compact.views.>) and as an auditor watches the KV bucket, while four publishers send over
// NATS at once: every message of a subject is newer than the one before (seq for the counters,
// version for a period), the last one of each is the view as it stands, and the KV watcher
// ends at the latest counters.
func TestChangeFeedThroughTheEntityImportUnderLoad(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	pub := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	job := addEntity(t, n, dir, "UNOCT", ledger.RolePublisher)
	aud := addEntity(t, n, dir, "AUDIT", ledger.RoleAuditor)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, err := projections.Open(ctx, projections.Config{Dir: t.TempDir(), JS: n.JS, NC: n.Conn})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(context.Background())
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}

	ncJob, err := connectAs(n, job)
	if err != nil {
		t.Fatal(err)
	}
	defer ncJob.Close()
	sub, err := ncJob.SubscribeSync("compact.views.>")
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	ncJob.Flush()
	w := watchCountersAs(t, n, aud)

	periods := []string{"2025-01-15", "2025-03-15", "2025-05-15", "2025-07-15"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var last uint64
	for p := range 4 {
		nc, err := connectAs(n, pub)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		wg.Go(func() {
			for b := range 10 {
				var events []string
				for i := range 5 {
					id := fmt.Sprintf("load-%d-%d-%d", p, b, i)
					e := strings.Replace(activity("UNODC", id, id), `"2025-05-05","end":"2025-05-08"`, fmt.Sprintf("%q", periods[(b+i)%4]), 1)
					if i%2 == 0 { // a CTED-free counter: a document shared changes the counters
						e = fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/UNODC","type":"compact.document.shared","time":"2025-05-05T09:00:00Z","data":{"document":%q,"title":"d","shared_by":{"entity":"UNODC"},"date":%q}}`, id, id, periods[(b+i)%4])
					}
					events = append(events, e)
				}
				m, err := nc.Request("compact.ingest.UNODC", []byte("["+strings.Join(events, ",")+"]"), 30*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				var r reply
				if err := json.Unmarshal(m.Data, &r); err != nil || r.Error != nil {
					t.Errorf("reply %s: %v", m.Data, err)
					return
				}
				mu.Lock()
				for _, res := range r.Results {
					if res.Error != nil {
						t.Errorf("%s: %+v", res.ID, res.Error)
					}
					last = max(last, res.Seq)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if err := v.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	want, err := v.Counters(ctx, "9999-12-31")
	if err != nil {
		t.Fatal(err)
	}
	wantVersion := map[string]uint64{}
	for _, d := range periods {
		r, err := v.Review(ctx, d[:7])
		if err != nil {
			t.Fatal(err)
		}
		wantVersion[d[:7]] = r.Version
	}

	var counters projections.Counters
	versions := map[string]uint64{}
	done := func() bool {
		if counters.Seq < last {
			return false
		}
		for p, ver := range wantVersion {
			if versions[p] < ver {
				return false
			}
		}
		return true
	}
	for !done() {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("feed through the import: %v; counters at seq %d (want %d), versions %v (want %v)", err, counters.Seq, last, versions, wantVersion)
		}
		if m.Subject == projections.SubjectCounters {
			var c projections.Counters
			if err := json.Unmarshal(m.Data, &c); err != nil {
				t.Fatal(err)
			}
			if c.Seq <= counters.Seq {
				t.Errorf("counters message at seq %d after one at seq %d", c.Seq, counters.Seq)
			}
			counters = c
			continue
		}
		var rc projections.ReviewChange
		if err := json.Unmarshal(m.Data, &rc); err != nil || m.Subject != projections.SubjectReviewPrefix+rc.Period {
			t.Fatalf("%s: %s (%v)", m.Subject, m.Data, err)
		}
		if rc.Version <= versions[rc.Period] {
			t.Errorf("review %s: version %d after %d", rc.Period, rc.Version, versions[rc.Period])
		}
		versions[rc.Period] = rc.Version
	}
	got := counters
	got.Seq, got.AsOf = want.Seq, want.AsOf
	if got != *want {
		t.Errorf("last counters message %+v, the view %+v", counters, *want)
	}
	for p, ver := range wantVersion {
		if versions[p] != ver {
			t.Errorf("review %s: last message version %d, the view %d", p, versions[p], ver)
		}
	}
	// the KV watcher ends at the latest counters
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				continue
			}
			var c projections.Counters
			if err := json.Unmarshal(e.Value(), &c); err != nil {
				t.Fatal(err)
			}
			if c.Seq == counters.Seq {
				return
			}
		case <-deadline:
			t.Fatalf("the KV watcher did not reach the counters at seq %d", counters.Seq)
		}
	}
}

// A reporting job's KV watch and its subscription to the feed (an auditor and an entity, as
// the README's example) resume by themselves when the ledger restarts under them: after the
// restart, a new change reaches both, and the watcher ends at the latest counters.
func TestChangeFeedWatchersResumeAfterALedgerRestart(t *testing.T) {
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", natstest.FreePorts(t, 1)[0])
	at := func(c *ledger.NodeConfig) { c.Listen = listen }
	n := testNode(t, dir, at)
	pub := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	job := addEntity(t, n, dir, "UNOCT", ledger.RolePublisher)
	aud := addEntity(t, n, dir, "AUDIT", ledger.RoleAuditor)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	viewsDir := t.TempDir()
	startViews := func(n *ledger.Node) *projections.Views {
		v, err := projections.Open(ctx, projections.Config{Dir: viewsDir, JS: n.JS, NC: n.Conn})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := startViews(n)
	doc := func(id string) string {
		return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/UNODC","type":"compact.document.shared","time":"2025-05-05T09:00:00Z","data":{"document":%q,"title":"d","shared_by":{"entity":"UNODC"},"date":"2025-05-06"}}`, id, id)
	}
	ncPub, err := connectAs(n, pub, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer ncPub.Close()
	r := natsPublish(t, ncPub, "UNODC", doc("before-restart"))
	if err := v.WaitFor(ctx, r.Results[0].Seq); err != nil {
		t.Fatal(err)
	}

	ncJob, err := connectAs(n, job, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer ncJob.Close()
	sub, err := ncJob.SubscribeSync(projections.SubjectCounters)
	if err != nil {
		t.Fatal(err)
	}
	ncJob.Flush()
	w := watchCountersAs(t, n, aud, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))

	// the ledger stops and starts again on the same data and address
	if err := v.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	n = testNode(t, dir, at)
	v = startViews(n)
	defer v.Close(context.Background())

	// a plain subscriber that is away misses the messages of that time (README, Delivery): the
	// change comes once the job's connection is back, with its subscription
	deadline := time.Now().Add(30 * time.Second)
	for ncJob.Stats().Reconnects == 0 || ncJob.FlushTimeout(time.Second) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the job's connection did not come back after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		m, err := ncPub.Request("compact.ingest.UNODC", []byte(doc("after-restart")), 2*time.Second)
		if err == nil {
			if err := json.Unmarshal(m.Data, &r); err != nil || r.Results[0].Error != nil {
				t.Fatalf("after the restart: %s", m.Data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the publisher did not get through after the restart: %v", err)
		}
	}
	after := r.Results[0].Seq
	if err := v.WaitFor(ctx, after); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := sub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("the entity's feed subscription got nothing after the restart: %v", err)
		}
		var c projections.Counters
		if err := json.Unmarshal(m.Data, &c); err != nil {
			t.Fatal(err)
		}
		if c.Seq >= after {
			if c.DocumentsShared != 2 {
				t.Fatalf("counters after the restart: %+v", c)
			}
			break
		}
	}
	// the watch's ordered consumer went with the server; the client makes a new one when it
	// misses the old one's heartbeats (some 20 s with nats.go's defaults)
	timeout := time.After(90 * time.Second)
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				continue
			}
			var c projections.Counters
			if err := json.Unmarshal(e.Value(), &c); err != nil {
				t.Fatal(err)
			}
			if c.Seq >= after && c.DocumentsShared == 2 {
				return
			}
		case <-timeout:
			t.Fatal("the auditor's KV watch did not resume after the restart")
		}
	}
}

// watchCountersAs watches the counters' key of the views' KV bucket as the auditor aud, over
// a connection of its own closed with the test.
func watchCountersAs(t *testing.T, n *ledger.Node, aud *ledger.Credentials, opts ...nats.Option) jetstream.KeyWatcher {
	t.Helper()
	nc, err := connectAs(n, aud, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(t.Context(), projections.DefaultFeedBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(t.Context(), projections.KVKeyCounters)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Stop() })
	return w
}
