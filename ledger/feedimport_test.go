package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
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
	ncAud, err := connectAs(n, aud)
	if err != nil {
		t.Fatal(err)
	}
	defer ncAud.Close()
	ajs, _ := jetstream.New(ncAud)
	kv, err := ajs.KeyValue(ctx, projections.DefaultFeedBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(ctx, projections.KVKeyCounters)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

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
