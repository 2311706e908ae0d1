package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"compact/ledger"
	"compact/ledger/natstest"
	"compact/projections"
)

// TestTheREADMEReportingJob builds the README's "Example: a reporting job in Go" as it is
// printed (only its two addresses changed to the test's) and runs it as a reporting job would:
//
//   - against the embedded server with the auditor's nkey, as the README says: it starts after
//     the counters changed and prints them at once (the KV watch's initial value), then a
//     review's change;
//   - against an operator's NATS (serve --nats-url), where the test plays other read replicas
//     on the feed's subject: the same change again and a replica behind are not rendered,
//     and after a rebuild for new code (the same seq, a lower version) the job goes on
//     rendering. The example compared versions alone, and so ignored every change of a period
//     after such a rebuild until its version passed the old count.
func TestTheREADMEReportingJob(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	pub := addEntityCLI(t, bin, dir, "SECRETARIAT", "secretariat")
	aud := addEntityCLI(t, bin, dir, "AUDIT", "auditor")
	var logs bytes.Buffer
	var mu sync.Mutex
	ports := natstest.FreePorts(t, 4)
	srv := startChild(t, bin, dir, ports[0], ports[1], &logs, &mu)
	post := func(c *child, id, typ, data string) uint64 {
		t.Helper()
		ev := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/SECRETARIAT","type":%q,"time":"2025-06-01T00:00:00Z","data":%s}`, id, typ, data)
		req, _ := http.NewRequest("POST", c.httpURL+"/v1/events", strings.NewReader(ev))
		req.Header.Set("Content-Type", ledger.MediaEvent)
		req.Header.Set("Authorization", "Bearer "+pub.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Results []struct {
				Seq uint64 `json:"seq"`
			} `json:"results"`
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &r) != nil || len(r.Results) != 1 {
			t.Fatalf("publish %s: %d %s", id, resp.StatusCode, body)
		}
		return r.Results[0].Seq
	}
	focalPoint := func(c *child, n int) uint64 {
		return post(c, fmt.Sprintf("fp-%d", n), "compact.focal_point.registered",
			fmt.Sprintf(`{"focal_point":"fp-%d","represents":{"state":"MAR"},"date":"2025-06-02"}`, n))
	}
	meeting := func(c *child, id string) uint64 {
		return post(c, id, "compact.meeting.held",
			`{"title":"A meeting","start":"2025-05-05","end":"2025-05-08","organizers":[{"entity":"SECRETARIAT"}],"format":"conference"}`)
	}

	seq := focalPoint(srv, 1)
	job := startREADMEJob(t, srv.natsURL, srv.httpURL, aud.NKeySeed)
	job.want(fmt.Sprintf("counters at seq %d: 0 entities, 1 Member States", seq))
	// its subscription comes after its KV watch: a change is made until the job renders one
	for i := 0; !job.has("review 2025-05 is now version"); i++ {
		if i == 100 {
			t.Fatalf("the job rendered no change of the review:\n%s", job.out())
		}
		meeting(srv, fmt.Sprintf("m-%d", i))
		time.Sleep(100 * time.Millisecond)
	}
	job.want("(200 ok)") // the review read over HTTP
	seq = focalPoint(srv, 2)
	job.want(fmt.Sprintf("counters at seq %d: 0 entities, 1 Member States", seq))

	// on an operator's NATS (nkey users: the auditor's, and the ledger's that serve and the
	// test use), where the test may publish as the other replicas do
	ledgerKP, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	ledgerPub, _ := ledgerKP.PublicKey()
	ledgerSeed, _ := ledgerKP.Seed()
	audKP, err := nkeys.FromSeed([]byte(aud.NKeySeed))
	if err != nil {
		t.Fatal(err)
	}
	audPub, _ := audKP.PublicKey()
	ns := natstest.Start(t, func(o *server.Options) {
		o.Nkeys = []*server.NkeyUser{{Nkey: ledgerPub}, {Nkey: audPub}}
	})
	opDir := t.TempDir()
	ledgerNK := filepath.Join(opDir, "ledger.nk")
	if err := os.WriteFile(ledgerNK, ledgerSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ledger.EntitiesFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(opDir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	op := startChild(t, bin, opDir, ports[2], ports[3], &logs, &mu, "--nats-url", ns.ClientURL(), "--nats-nkey", ledgerNK)
	seq = focalPoint(op, 1)
	job = startREADMEJob(t, ns.ClientURL(), op.httpURL, aud.NKeySeed)
	job.want(fmt.Sprintf("counters at seq %d: 0 entities, 1 Member States", seq))
	opt, err := nats.NkeyOptionFromSeed(ledgerNK)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	announce := func(version, seq uint64) {
		t.Helper()
		b, _ := json.Marshal(projections.ReviewChange{Period: "2025-07", Version: version, Seq: seq})
		if err := nc.Publish(projections.SubjectReviewPrefix+"2025-07", b); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; !job.has("review 2025-07 is now version 9 (200 ok)"); i++ {
		if i == 100 {
			t.Fatalf("the job rendered no change of the review:\n%s", job.out())
		}
		announce(9, 50)
		time.Sleep(100 * time.Millisecond)
	}
	announce(3, 20)  // a replica behind
	announce(9, 50)  // the same change from another replica
	announce(4, 50)  // new code swapped in at the same checkpoint
	announce(5, 60)  // and its next change
	announce(10, 70) // the last: every job renders it
	job.want("review 2025-07 is now version 10 (200 ok)")
	var rendered []string
	for _, line := range strings.Split(job.out(), "\n") {
		if v, ok := strings.CutPrefix(line, "review 2025-07 is now version "); ok {
			rendered = append(rendered, strings.Fields(v)[0])
		}
	}
	if got := strings.Join(rendered, " "); !strings.HasPrefix(got, "9 ") || strings.TrimLeft(got, "9 ") != "4 5 10" {
		t.Fatalf("the job rendered versions %q of 2025-07; want 9 (repeated or not), then 4 5 10:\n%s", got, job.out())
	}
}

// readmeJob is the README's reporting job, running.
type readmeJob struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
	more  chan struct{}
}

// startREADMEJob builds the README's example with natsURL and httpURL for its addresses and
// runs it in a directory with auditor.nk; it is stopped at the end of the test.
func startREADMEJob(t *testing.T, natsURL, httpURL, seed string) *readmeJob {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "#### Example: a reporting job in Go")
	if !ok {
		t.Fatal("README: no reporting job example")
	}
	_, code, ok := strings.Cut(after, "```go\n")
	if ok {
		code, _, ok = strings.Cut(code, "\n```")
	}
	if !ok {
		t.Fatal("README: the reporting job example has no Go block")
	}
	for _, a := range []string{"nats://127.0.0.1:4222", "http://127.0.0.1:8080"} {
		if !strings.Contains(code, a) {
			t.Fatalf("README: the reporting job example does not use %s", a)
		}
	}
	code = strings.NewReplacer("nats://127.0.0.1:4222", natsURL, "http://127.0.0.1:8080", httpURL).Replace(code)
	src := t.TempDir()
	// a module of its own, as the README says, with this module's requirements (nats.go v1.55.0)
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile("../../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"go.mod":  bytes.Replace(mod, []byte("module compact\n"), []byte("module job\n"), 1),
		"go.sum":  sum,
		"main.go": []byte(code + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(t.TempDir(), "job")
	build := exec.Command("go", "build", "-o", exe, ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the README's reporting job does not build: %v\n%s", err, out)
	}
	run := t.TempDir()
	if err := os.WriteFile(filepath.Join(run, "auditor.nk"), []byte(seed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Dir = run
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	j := &readmeJob{t: t, more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			j.mu.Lock()
			j.lines = append(j.lines, lines.Text())
			j.mu.Unlock()
			select {
			case j.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	return j
}

func (j *readmeJob) out() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return strings.Join(j.lines, "\n")
}

func (j *readmeJob) has(s string) bool { return strings.Contains(j.out(), s) }

// want waits until the job has printed s.
func (j *readmeJob) want(s string) {
	j.t.Helper()
	deadline := time.After(60 * time.Second)
	for !j.has(s) {
		select {
		case <-j.more:
		case <-deadline:
			j.t.Fatalf("the job did not print %q:\n%s", s, j.out())
		}
	}
}
