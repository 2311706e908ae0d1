package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/tlog"

	"compact/ledger"
)

// TestMain doubles as the crash test's child process: with AUDIT_CRASH_NATS set it runs a
// checkpointer until it is killed.
func TestMain(m *testing.M) {
	if url := os.Getenv("AUDIT_CRASH_NATS"); url != "" {
		if err := runCrashChild(url, os.Getenv("AUDIT_CRASH_PEBBLE"), os.Getenv("AUDIT_CRASH_KEY")); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runCrashChild(url, pdir, keyDir string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	signer, vkey, err := LoadOrCreateKey(keyDir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	c, err := Open(ctx, Config{JetStream: js, Dir: pdir, Signer: signer, VerifierKey: vkey, Every: 3, Interval: 20 * time.Millisecond})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	for c.Status().Err == "" {
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New(c.Status().Err)
}

// dumpTree reads every key of a checkpointer's Pebble state.
func dumpTree(t *testing.T, dir string) (map[string][]byte, uint64) {
	t.Helper()
	db := openPebble(t, dir)
	defer db.Close()
	out := map[string][]byte{}
	it, err := db.NewIter(&pebble.IterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for it.First(); it.Valid(); it.Next() {
		out[string(it.Key())] = bytes.Clone(it.Value())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	size := binary.BigEndian.Uint64(out["checkpoints/size"])
	hashes := 0
	for k := range out {
		if strings.HasPrefix(k, "checkpoints/h") {
			hashes++
		}
	}
	if int64(hashes) != tlog.StoredHashCount(int64(size)) {
		t.Fatalf("%s: %d stored hashes for a tree of %d leaves, want %d", dir, hashes, size, tlog.StoredHashCount(int64(size)))
	}
	return out, size
}

func checkpointSizes(t *testing.T, js jetstream.JetStream) []uint64 {
	t.Helper()
	var sizes []uint64
	for _, r := range checkpointRecords(t, JetStreamSource{JS: js}) {
		sizes = append(sizes, r.CoveredSeq)
	}
	return sizes
}

// After a clean restart the checkpointer goes on from its Pebble state: no leaf twice,
// and the same state as a checkpointer rebuilt from sequence 1.
func TestCheckpointerResumes(t *testing.T) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	ctx := ctxT(t)
	publish(t, e.js, seqs(1, 12)...)
	pdir := t.TempDir()
	c := startCheckpointer(t, e.js, pdir, signer, vkey, 5)
	if cp := flush(t, c); cp.Size != 12 {
		t.Fatalf("%+v", cp)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	publish(t, e.js, seqs(13, 20)...)

	c2, err := Open(ctx, Config{JetStream: e.js, Dir: pdir, Signer: signer, VerifierKey: vkey, Every: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Close(context.Background()) })
	if st := c2.Status(); st.Size != 12 || st.Latest == nil || st.Latest.Size != 12 {
		t.Fatalf("reopened: %+v", st)
	}
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if cp := flush(t, c2); cp.Size != 20 {
		t.Fatalf("%+v", cp)
	}
	c2.Close(ctx)
	resumed, size := dumpTree(t, pdir)
	if size != 20 {
		t.Fatalf("tree size %d after resuming, want 20", size)
	}

	rdir := t.TempDir()
	rc := startCheckpointer(t, e.js, rdir, signer, vkey, 5)
	flush(t, rc)
	rc.Close(ctx)
	rebuilt, _ := dumpTree(t, rdir)
	if !equalDumps(resumed, rebuilt) {
		t.Fatal("resumed state differs from the rebuilt one")
	}
	// The rebuild found the published checkpoints already there and signed nothing again.
	if got, want := checkpointSizes(t, e.js), []uint64{5, 10, 12, 17, 20}; !equalU64(got, want) {
		t.Fatalf("checkpoints %v, want %v", got, want)
	}
	if rep, err := Verify(ctx, e.js, vkey, VerifyOptions{}); err != nil || rep.Verified != 20 {
		t.Fatalf("%v %s", err, rep)
	}
}

func equalDumps(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(b[k], v) {
			return false
		}
	}
	return true
}

// A checkpointer killed (SIGKILL) while it folds and publishes leaves a state that is the
// state of a rebuild at some size, and resumes from it to the rebuild's state.
func TestCheckpointerCrashEqualsRebuild(t *testing.T) {
	e := newEnv(t)
	keyDir := t.TempDir()
	signer, vkey, err := LoadOrCreateKey(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	const total = 300
	publish(t, e.js, seqs(1, 30)...)

	pdir := t.TempDir()
	var stderr bytes.Buffer
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "AUDIT_CRASH_NATS="+e.s.ClientURL(), "AUDIT_CRASH_PEBBLE="+pdir, "AUDIT_CRASH_KEY="+keyDir)
	child.Stderr = &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()

	// Keep the child busy and kill it once it has published checkpoints past seq 60.
	cps, err := e.js.Stream(ctx, ledger.CheckpointStreamName)
	if err != nil {
		t.Fatal(err)
	}
	next := 31
	deadline := time.Now().Add(30 * time.Second)
	for {
		publish(t, e.js, next, next+1, next+2)
		next += 3
		if m, err := cps.GetLastMsgForSubject(ctx, ledger.CheckpointSubject); err == nil {
			if covered := m.Header.Get(HeaderCoveredSeq); len(covered) > 0 && atoi(covered) >= 60 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("child exited early: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) || next > total-3 {
			t.Fatalf("child published no checkpoint past 60 (stderr: %s)", stderr.String())
		}
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	publish(t, e.js, seqs(next, total)...)

	crashed, crashedSize := dumpTree(t, pdir)
	t.Logf("killed after folding %d messages (%d published)", crashedSize, next-1)
	if crashedSize < 60 || crashedSize >= total {
		t.Fatalf("crashed tree size %d", crashedSize)
	}

	rdir := t.TempDir()
	rc := startCheckpointer(t, e.js, rdir, signer, vkey, 3)
	flush(t, rc)
	rc.Close(ctx)
	rebuilt, _ := dumpTree(t, rdir)
	for k, v := range crashed {
		if k == "checkpoints/size" {
			continue
		}
		if !bytes.Equal(rebuilt[k], v) {
			t.Fatalf("key %q after the crash differs from the rebuild", k)
		}
	}

	c := startCheckpointer(t, e.js, pdir, signer, vkey, 3)
	if cp := flush(t, c); cp.Size != total {
		t.Fatalf("%+v", cp)
	}
	c.Close(ctx)
	resumed, size := dumpTree(t, pdir)
	if size != total || !equalDumps(resumed, rebuilt) {
		t.Fatalf("resumed state (size %d) differs from the rebuild", size)
	}
	rep, err := Verify(ctx, e.js, vkey, VerifyOptions{})
	if err != nil || rep.Verified != total {
		t.Fatalf("%v\n%s", err, rep)
	}
	sizes := checkpointSizes(t, e.js)
	for i := 1; i < len(sizes); i++ {
		if sizes[i] <= sizes[i-1] {
			t.Fatalf("checkpoint sizes do not grow: %v", sizes)
		}
	}
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

// With few events, the interval publishes the checkpoint (no Flush involved).
func TestCheckpointOnInterval(t *testing.T) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	ctx := ctxT(t)
	c, err := Open(ctx, Config{JetStream: e.js, Dir: t.TempDir(), Signer: signer, VerifierKey: vkey, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publish(t, e.js, 1, 2, 3)
	for c.Latest() == nil || c.Latest().Size < 3 {
		select {
		case <-ctx.Done():
			t.Fatalf("no checkpoint of 3 events: %+v", c.Status())
		case <-time.After(20 * time.Millisecond):
		}
	}
	before := checkpointSizes(t, e.js)
	if before[len(before)-1] != 3 {
		t.Fatalf("checkpoints %v", before)
	}
	// The tree does not grow: no more checkpoints on later ticks.
	time.Sleep(200 * time.Millisecond)
	if got := checkpointSizes(t, e.js); !equalU64(got, before) {
		t.Fatalf("checkpoints %v after idle ticks, were %v", got, before)
	}
}
