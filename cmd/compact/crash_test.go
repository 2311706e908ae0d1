package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"compact/ledger"
	"compact/ledger/natstest"
	"compact/ledger/perf"
)

// buildBinary builds cmd/compact once per test binary run.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func compactBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "compact-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "compact")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// restartable is a `compact serve` data directory that a test kills and starts again: the
// same loopback ports at every start, one log for all the starts.
type restartable struct {
	t                  testing.TB
	bin, dir           string
	httpPort, natsPort int
	logs               bytes.Buffer
	logMu              sync.Mutex
}

func newRestartable(t testing.TB, bin, dir string) *restartable {
	httpPort, natsPort := httpAndNATSPorts(t)
	return &restartable{t: t, bin: bin, dir: dir, httpPort: httpPort, natsPort: natsPort}
}

// start starts `compact serve` on the directory and the ports, with extra flags. The ports
// were free when the fixture took them, but while no server holds them another program's
// outgoing connection may take one as its local port for a while: a start refused for a
// port in use is tried again.
func (r *restartable) start(extra ...string) *child {
	r.t.Helper()
	for attempt := 1; ; attempt++ {
		r.logMu.Lock()
		from := r.logs.Len()
		r.logMu.Unlock()
		c, exited := tryStartChild(r.t, r.bin, r.dir, r.httpPort, r.natsPort, &r.logs, &r.logMu, extra...)
		if !exited {
			return c
		}
		r.logMu.Lock()
		logs, said := r.logs.String(), r.logs.String()[from:]
		r.logMu.Unlock()
		if attempt < 20 && strings.Contains(said, "address already in use") {
			time.Sleep(250 * time.Millisecond)
			continue
		}
		r.t.Fatalf("compact serve exited at start:\n%s", logs)
	}
}

// serveChild starts `compact serve` on dir on two free ports of its own, its output kept in
// the child (startChild, for a test that restarts on the same ports or shares a log).
func serveChild(t testing.TB, bin, dir string, extra ...string) *child {
	t.Helper()
	httpPort, natsPort := httpAndNATSPorts(t)
	return startChild(t, bin, dir, httpPort, natsPort, new(bytes.Buffer), new(sync.Mutex), extra...)
}

// httpAndNATSPorts is two distinct free ports: one for HTTP, one for NATS.
func httpAndNATSPorts(t testing.TB) (int, int) {
	p := natstest.FreePorts(t, 2)
	return p[0], p[1]
}

// child is a `compact serve` running as a child process on loopback ports.
type child struct {
	cmd      *exec.Cmd
	httpURL  string
	natsURL  string
	logs     *bytes.Buffer
	logMu    *sync.Mutex
	finished chan struct{}
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startChild(t testing.TB, bin, dataDir string, httpPort, natsPort int, logs *bytes.Buffer, mu *sync.Mutex, extra ...string) *child {
	t.Helper()
	c, exited := tryStartChild(t, bin, dataDir, httpPort, natsPort, logs, mu, extra...)
	if exited {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("compact serve exited at start:\n%s", logs.String())
	}
	return c
}

// tryStartChild starts `compact serve` and waits until it is healthy; exited says it ended
// before that (its output is in logs).
func tryStartChild(t testing.TB, bin, dataDir string, httpPort, natsPort int, logs *bytes.Buffer, mu *sync.Mutex, extra ...string) (c *child, exited bool) {
	t.Helper()
	args := append([]string{"serve", "--data", dataDir,
		"--listen", fmt.Sprintf("127.0.0.1:%d", natsPort),
		"--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--rate-limit", "0"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout = syncWriter{mu, logs}
	cmd.Stderr = syncWriter{mu, logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c = &child{cmd: cmd, httpURL: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		natsURL: fmt.Sprintf("nats://127.0.0.1:%d", natsPort), logs: logs, logMu: mu, finished: make(chan struct{})}
	go func() { cmd.Wait(); close(c.finished) }()
	t.Cleanup(func() { c.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(c.httpURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c, false
			}
		}
		select {
		case <-c.finished:
			return nil, true
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("compact serve not healthy within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *child) kill() {
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-c.finished
}

func addEntityCLI(t testing.TB, bin, dataDir, entity, role string) ledger.Credentials {
	t.Helper()
	out, err := exec.Command(bin, "entities", "add", entity, "--name", entity+" (test)", "--role", role, "--data", dataDir, "--json").Output()
	if err != nil {
		t.Fatalf("entities add %s: %v", entity, err)
	}
	var c ledger.Credentials
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("entities add --json printed %q: %v", out, err)
	}
	return c
}

type outcome int

const (
	acked outcome = iota
	failed
	unknown
)

// ledgerLog records what every publisher was told.
type ledgerLog struct {
	mu  sync.Mutex
	out map[string]outcome // id -> outcome
	seq map[string]uint64
}

func (l *ledgerLog) record(id string, o outcome, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.out[id]; ok && prev == acked {
		return // an id re-sent after an acknowledgement stays acknowledged
	}
	l.out[id] = o
	if o == acked {
		l.seq[id] = seq
	}
}

func publishHTTP(url, token, id string) (outcome, uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/events", bytes.NewReader(perf.Event("UNODC", id)))
	req.Header.Set("Content-Type", ledger.MediaEvent)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return unknown, 0
	}
	defer resp.Body.Close()
	var r ledger.Reply
	if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Results) != 1 {
		return unknown, 0
	}
	return judge(r.Results[0])
}

func judge(r ledger.Result) (outcome, uint64) {
	switch {
	case r.Error == nil:
		return acked, r.Seq
	case strings.Contains(r.Error.Message, "outcome unknown"):
		return unknown, 0
	default:
		return failed, 0
	}
}

func publishNATS(nc *nats.Conn, id string) (outcome, uint64) { return publishNATSAs(nc, "UNOCT", id) }

func perfEvent(entity, id string) []byte { return perf.Event(entity, id) }

func publishNATSAs(nc *nats.Conn, entity, id string) (outcome, uint64) {
	msg, err := nc.Request("compact.ingest."+entity, perf.Event(entity, id), 5*time.Second)
	if err != nil {
		return unknown, 0
	}
	var r ledger.Reply
	if json.Unmarshal(msg.Data, &r) != nil || len(r.Results) != 1 {
		return unknown, 0
	}
	return judge(r.Results[0])
}

// TestCrashNoAcknowledgedEventLost runs the real binary, publishes over HTTP and NATS
// while killing the server with SIGKILL at random moments, and checks after each restart
// that every acknowledged event is in the ledger exactly once.
func TestCrashNoAcknowledgedEventLost(t *testing.T) {
	bin := compactBinary(t)
	dataDir := t.TempDir()
	srv := newRestartable(t, bin, dataDir)
	pub := addEntityCLI(t, bin, dataDir, "UNODC", "publisher")
	natsPub := addEntityCLI(t, bin, dataDir, "UNOCT", "publisher")
	aud := addEntityCLI(t, bin, dataDir, "AUDITOR", "auditor")
	admin := addEntityCLI(t, bin, dataDir, "OPS", "admin")

	log := &ledgerLog{out: map[string]outcome{}, seq: map[string]uint64{}}
	const kills = 4
	var next int
	var nextMu sync.Mutex
	newID := func(prefix string) string {
		nextMu.Lock()
		defer nextMu.Unlock()
		next++
		return fmt.Sprintf("%s-%06d", prefix, next)
	}
	for round := 0; round <= kills; round++ {
		c := srv.start()
		if round > 0 {
			// After every kill: what was acknowledged is there once, and the views that
			// lived through the kill equal a rebuild.
			checkLedger(t, c.httpURL, aud.Token, log)
			checkViewsEqualRebuild(t, c.httpURL, admin.Token)
		}
		kp, _ := nkeys.FromSeed([]byte(natsPub.NKeySeed))
		pubKey, _ := kp.PublicKey()
		nc, err := nats.Connect(c.natsURL, nats.Nkey(pubKey, kp.Sign), nats.MaxReconnects(0))
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var pending string // an id whose outcome is unknown is re-sent, as a publisher would
				for {
					select {
					case <-stop:
						return
					default:
					}
					id := pending
					if id == "" {
						if w%2 == 0 {
							id = newID("h")
						} else {
							id = newID("n")
						}
					}
					var o outcome
					var seq uint64
					if strings.HasPrefix(id, "h") {
						o, seq = publishHTTP(c.httpURL, pub.Token, id)
					} else {
						o, seq = publishNATS(nc, id)
					}
					log.record(id, o, seq)
					if o == unknown {
						time.Sleep(20 * time.Millisecond)
						return // the server is likely gone; this id is re-sent next round
					}
					pending = ""
				}
			}()
		}
		if round < kills {
			time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
			c.cmd.Process.Signal(syscall.SIGKILL)
			<-c.finished
			close(stop)
			wg.Wait()
			nc.Close()
			continue
		}
		time.Sleep(500 * time.Millisecond)
		close(stop)
		wg.Wait()
		nc.Close()
		// Re-send every id whose outcome was unknown: the ledger stores it at most once.
		for id, o := range snapshot(log) {
			if o != unknown {
				continue
			}
			var oo outcome
			var seq uint64
			if strings.HasPrefix(id, "h") {
				oo, seq = publishHTTP(c.httpURL, pub.Token, id)
			} else {
				nc2, _ := nats.Connect(c.natsURL, nats.Nkey(pubKey, kp.Sign))
				oo, seq = publishNATS(nc2, id)
				nc2.Close()
			}
			log.record(id, oo, seq)
		}
		checkLedger(t, c.httpURL, aud.Token, log)
		checkViewsEqualRebuild(t, c.httpURL, admin.Token)
	}
	srv.logMu.Lock()
	defer srv.logMu.Unlock()
	for _, secret := range []string{pub.Token, natsPub.Token, aud.Token, pub.NKeySeed, natsPub.NKeySeed} {
		if strings.Contains(srv.logs.String(), secret) {
			t.Fatal("a token or nkey seed appears in the server's log")
		}
	}
}

func snapshot(l *ledgerLog) map[string]outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]outcome, len(l.out))
	for k, v := range l.out {
		m[k] = v
	}
	return m
}

// checkLedger reads the whole history and checks every acknowledged id is there once, at
// its acknowledged sequence, and no id is there twice.
func checkLedger(t *testing.T, url, token string, l *ledgerLog) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	seen := map[string]uint64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Seq uint64
			ID  string
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("replay line %q: %v", sc.Bytes(), err)
		}
		if prev, ok := seen[ev.ID]; ok {
			t.Fatalf("id %s stored twice: seq %d and %d", ev.ID, prev, ev.Seq)
		}
		seen[ev.ID] = ev.Seq
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var nAcked, nUnknown, nFailed int
	for id, o := range l.out {
		switch o {
		case acked:
			nAcked++
			seq, ok := seen[id]
			if !ok {
				t.Fatalf("acknowledged event %s (seq %d) lost", id, l.seq[id])
			}
			if seq != l.seq[id] {
				t.Fatalf("acknowledged event %s at seq %d, found at %d", id, l.seq[id], seq)
			}
		case unknown:
			nUnknown++
		case failed:
			nFailed++
		}
	}
	t.Logf("%d events in the ledger; %d acknowledged, %d unknown after re-sending, %d failed", len(seen), nAcked, nUnknown, nFailed)
	if nAcked == 0 {
		t.Fatal("nothing was acknowledged: the test did not exercise the ledger")
	}
}

// checkViewsEqualRebuild waits for the views to catch up, reads them, rebuilds every view
// from sequence 1 beside the live ones (POST /v1/admin/rebuild/all waits for the swap),
// and reads them again: the views that lived through the kills equal the rebuild.
func checkViewsEqualRebuild(t *testing.T, url, adminToken string) {
	t.Helper()
	get := func(path string) string {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	var st struct {
		StreamLastSeq uint64 `json:"stream_last_seq"`
		Views         []struct{ Lag uint64 }
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		json.Unmarshal([]byte(get("/v1/status")), &st)
		caughtUp := len(st.Views) == 3
		for _, v := range st.Views {
			caughtUp = caughtUp && v.Lag == 0
		}
		if caughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("views did not catch up: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	paths := []string{"/v1/reviews/2025-05", "/v1/counters?as_of=2025-06-30", "/v1/counters?as_of=2025-06-16", "/v1/structure?as_of=2025-06-30"}
	before := map[string]string{}
	for _, p := range paths {
		before[p] = get(p)
	}
	req, _ := http.NewRequest("POST", url+"/v1/admin/rebuild/all", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("rebuild: %d", resp.StatusCode)
	}
	for _, p := range paths {
		if after := get(p); after != before[p] {
			t.Fatalf("%s after the kills differs from a rebuild from sequence 1:\nlived: %.400s\nrebuilt: %.400s", p, before[p], after)
		}
	}
	if !strings.Contains(before["/v1/reviews/2025-05"], `"items"`) {
		t.Fatal("the review holds no items: the comparison proved nothing")
	}
}
