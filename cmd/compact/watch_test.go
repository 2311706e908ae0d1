package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"compact/ledger"
	"compact/projections"
)

// TestReviewWatch: `compact review PERIOD --watch -o FILE` is a reporting job that
// re-renders the file whenever the period's view changes, driven by the change feed.
func TestReviewWatch(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	pub := addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	c := serveChild(t, bin, dir)
	publish := func(id, title string) { t.Helper(); publishTraining(t, c.httpURL, pub.Token, id, title) }
	publish("w-1", "UNOCT conducted a first training in Cambodia")

	out := filepath.Join(t.TempDir(), "review.md")
	watch := exec.Command(bin, "review", "2025-05", "--watch", "--format", "md", "-o", out, "--server", c.httpURL)
	var werr bytes.Buffer
	var wmu sync.Mutex
	watch.Stderr = syncWriter{&wmu, &werr}
	said := func() string { wmu.Lock(); defer wmu.Unlock(); return werr.String() }
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Process.Signal(syscall.SIGKILL); watch.Wait() })

	waitFor := func(substr string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, _ := os.ReadFile(out)
			if bytes.Contains(b, []byte(substr)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never showed %q; watcher said:\n%s\nfile:\n%s", out, substr, said(), b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("first training in Cambodia")
	// Wait until the watcher follows the feed, then change the view.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(said(), "watching") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	publish("w-2", "UNOCT conducted a second training in Cambodia")
	waitFor("second training in Cambodia")
	if !strings.Contains(said(), "changed (version") {
		t.Fatalf("the re-render was not driven by a change event: %s", said())
	}
}

// TestReviewWatchGoesOnAcrossServerRestarts: `compact review --watch` is a reporting job, and
// the server it watches restarts under it, stopped (SIGTERM) and killed (SIGKILL): the watcher
// tries again until the server is back, and the file follows the changes published after each
// restart. It used to exit 1 at the first ("the server closed the change stream"), the file
// left as it was.
func TestReviewWatchGoesOnAcrossServerRestarts(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	pub := addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	httpPort, natsPort := httpAndNATSPorts(t)
	logs, logMu := new(bytes.Buffer), new(sync.Mutex)
	c := startChild(t, bin, dir, httpPort, natsPort, logs, logMu)
	publish := func(id, title string) { t.Helper(); publishTraining(t, c.httpURL, pub.Token, id, title) }
	publish("r-0", "UNOCT conducted a training before any restart")

	out := filepath.Join(t.TempDir(), "review.md")
	watch := exec.Command(bin, "review", "2025-05", "--watch", "--format", "md", "-o", out, "--server", c.httpURL)
	var werr bytes.Buffer
	var wmu sync.Mutex
	watch.Stderr = syncWriter{&wmu, &werr}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { watch.Wait(); close(exited) }()
	t.Cleanup(func() { watch.Process.Signal(syscall.SIGKILL); <-exited })
	said := func() string { wmu.Lock(); defer wmu.Unlock(); return werr.String() }
	waitFor := func(substr string) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; {
			if b, _ := os.ReadFile(out); bytes.Contains(b, []byte(substr)) {
				return
			}
			select {
			case <-exited:
				t.Fatalf("the watcher ended (%v) before %s showed %q; it said:\n%s", watch.ProcessState, out, substr, said())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never showed %q; the watcher said:\n%s", out, substr, said())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("before any restart")

	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := c.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		<-c.finished
		c = startChild(t, bin, dir, httpPort, natsPort, logs, logMu)
		title := fmt.Sprintf("UNOCT conducted a training after restart %d (%v)", i+1, sig)
		publish(fmt.Sprintf("r-%d", i+1), title)
		waitFor(title)
	}
	if n := strings.Count(said(), "watching the 2025-05 review again"); n < 2 {
		t.Errorf("the watcher said it watched again %d times, want 2 or more:\n%s", n, said())
	}
}

// TestReviewWatchGivesUpASilentStream: a change stream that brings nothing, not even the
// server's keep-alive, is given up and opened again, as a closed one is: a server gone
// without closing the connection (its host down, a proxy that dropped it) used to hold the
// watcher, and its file, as they were for good. The server here goes silent on the first
// stream and announces a change on the second.
func TestReviewWatchGivesUpASilentStream(t *testing.T) {
	defer func(d time.Duration) { watchIdleTimeout = d }(watchIdleTimeout)
	watchIdleTimeout = 300 * time.Millisecond
	var streams, renders atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/changes") {
			fmt.Fprintf(w, "render %d\n", renders.Add(1))
			return
		}
		n := streams.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": watching 2025-05\n\n")
		if n > 1 {
			fmt.Fprint(w, "event: change\ndata: {\"period\":\"2025-05\",\"version\":2,\"seq\":9}\n\n")
		}
		w.(http.Flusher).Flush()
		select { // and then nothing
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer srv.Close()
	defer close(done)

	out := filepath.Join(t.TempDir(), "review.md")
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- runReview(ctx, []string{"2025-05", "--watch", "-o", out, "--server", srv.URL}) }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(out); streams.Load() >= 2 && renders.Load() >= 3 && string(b) == fmt.Sprintf("render %d\n", renders.Load()) {
			break
		}
		select {
		case err := <-ended:
			t.Fatalf("the watcher ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s on, the watcher opened %d streams and rendered %d times; want a second stream after the silent first, and its change rendered", streams.Load(), renders.Load())
		}
	}
	cancel()
	if err := <-ended; err != nil {
		t.Fatalf("the watcher, stopped: %v", err)
	}
}

// A reporting job's open watch does not hold serve's stop: on SIGTERM the stream ends and
// serve exits 0, rather than waiting out its grace period and exiting with "context
// deadline exceeded".
func TestServeStopsWithAWatchOpen(t *testing.T) {
	bin := compactBinary(t)
	c := serveChild(t, bin, t.TempDir())
	resp, err := http.Get(c.httpURL + "/v1/reviews/2025-05/changes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), ": watching") {
		t.Fatalf("the watch did not start: %q %v", sc.Text(), sc.Err())
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
	}
	<-c.finished
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		c.logMu.Lock()
		defer c.logMu.Unlock()
		t.Fatalf("serve stopped with a watch open: exit %d:\n%s", code, c.logs.String())
	}
}

// TestReviewWatchRendersChangeCommittedBeforeItSubscribes: a change committed while the
// watcher is opening its change stream is in the file, without waiting for another change.
// A proxy in front of the server holds the watcher's request for the stream until such a
// change is committed and readable, so the watcher cannot subscribe before it.
func TestReviewWatchRendersChangeCommittedBeforeItSubscribes(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	pub := addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	c := serveChild(t, bin, dir)
	publish := func(id, title string) error {
		ev := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/UNOCT","type":"compact.training.delivered","time":"2025-06-24T09:00:00Z","data":{"title":%q,"start":"2025-06-24","end":"2025-06-27","organizers":[{"entity":"UNOCT"}],"countries":["KHM"],"format":"training"}}`, id, title)
		req, _ := http.NewRequest("POST", c.httpURL+"/v1/events", strings.NewReader(ev))
		req.Header.Set("Content-Type", ledger.MediaEvent)
		req.Header.Set("Authorization", "Bearer "+pub.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("publish %s: %s", id, resp.Status)
		}
		return nil
	}
	// waitReview waits until the server's review has s: the change has been committed.
	waitReview := func(s string) error {
		for deadline := time.Now().Add(10 * time.Second); ; {
			resp, err := http.Get(c.httpURL + "/v1/reviews/2025-05?format=md")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if bytes.Contains(b, []byte(s)) {
					return nil
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the server's review never had %q", s)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := publish("w-1", "UNOCT conducted a first training in Cambodia"); err != nil {
		t.Fatal(err)
	}
	if err := waitReview("first training"); err != nil {
		t.Fatal(err)
	}

	target, _ := url.Parse(c.httpURL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // the events as they come
	var once sync.Once
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/changes") {
			once.Do(func() {
				err := publish("w-2", "UNOCT conducted a second training in Cambodia")
				if err == nil {
					err = waitReview("second training")
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	out := filepath.Join(t.TempDir(), "review.md")
	watch := exec.Command(bin, "review", "2025-05", "--watch", "--format", "md", "-o", out, "--server", proxy.URL)
	var werr bytes.Buffer
	var wmu sync.Mutex
	watch.Stderr = syncWriter{&wmu, &werr}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Process.Signal(syscall.SIGKILL); watch.Wait() })

	for deadline := time.Now().Add(10 * time.Second); ; {
		b, _ := os.ReadFile(out)
		if bytes.Contains(b, []byte("second training")) {
			return
		}
		if time.Now().After(deadline) {
			wmu.Lock()
			defer wmu.Unlock()
			t.Fatalf("the server's review had the second training before the watcher subscribed; 10 s on, the watched file still lacks it:\nwatcher said:\n%s\nfile:\n%s", werr.String(), b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serve --no-feed: the views are served, and no change feed is published (no KV bucket is
// made), for a read replica whose NATS user may not write one.
func TestServeWithoutTheFeed(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	pub := addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	aud := addEntityCLI(t, bin, dir, "AUDIT", "auditor")
	c := serveChild(t, bin, dir, "--no-feed")
	ev := `{"specversion":"1.0","id":"nf-1","source":"/entities/UNOCT","type":"compact.training.delivered","time":"2025-06-24T09:00:00Z","data":{"title":"UNOCT trained","start":"2025-06-24","organizers":[{"entity":"UNOCT"}],"format":"training"}}`
	req, _ := http.NewRequest("POST", c.httpURL+"/v1/events", strings.NewReader(ev))
	req.Header.Set("Content-Type", ledger.MediaEvent)
	req.Header.Set("Authorization", "Bearer "+pub.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish: %v %v", err, resp)
	}
	resp.Body.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(c.httpURL + "/v1/reviews/2025-05?format=md")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(b, []byte("UNOCT trained")) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the review never listed the event")
		}
		time.Sleep(50 * time.Millisecond)
	}
	kp, _ := nkeys.FromSeed([]byte(aud.NKeySeed))
	pk, _ := kp.PublicKey()
	nc, err := nats.Connect(c.natsURL, nats.Nkey(pk, kp.Sign))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.KeyValue(t.Context(), projections.DefaultFeedBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("the feed's bucket with --no-feed: %v, want none", err)
	}
}

// publishTraining publishes, over HTTP with UNOCT's token, a training of the 2025-05 review
// with the given id and title.
func publishTraining(t *testing.T, url, token, id, title string) {
	t.Helper()
	ev := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/UNOCT","type":"compact.training.delivered","time":"2025-06-24T09:00:00Z","data":{"title":%q,"start":"2025-06-24","end":"2025-06-27","organizers":[{"entity":"UNOCT"}],"countries":["KHM"],"format":"training"}}`, id, title)
	req, _ := http.NewRequest("POST", url+"/v1/events", strings.NewReader(ev))
	req.Header.Set("Content-Type", ledger.MediaEvent)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish %s: %v %v", id, err, resp)
	}
	resp.Body.Close()
}
