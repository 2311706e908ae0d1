package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/audit"
	"compact/ledger/natstest"
)

// threeNodeCluster starts three JetStream nats-servers clustered over loopback and returns
// their client URL list.
func threeNodeCluster(t *testing.T) string {
	t.Helper()
	ports := natstest.FreePorts(t, 6)
	var urls []string
	var wg sync.WaitGroup
	for i := range 3 {
		var routes []*url.URL
		for j := range 3 {
			if j != i {
				routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[3+j])})
			}
		}
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: t.TempDir(), SyncAlways: true,
			Cluster: server.ClusterOpts{Name: "compact", Host: "127.0.0.1", Port: ports[3+i]},
			Routes:  routes, NoLog: true, NoSigs: true, MaxPayload: ledger.MaxRequestBytes,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Start()
			if !s.ReadyForConnections(30 * time.Second) {
				t.Error("cluster member not ready")
			}
		}()
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	wg.Wait()
	// Ready for connections is not ready for JetStream: until the members know each other
	// as JetStream peers, a stream of three replicas is refused ("no suitable peers for
	// placement, peer offline"), which made serve --replicas 3 exit at start on a loaded
	// machine. The cluster is ready once such a stream can be placed.
	list := strings.Join(urls, ",")
	nc, js := natsClient(t, list)
	defer nc.Close()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "READY", Subjects: []string{"ready.probe"}, Replicas: 3, Storage: jetstream.MemoryStorage})
		if err == nil {
			err = js.DeleteStream(ctx, "READY")
		}
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster cannot place a stream of three replicas after 60 s: %v", err)
		}
	}
	return list
}

// TestClusterReadReplicas runs the real binary against a 3-node JetStream cluster: one
// `serve --role ingest --replicas 3` and two `serve --role projections`, each with its own
// data directory; events published to the ingest process are served, identically, by both
// read replicas.
func TestClusterReadReplicas(t *testing.T) {
	bin := compactBinary(t)
	natsURL := threeNodeCluster(t)
	ingestDir := t.TempDir()
	pub := addEntityCLI(t, bin, ingestDir, "SECRETARIAT", "secretariat")
	aud := addEntityCLI(t, bin, ingestDir, "AUDIT", "auditor")
	var logs bytes.Buffer
	var mu sync.Mutex
	natsFlags := []string{"--nats-url", natsURL}
	// six at once, distinct; with --nats-url the NATS ports go unused
	ports := natstest.FreePorts(t, 6)
	ingest := startChild(t, bin, ingestDir, ports[0], ports[1], &logs, &mu, append(natsFlags, "--replicas", "3", "--role", "ingest")...)
	// the read replicas as the README shows them: no --replicas, the streams are the ingest's
	r1 := startChild(t, bin, t.TempDir(), ports[2], ports[3], &logs, &mu, append(natsFlags, "--role", "projections")...)
	r2 := startChild(t, bin, t.TempDir(), ports[4], ports[5], &logs, &mu, append(natsFlags, "--role", "projections")...)

	var batch []string
	for i := range 200 {
		batch = append(batch, fmt.Sprintf(`{"specversion":"1.0","id":"fp-%d","source":"/entities/SECRETARIAT","type":"compact.focal_point.registered","time":"2025-06-01T00:00:00Z","data":{"focal_point":"fp-%d","represents":{"state":%q},"date":"2025-06-%02d"}}`,
			i, i, []string{"MAR", "NGA", "IRQ", "JOR", "KAZ"}[i%5], 1+i%28))
	}
	req, _ := http.NewRequest("POST", ingest.httpURL+"/v1/events", strings.NewReader("["+strings.Join(batch, ",")+"]"))
	req.Header.Set("Content-Type", ledger.MediaBatch)
	req.Header.Set("Authorization", "Bearer "+pub.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish to the ingest process: %d %s", resp.StatusCode, body)
	}

	counters := func(c *child) (map[string]any, bool) {
		resp, err := http.Get(c.httpURL + "/v1/counters?as_of=2025-06-30")
		if err != nil {
			return nil, false
		}
		defer resp.Body.Close()
		var m map[string]any
		if json.NewDecoder(resp.Body).Decode(&m) != nil {
			return nil, false
		}
		return m, m["seq"] == float64(200)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, okA := counters(r1)
		b, okB := counters(r2)
		if okA && okB {
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("the read replicas differ:\n%v\n%v", a, b)
			}
			if a["focal_points"] != float64(200) || a["member_states"] != float64(5) {
				t.Fatalf("counters %v, want 200 focal points of 5 Member States", a)
			}
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("the read replicas did not both reach seq 200: %v / %v\n%s", a, b, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A second ingest process, with a data directory of its own, once the first has signed a
	// checkpoint: without the ledger's signing key it is refused at start, with what to copy;
	// with it, it ingests and checkpoints beside the first.
	nc, js := natsClient(t, natsURL)
	defer nc.Close()
	for deadline := time.Now().Add(40 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := js.Stream(ctx, ledger.CheckpointStreamName)
		cancel()
		if err == nil && st.CachedInfo().State.Msgs > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first ingest process signed no checkpoint in 40 s")
		}
		time.Sleep(250 * time.Millisecond)
	}
	secondDir := t.TempDir()
	more := natstest.FreePorts(t, 2)
	second := append([]string{"serve", "--data", secondDir, "--http", fmt.Sprintf("127.0.0.1:%d", more[0])}, append(natsFlags, "--role", "ingest")...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, second...).CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), audit.SignerKeyFile) {
		t.Fatalf("a second ingest process without the ledger's key: %v, want it refused naming %s:\n%s", err, audit.SignerKeyFile, out)
	}
	// the key, and the entities with their tokens, as an operator copies them
	for _, f := range []string{audit.SignerKeyFile, audit.VerifierKeyFile, ledger.EntitiesFile} {
		b, err := os.ReadFile(filepath.Join(ingestDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(secondDir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ingest2 := startChild(t, bin, secondDir, more[0], more[1], &logs, &mu, append(natsFlags, "--role", "ingest")...)
	ev := `{"specversion":"1.0","id":"fp-second","source":"/entities/SECRETARIAT","type":"compact.focal_point.registered","time":"2025-06-01T00:00:00Z","data":{"focal_point":"fp-second","represents":{"state":"MAR"},"date":"2025-06-02"}}`
	req, _ = http.NewRequest("POST", ingest2.httpURL+"/v1/events", strings.NewReader(ev))
	req.Header.Set("Content-Type", ledger.MediaEvent)
	req.Header.Set("Authorization", "Bearer "+pub.Token)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish to the second ingest process: %d", resp.StatusCode)
	}
	// its checkpointer signs with the ledger's key: a proof of the new event verifies
	for deadline := time.Now().Add(40 * time.Second); ; {
		req, _ := http.NewRequest("GET", ingest2.httpURL+"/v1/proofs?seq=201", nil)
		req.Header.Set("Authorization", "Bearer "+aud.Token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("no proof of seq 201 from the second ingest process in 40 s:\n%s", logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func natsClient(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
