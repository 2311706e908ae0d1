package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"compact/ledger"
	"compact/ledger/audit"
)

// crashRounds is how many random kill points each test of this file tries: a few in
// `go test ./...`, more with -crash.rounds N.
var crashRounds = flag.Int("crash.rounds", 3, "kills per crash-point test (more for a longer search)")

// connectAs connects to a child's embedded NATS server with creds' nkey.
func connectAs(t *testing.T, url string, creds ledger.Credentials) *nats.Conn {
	t.Helper()
	kp, err := nkeys.FromSeed([]byte(creds.NKeySeed))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect(url, nats.Nkey(pub, kp.Sign), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// publishBatchHTTP sends ids as one batch request and records each event's outcome.
func publishBatchHTTP(url, token string, ids []string, log *ledgerLog) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(perfEvent("UNODC", id))
	}
	body.WriteByte(']')
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/events", &body)
	req.Header.Set("Content-Type", ledger.MediaBatch)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	var r ledger.Reply
	if err == nil {
		defer resp.Body.Close()
		err = json.NewDecoder(resp.Body).Decode(&r)
	}
	if err != nil || len(r.Results) != len(ids) {
		for _, id := range ids {
			log.record(id, unknown, 0)
		}
		return
	}
	for i, res := range r.Results {
		o, seq := judge(res)
		log.record(ids[i], o, seq)
	}
}

// checkBatchesWhole reads the stream as the auditor and checks that every JetStream atomic
// batch in it is whole: its messages at consecutive sequences, numbered 1..n, the last one the
// commit. A batch the server had not committed when it was killed must leave nothing.
func checkBatchesWhole(t *testing.T, natsURL string, aud ledger.Credentials) {
	t.Helper()
	nc := connectAs(t, natsURL, aud)
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	if last == 0 {
		return
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	type open struct {
		id       string
		next     int
		lastSeq  uint64
		firstSeq uint64
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2000))
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	var cur *open
	batches := 0
	for seq := uint64(1); seq <= last; seq++ {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			t.Fatalf("read stream at seq %d of %d: %v", seq, last, err)
		}
		md, _ := m.Metadata()
		if md.Sequence.Stream != seq {
			t.Fatalf("stream has a hole: seq %d follows %d", md.Sequence.Stream, seq-1)
		}
		id := m.Headers().Get("Nats-Batch-Id")
		if cur != nil && id != cur.id {
			t.Fatalf("atomic batch %s (seqs %d..%d) is not whole: message %d is not part of it and no commit came", cur.id, cur.firstSeq, cur.lastSeq, seq)
		}
		if id == "" {
			continue
		}
		n, _ := strconv.Atoi(m.Headers().Get("Nats-Batch-Sequence"))
		if cur == nil {
			cur = &open{id: id, next: 1, firstSeq: seq}
		}
		if n != cur.next {
			t.Fatalf("atomic batch %s: message %d has batch sequence %d, want %d", id, seq, n, cur.next)
		}
		cur.next++
		cur.lastSeq = seq
		if m.Headers().Get("Nats-Batch-Commit") != "" {
			cur = nil
			batches++
		}
	}
	if cur != nil {
		t.Fatalf("atomic batch %s (seqs %d..%d) ends the stream without its commit", cur.id, cur.firstSeq, cur.lastSeq)
	}
	if batches == 0 {
		t.Fatal("no atomic batch in the stream: the check proved nothing")
	}
}

// verifyCLI runs `compact verify` against a child and fails the test unless it passes.
func verifyCLI(t *testing.T, bin, url, dataDir, token string, extra ...string) string {
	t.Helper()
	args := append([]string{"verify", "--server", url, "--token", token, "--key", filepath.Join(dataDir, audit.VerifierKeyFile)}, extra...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("compact verify after a kill: %v\n%s", err, out)
	}
	return string(out)
}

// TestCrashWhileBatchesAndCheckpointsInFlight kills the real binary at random moments while
// publishers keep batch requests outstanding (each an atomic batch on the stream, several
// merged by the group commit) and the checkpointer signs a checkpoint every 1,000 events.
// After every restart: each acknowledged event is there once at its sequence, every atomic
// batch in the stream is whole, `compact verify` passes, the views equal a rebuild.
func TestCrashWhileBatchesAndCheckpointsInFlight(t *testing.T) {
	bin := compactBinary(t)
	dataDir := t.TempDir()
	srv := newRestartable(t, bin, dataDir)
	pub := addEntityCLI(t, bin, dataDir, "UNODC", "publisher")
	natsPub := addEntityCLI(t, bin, dataDir, "UNOCT", "publisher")
	aud := addEntityCLI(t, bin, dataDir, "AUDITOR", "auditor")
	admin := addEntityCLI(t, bin, dataDir, "OPS", "admin")
	log := &ledgerLog{out: map[string]outcome{}, seq: map[string]uint64{}}
	var next int
	var nextMu sync.Mutex
	newIDs := func(prefix string, n int) []string {
		nextMu.Lock()
		defer nextMu.Unlock()
		ids := make([]string, n)
		for i := range ids {
			next++
			ids[i] = fmt.Sprintf("%s-%07d", prefix, next)
		}
		return ids
	}
	kept := filepath.Join(t.TempDir(), "kept.ckpt")
	kills := *crashRounds
	for round := 0; round <= kills; round++ {
		c := srv.start()
		if round == 1 {
			verifyCLI(t, bin, c.httpURL, dataDir, aud.Token, "--save-checkpoint", kept)
		}
		if round > 0 {
			checkLedger(t, c.httpURL, aud.Token, log)
			checkBatchesWhole(t, c.natsURL, aud)
			// the checkpoint an auditor kept before the kill still holds: no fork was signed
			verifyCLI(t, bin, c.httpURL, dataDir, aud.Token, "--checkpoint", kept, "--save-checkpoint", kept)
		}
		nc := connectAs(t, c.natsURL, natsPub)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if w == 5 {
						id := newIDs("n", 1)[0]
						o, seq := publishNATS(nc, id)
						log.record(id, o, seq)
						if o == unknown {
							return
						}
						continue
					}
					// 16..80 events: atomic batches of their own, or merged with others'
					publishBatchHTTP(c.httpURL, pub.Token, newIDs("h", 16+rand.IntN(65)), log)
				}
			})
		}
		if round < kills {
			time.Sleep(time.Duration(200+rand.IntN(1500)) * time.Millisecond)
			c.cmd.Process.Signal(syscall.SIGKILL)
			<-c.finished
			close(stop)
			wg.Wait()
			nc.Close()
			continue
		}
		time.Sleep(300 * time.Millisecond)
		close(stop)
		wg.Wait()
		nc.Close()
		checkLedger(t, c.httpURL, aud.Token, log)
		checkBatchesWhole(t, c.natsURL, aud)
		verifyCLI(t, bin, c.httpURL, dataDir, aud.Token, "--checkpoint", kept)
		checkViewsEqualRebuild(t, c.httpURL, admin.Token)
	}
}

// fillLedger stores n events in batch requests of 1,000 and returns their ids.
func fillLedger(t *testing.T, url, token, prefix string, n int) {
	t.Helper()
	log := &ledgerLog{out: map[string]outcome{}, seq: map[string]uint64{}}
	for i := 0; i < n; i += 1000 {
		ids := make([]string, min(1000, n-i))
		for j := range ids {
			ids[j] = fmt.Sprintf("%s-%07d", prefix, i+j)
		}
		publishBatchHTTP(url, token, ids, log)
	}
	for id, o := range snapshot(log) {
		if o != acked {
			t.Fatalf("filling the ledger: %s not acknowledged", id)
		}
	}
}

// viewStatus is what /v1/status says of the views.
type viewStatus struct {
	StreamLastSeq uint64 `json:"stream_last_seq"`
	Views         []struct {
		Name       string `json:"name"`
		Checkpoint uint64 `json:"checkpoint"`
		Lag        uint64 `json:"lag"`
		Quarantine uint64 `json:"quarantined"`
		Error      string `json:"last_error"`
		Rebuild    *struct {
			Checkpoint uint64 `json:"checkpoint"`
		} `json:"rebuild"`
	} `json:"views"`
}

func getStatus(t *testing.T, url string) (viewStatus, string) {
	t.Helper()
	resp, err := http.Get(url + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	var st viewStatus
	if err := json.Unmarshal(b.Bytes(), &st); err != nil {
		t.Fatalf("status %q: %v", b.String(), err)
	}
	return st, b.String()
}

// TestCrashDuringCatchUpAndRebuild kills the real binary at random moments of the views'
// catch-up from sequence 1 (the views' store removed), of a `compact rebuild` (before and
// after its generation swap) and of a `compact replay`, then checks that the views caught up
// equal a clean rebuild, no rebuild is left hanging, verify passes and the server serves.
func TestCrashDuringCatchUpAndRebuild(t *testing.T) {
	bin := compactBinary(t)
	dataDir := t.TempDir()
	srv := newRestartable(t, bin, dataDir)
	pub := addEntityCLI(t, bin, dataDir, "UNODC", "publisher")
	aud := addEntityCLI(t, bin, dataDir, "AUDITOR", "auditor")
	admin := addEntityCLI(t, bin, dataDir, "OPS", "admin")
	c := srv.start()
	fillLedger(t, c.httpURL, pub.Token, "fill", 20000)

	// A replay killed half-way leaves the server serving, and the next replay whole.
	for range *crashRounds {
		rp := exec.Command(bin, "replay", "--server", c.httpURL, "--token", aud.Token)
		stdout, err := rp.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := rp.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1+rand.IntN(1<<20))
		io.ReadAtLeast(stdout, buf, len(buf))
		rp.Process.Signal(syscall.SIGKILL)
		rp.Wait()
	}
	whole, err := exec.Command(bin, "replay", "--server", c.httpURL, "--token", aud.Token).Output()
	if err != nil {
		t.Fatalf("replay after killed replays: %v", err)
	}
	if n := bytes.Count(whole, []byte("\n")); n != 20000 {
		t.Fatalf("replay after killed replays: %d lines, want 20000", n)
	}

	// A replay cut short by the server's death must not end as if it were complete.
	rp := exec.Command(bin, "replay", "--server", c.httpURL, "--token", aud.Token)
	stdout, err := rp.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Start(); err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 4096)
	if _, err := stdout.Read(first); err != nil {
		t.Fatal(err)
	}
	c.kill()
	var rest bytes.Buffer
	rest.ReadFrom(stdout)
	if err := rp.Wait(); err == nil {
		t.Fatalf("compact replay exited 0 though the server died during the replay (%d bytes after the first read)", rest.Len())
	}

	// So must a verify: a history cut short by the server's death does not verify.
	c = srv.start()
	for range *crashRounds {
		vf := exec.Command(bin, "verify", "--server", c.httpURL, "--token", aud.Token, "--key", filepath.Join(dataDir, audit.VerifierKeyFile))
		var vout bytes.Buffer
		vf.Stdout, vf.Stderr = &vout, &vout
		if err := vf.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		c.kill()
		err := vf.Wait()
		if err == nil && !strings.Contains(vout.String(), "20000") {
			t.Fatalf("compact verify exited 0 though the server died during it:\n%s", vout.String())
		}
		t.Logf("verify with the server killed under it: %v", err)
		c = srv.start()
	}
	c.kill()

	rounds := *crashRounds * 2
	for round := 0; round < rounds; round++ {
		kind := round % 2
		if kind == 0 {
			// catch-up from sequence 1
			if err := os.RemoveAll(filepath.Join(dataDir, "views")); err != nil {
				t.Fatal(err)
			}
		}
		c = srv.start()
		if kind == 1 {
			out, err := exec.Command(bin, "rebuild", "--server", c.httpURL, "--token", admin.Token, "--no-wait").CombinedOutput()
			if err != nil {
				t.Fatalf("rebuild --no-wait: %v\n%s", err, out)
			}
		}
		// A random kill point: once the catch-up (or the rebuild) has passed a random
		// sequence, or at once, or after it finished (after the generation swap).
		target := uint64(rand.IntN(24000))
		var at string
		if rand.IntN(2) == 0 {
			// or a random moment, most likely in the middle of applying a batch
			time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
			target = 0
		}
		for {
			st, _ := getStatus(t, c.httpURL)
			progress, done := ^uint64(0), true
			for _, v := range st.Views {
				ck := v.Checkpoint
				if kind == 1 {
					if v.Rebuild == nil {
						continue // swapped in already
					}
					ck = v.Rebuild.Checkpoint
				}
				progress = min(progress, ck)
				done = done && ck >= st.StreamLastSeq
			}
			if done || progress >= target {
				at = fmt.Sprintf("at %d of %d (done: %v)", progress, st.StreamLastSeq, done)
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Logf("round %d (%s): killed %s", round, []string{"catch-up", "rebuild"}[kind], at)
		c.kill()
	}
	c = srv.start()
	// The views catch up, and no rebuild is left half-way: a resumed one finishes.
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, raw := getStatus(t, c.httpURL)
		done := len(st.Views) == 3
		for _, v := range st.Views {
			done = done && v.Lag == 0 && v.Rebuild == nil
			if v.Error != "" || v.Quarantine != 0 {
				t.Fatalf("a view after the kills: %s", raw)
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("views did not settle: %s", raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	lived := map[string]string{}
	for _, p := range viewPaths {
		lived[p] = httpGet(t, c.httpURL+p)
	}
	if !strings.Contains(lived[viewPaths[0]], `"items"`) {
		t.Fatalf("the review holds no items: the comparison proves nothing: %.300s", lived[viewPaths[0]])
	}
	verifyCLI(t, bin, c.httpURL, dataDir, aud.Token)
	// The reference: the views built afresh from sequence 1, index and all, by a new process.
	c.kill()
	if err := os.Rename(filepath.Join(dataDir, "views"), filepath.Join(dataDir, "views.lived")); err != nil {
		t.Fatal(err)
	}
	c = srv.start()
	waitCaughtUp(t, c.httpURL)
	for _, p := range viewPaths {
		if fresh := httpGet(t, c.httpURL+p); fresh != lived[p] {
			t.Fatalf("%s after the kills differs from views built afresh:\nlived: %.400s\nfresh: %.400s", p, lived[p], fresh)
		}
	}
}

var viewPaths = []string{"/v1/reviews/2031-01", "/v1/counters?as_of=2031-12-31", "/v1/counters?as_of=2031-01-13", "/v1/structure?as_of=2031-12-31"}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b.String())
	}
	return b.String()
}

// waitCaughtUp waits until every view has applied the whole stream.
func waitCaughtUp(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, raw := getStatus(t, url)
		done := len(st.Views) == 3
		for _, v := range st.Views {
			done = done && v.Lag == 0 && v.Rebuild == nil
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("views did not catch up: %s", raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKilledEntitiesAdd kills `compact entities add` at random moments while a server runs:
// the entities file stays readable, a later add does not wait for a lock the killed one held,
// the server keeps serving and every entity whose add finished publishes with its credentials.
func TestKilledEntitiesAdd(t *testing.T) {
	bin := compactBinary(t)
	dataDir := t.TempDir()
	aud := addEntityCLI(t, bin, dataDir, "AUDITOR", "auditor")
	c := serveChild(t, bin, dataDir)
	added := map[string]ledger.Credentials{}
	for i := range *crashRounds * 4 {
		name := fmt.Sprintf("E%02d", i)
		cmd := exec.Command(bin, "entities", "add", name, "--name", name, "--role", "publisher", "--data", dataDir, "--json")
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(time.Duration(rand.IntN(60000)) * time.Microsecond):
			cmd.Process.Signal(syscall.SIGKILL)
			err = <-done
		}
		if err == nil {
			var cr ledger.Credentials
			if jerr := json.Unmarshal(out.Bytes(), &cr); jerr != nil {
				t.Fatalf("entities add %s exited 0 printing %q", name, out.String())
			}
			added[name] = cr
		}
		if _, rerr := ledger.OpenRegistry(dataDir); rerr != nil {
			t.Fatalf("entities file after a killed entities add: %v", rerr)
		}
	}
	// The lock is free: an add after the kills finishes at once.
	added["LAST"] = addEntityCLI(t, bin, dataDir, "LAST", "publisher")
	t.Logf("%d of %d adds finished before their kill", len(added)-1, *crashRounds*4)
	deadline := time.Now().Add(30 * time.Second)
	for name, cr := range added {
		for {
			var body bytes.Buffer
			body.Write(perfEvent(name, "after-"+name))
			req, _ := http.NewRequest("POST", c.httpURL+"/v1/events", &body)
			req.Header.Set("Content-Type", ledger.MediaEvent)
			req.Header.Set("Authorization", "Bearer "+cr.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 201 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("entity %s, added before the kills, cannot publish: %d", name, resp.StatusCode)
			}
			time.Sleep(100 * time.Millisecond) // the server picks the file up within a second
		}
	}
	verifyCLI(t, bin, c.httpURL, dataDir, aud.Token)
}

// tearTails appends a torn write to the newest log of each Pebble store (views, index,
// checkpoints) and to the last block of every stream: random bytes, zeros, or a cut copy
// of the file's own last bytes (a record whose end never reached the disk); and now and then
// removes the dedup index.
func tearTails(t *testing.T, dataDir string) []string {
	t.Helper()
	var files []string
	for _, store := range []string{"views", "index", "checkpoints"} {
		logs, _ := filepath.Glob(filepath.Join(dataDir, store, "*.log"))
		if len(logs) == 0 {
			t.Fatalf("no Pebble log in %s", store)
		}
		files = append(files, logs[len(logs)-1]) // names are zero-padded: the last is the newest
	}
	for _, stream := range []string{ledger.StreamName, ledger.CheckpointStreamName, "KV_COMPACT_VIEWS"} {
		blks, _ := filepath.Glob(filepath.Join(dataDir, "nats", "jetstream", "*", "streams", stream, "msgs", "*.blk"))
		if len(blks) == 0 {
			t.Fatalf("no message block of stream %s", stream)
		}
		newest := blks[0]
		for _, b := range blks {
			n, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(b), ".blk"))
			m, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(newest), ".blk"))
			if n > m {
				newest = b
			}
		}
		files = append(files, newest)
	}
	var done []string
	for _, path := range files {
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n := 1 + rand.IntN(3000)
		var tail []byte
		kind := rand.IntN(3)
		switch kind {
		case 0:
			tail = make([]byte, n)
			for i := range tail {
				tail[i] = byte(rand.IntN(256))
			}
		case 1:
			tail = make([]byte, n)
		case 2:
			cut := old[max(0, len(old)-n):]
			tail = cut[:len(cut)/2+1]
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(tail); err != nil {
			t.Fatal(err)
		}
		f.Close()
		rel, _ := filepath.Rel(dataDir, path)
		done = append(done, fmt.Sprintf("%s +%d %s", rel, len(tail), []string{"random", "zero", "cut copy"}[kind]))
	}
	if rand.IntN(3) == 0 {
		// the dedup index is a fold of the stream, rebuilt from it if lost (README)
		if err := os.RemoveAll(filepath.Join(dataDir, "index")); err != nil {
			t.Fatal(err)
		}
		done = append(done, "index/ removed")
	}
	if rand.IntN(3) == 0 {
		// the checkpointer's tree too: it is folded again from sequence 1 and must meet the
		// signed checkpoints
		if err := os.RemoveAll(filepath.Join(dataDir, "checkpoints")); err != nil {
			t.Fatal(err)
		}
		done = append(done, "checkpoints/ removed")
	}
	return done
}

// TestTornTailsAfterKill kills the binary while publishers send, tears the tail of every
// store's newest log and of each stream's last block, and restarts: what was acknowledged is
// there once, verify passes, the views equal a rebuild and the server takes new events.
func TestTornTailsAfterKill(t *testing.T) {
	bin := compactBinary(t)
	dataDir := t.TempDir()
	srv := newRestartable(t, bin, dataDir)
	pub := addEntityCLI(t, bin, dataDir, "UNODC", "publisher")
	aud := addEntityCLI(t, bin, dataDir, "AUDITOR", "auditor")
	admin := addEntityCLI(t, bin, dataDir, "OPS", "admin")
	log := &ledgerLog{out: map[string]outcome{}, seq: map[string]uint64{}}
	var next int
	var nextMu sync.Mutex
	newIDs := func(n int) []string {
		nextMu.Lock()
		defer nextMu.Unlock()
		ids := make([]string, n)
		for i := range ids {
			next++
			ids[i] = fmt.Sprintf("t-%07d", next)
		}
		return ids
	}
	for round := 0; round <= *crashRounds; round++ {
		c := srv.start()
		if round > 0 {
			checkLedger(t, c.httpURL, aud.Token, log)
			verifyCLI(t, bin, c.httpURL, dataDir, aud.Token)
			checkViewsEqualRebuild(t, c.httpURL, admin.Token)
		}
		if round == *crashRounds {
			publishBatchHTTP(c.httpURL, pub.Token, newIDs(20), log)
			checkLedger(t, c.httpURL, aud.Token, log)
			return
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					publishBatchHTTP(c.httpURL, pub.Token, newIDs(1+rand.IntN(40)), log)
				}
			})
		}
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		c.kill()
		close(stop)
		wg.Wait()
		t.Logf("round %d: %v", round, tearTails(t, dataDir))
	}
}
