package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"compact/ledger"
)

// TestReviewWatch: `compact review PERIOD --watch -o FILE` is a reporting job that
// re-renders the file whenever the period's view changes, driven by the change feed.
func TestReviewWatch(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	pub := addEntityCLI(t, bin, dir, "UNOCT", "publisher")
	c := serveChild(t, bin, dir)
	publish := func(id, title string) {
		t.Helper()
		ev := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/UNOCT","type":"compact.training.delivered","time":"2025-06-24T09:00:00Z","data":{"title":%q,"start":"2025-06-24","end":"2025-06-27","organizers":[{"entity":"UNOCT"}],"countries":["KHM"],"format":"training"}}`, id, title)
		req, _ := http.NewRequest("POST", c.httpURL+"/v1/events", strings.NewReader(ev))
		req.Header.Set("Content-Type", ledger.MediaEvent)
		req.Header.Set("Authorization", "Bearer "+pub.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("publish %s: %v %v", id, err, resp)
		}
		resp.Body.Close()
	}
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
