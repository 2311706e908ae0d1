package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/projections"
)

// TestFeedBucketEndsAtTheLatestAfterAKill: the README promises that the COMPACT_VIEWS bucket
// always ends at the latest value, and that a crash loses at most a message, never the state a
// job reads when it starts. Each round publishes a batch, kills the binary as soon as the views
// have committed it (often before their change feed is written), restarts it without any new
// event, and checks that the bucket's counters and review entries reach the views' state.
func TestFeedBucketEndsAtTheLatestAfterAKill(t *testing.T) {
	bin := compactBinary(t)
	dataDir := t.TempDir()
	srv := newRestartable(t, bin, dataDir)
	pub := addEntityCLI(t, bin, dataDir, "UNODC", "publisher")
	aud := addEntityCLI(t, bin, dataDir, "AUDITOR", "auditor")
	docs := int64(0)
	rounds := 4 * *crashRounds
	for round := range rounds {
		c := srv.start()
		if round > 0 {
			checkFeedBucket(t, c, aud, docs)
		}
		// a review item and a shared document: both the review and the counters change
		var body bytes.Buffer
		fmt.Fprintf(&body, `[%s,{"specversion":"1.0","id":"doc-%03d","source":"/entities/UNODC","type":"compact.document.shared",`+
			`"time":"2025-05-12T08:30:00Z","data":{"document":"d-%03d","title":"A handbook","shared_by":{"entity":"UNODC"},"date":"2025-05-12"}}]`,
			perfEvent("UNODC", fmt.Sprintf("kv-%03d", round)), round, round)
		req, _ := http.NewRequest("POST", c.httpURL+"/v1/events", &body)
		req.Header.Set("Content-Type", ledger.MediaBatch)
		req.Header.Set("Authorization", "Bearer "+pub.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("publish: %d", resp.StatusCode)
		}
		docs++
		for {
			st, _ := getStatus(t, c.httpURL)
			caught := len(st.Views) == 3
			for _, v := range st.Views {
				caught = caught && v.Checkpoint >= st.StreamLastSeq
			}
			if caught {
				break
			}
		}
		c.kill()
	}
	c := srv.start()
	checkFeedBucket(t, c, aud, docs)
}

// checkFeedBucket waits until the views caught up and the bucket holds their latest state.
func checkFeedBucket(t *testing.T, c *child, aud ledger.Credentials, docs int64) {
	t.Helper()
	waitCaughtUp(t, c.httpURL)
	var review struct {
		Version uint64 `json:"version"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, c.httpURL+"/v1/reviews/2031-01?format=json")), &review); err != nil {
		t.Fatal(err)
	}
	nc := connectAs(t, c.natsURL, aud)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, "COMPACT_VIEWS")
	if err != nil {
		t.Fatal(err)
	}
	var gotC projections.Counters
	var gotR projections.ReviewChange
	deadline := time.Now().Add(10 * time.Second)
	for {
		if e, err := kv.Get(ctx, "counters"); err == nil {
			json.Unmarshal(e.Value(), &gotC)
		}
		if e, err := kv.Get(ctx, "review.2031-01"); err == nil {
			json.Unmarshal(e.Value(), &gotR)
		}
		if gotC.DocumentsShared == docs && gotR.Version == review.Version {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a restart the COMPACT_VIEWS bucket is behind the views: counters with %d documents shared (the views: %d), review.2031-01 version %d (the review is at %d)",
				gotC.DocumentsShared, docs, gotR.Version, review.Version)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
