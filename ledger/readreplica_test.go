package ledger_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"compact/ledger"
)

// A read replica (a node that does not ingest, serve --role projections) started on a cluster
// before the ingest process created the ledger's streams itself, with its own --replicas (1,
// as the README's read replicas are run): the ingest process with --replicas 3 then took the
// streams as they were, and every event it acknowledged was on one member of the cluster.
// The read replica waits for the streams instead, and the ingest process creates them.
func TestAReadReplicaStartedFirstCreatesNoStream(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs lockedBuffer
	type started struct {
		n   *ledger.Node
		err error
	}
	replica := make(chan started, 1)
	go func() {
		n, err := ledger.StartNode(ctx, ledger.NodeConfig{DataDir: t.TempDir(), NATSURL: c.urls(),
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		replica <- started{n, err}
	}()
	// the replica has started (it made the streams) or says it waits for them
	var r started
	var done bool
	for deadline := time.Now().Add(time.Minute); !done && !strings.Contains(logs.String(), "waiting for the ledger's streams"); time.Sleep(20 * time.Millisecond) {
		select {
		case r = <-replica:
			done = true
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read replica neither started nor said it waits:\n%s", logs.String())
		}
	}
	ingest := clusterNode(t, c, t.TempDir()) // --replicas 3
	if !done {
		r = <-replica
	}
	if r.err != nil {
		t.Fatalf("the read replica, once the ingest process made the streams: %v", r.err)
	}
	t.Cleanup(func() { r.n.Close(context.Background()) })
	for _, name := range []string{ledger.StreamName, ledger.CheckpointStreamName} {
		s, err := ingest.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("stream %s has %d replicas; the ingest process asked for 3", name, got)
		}
	}
	if r.n.StreamReplicas != 3 {
		t.Errorf("the read replica sees %d stream replicas (its KV bucket's), want 3", r.n.StreamReplicas)
	}
}

// lockedBuffer is a bytes.Buffer for a logger written from other goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
