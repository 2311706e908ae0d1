package backup_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
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
	"compact/ledger/backup"
	"compact/ledger/natstest"
)

// startCluster starts three clustered nats-servers with JetStream, as README's "Roles of a
// process and a NATS cluster" runs the ledger, and returns a connection to them.
func startCluster(t *testing.T) *nats.Conn {
	t.Helper()
	const size = 3
	ports := natstest.FreePorts(t, 2*size)
	srvs := make([]*server.Server, size)
	var wg sync.WaitGroup
	for i := range size {
		var routes []*url.URL
		for j := range size {
			if j != i {
				routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[size+j])})
			}
		}
		s, err := server.NewServer(&server.Options{ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true, Routes: routes,
			Cluster: server.ClusterOpts{Name: "c", Host: "127.0.0.1", Port: ports[size+i]}})
		if err != nil {
			t.Fatal(err)
		}
		srvs[i] = s
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		wg.Add(1)
		go func() { defer wg.Done(); s.Start() }()
	}
	wg.Wait()
	var urls []string
	for i, s := range srvs {
		if !s.ReadyForConnections(30 * time.Second) {
			t.Fatalf("n%d not ready", i+1)
		}
		urls = append(urls, s.ClientURL())
	}
	for leader := false; !leader; {
		for _, s := range srvs {
			leader = leader || s.JetStreamIsLeader()
		}
		time.Sleep(20 * time.Millisecond)
	}
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// A backup of a ledger on a NATS cluster (streams of three replicas, --replicas 3) restores
// with compact restore into a data directory of its own, whose embedded server is one
// server: the streams come back with one replica, as serve would have made them there,
// rather than the restore failing at its end on "replicas > 1 not supported in
// non-clustered mode".
func TestBackupOfAClusterRestores(t *testing.T) {
	nc := startCluster(t)
	ctx := t.Context()
	js, _ := jetstream.New(nc)
	var err error
	for range 100 { // the meta leader is elected; the API may still answer "unavailable" a moment
		if err = ledger.EnsureStreams(ctx, js, ledger.StreamOptions{Replicas: 3}); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The streams exist once created, but each answers reads only once its own leader is
	// elected: until then a read finds no responders.
	for _, name := range []string{ledger.StreamName, ledger.CheckpointStreamName} {
		for range 200 {
			var st jetstream.Stream
			if st, err = js.Stream(ctx, name); err == nil {
				if _, err = st.GetLastMsgForSubject(ctx, ">"); errors.Is(err, jetstream.ErrMsgNotFound) {
					err = nil
				}
			}
			if err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
	}
	dir := t.TempDir()
	if _, err := ledger.AddEntity(ctx, dir, "UNODC", "United Nations Office on Drugs and Crime", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	ck, vkey := startCheckpointer(t, js, dir)
	for i := range 20 {
		ev := ledger.Event{SpecVersion: "1.0", ID: fmt.Sprintf("c-%d", i), Source: ledger.SourcePrefix + "UNODC",
			Type: "compact.training.delivered", Time: "2025-05-07T10:00:00Z",
			Data: json.RawMessage(`{"title":"Workshop","start":"2025-05-06","format":"workshop","organizers":[{"entity":"UNODC"}]}`)}
		body, _ := json.Marshal(&ev)
		if _, err := js.Publish(ctx, ev.Subject(), body); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ck.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	var file bytes.Buffer
	if _, err := backup.Write(ctx, backup.Source{Conn: nc, DataDir: dir}, &file); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, bytes.NewReader(file.Bytes()), backup.RestoreConfig{DataDir: to, KeyFile: filepath.Join(dir, audit.SignerKeyFile)}); err != nil {
		t.Fatal(err)
	}
	rjs := openRestored(t, to)
	for _, s := range backup.Streams {
		was, is := messages(t, js, s), messages(t, rjs, s)
		if strings.Join(was, "\n") != strings.Join(is, "\n") || len(is) == 0 {
			t.Errorf("stream %s: restored %d messages, want the %d backed up, the same", s, len(is), len(was))
		}
	}
	rep, err := audit.Verify(ctx, rjs, vkey, audit.VerifyOptions{})
	if err != nil || rep.Verified != 20 {
		t.Fatalf("verify of the restored ledger: %v %+v", err, rep)
	}
	// serve on the restored directory takes its streams as the contract's
	if err := ledger.EnsureStreams(ctx, rjs, ledger.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
}
