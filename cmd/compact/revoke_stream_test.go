package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// watchLines opens the change feed of a review as token and sends its lines on a channel,
// closed when the stream ends.
func watchLines(t *testing.T, url, period, token string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/v1/reviews/"+period+"/changes", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("watch as %s...: %s", token[:4], resp.Status)
	}
	lines := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// nextLineWith waits up to 15 s for a line of the stream that contains want.
func nextLineWith(t *testing.T, lines <-chan string, want string) bool {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return false
			}
			if strings.Contains(l, want) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// A watch of a review's changes, with private reads, lasts as long as its token does:
// `compact entities revoke` on the running server ends the revoked entity's watch with an
// "end" event naming why, and leaves the others watching.
func TestRevocationEndsTheRevokedWatch(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	c := serveChild(t, bin, dir, "--private-reads")
	unodc := addEntityCLI(t, bin, dir, "UNODC", "publisher")
	cted := addEntityCLI(t, bin, dir, "CTED", "publisher")
	// Stored (201), or stored by an earlier round (200, a duplicate): when UNODC's token was
	// served before CTED's, UNODC's w-0 is a duplicate from the second round on, and waiting
	// for a 201 of both timed out (under load).
	served := func(token, entity string) bool {
		s := postStatus(t, c.httpURL, token, entity, "w-0")
		return s == http.StatusCreated || s == http.StatusOK
	}
	waitFor(t, "both tokens served", func() bool {
		return served(unodc.Token, "UNODC") && served(cted.Token, "CTED")
	})
	const period = "2031-01" // perf.Event's activity
	revoked := watchLines(t, c.httpURL, period, unodc.Token)
	kept := watchLines(t, c.httpURL, period, cted.Token)
	for _, w := range []<-chan string{revoked, kept} {
		if !nextLineWith(t, w, ": watching "+period) {
			t.Fatal("a watch did not start")
		}
	}
	// and a reporting job of the revoked entity's, `compact review --watch`
	job := exec.Command(bin, "review", period, "--watch", "-o", filepath.Join(t.TempDir(), "review.md"),
		"--server", c.httpURL, "--token", unodc.Token)
	var jobErr bytes.Buffer
	var jobMu sync.Mutex
	job.Stderr = syncWriter{&jobMu, &jobErr}
	if err := job.Start(); err != nil {
		t.Fatal(err)
	}
	jobEnded := make(chan error, 1)
	go func() { jobEnded <- job.Wait() }()
	t.Cleanup(func() { job.Process.Kill() })
	waitFor(t, "the reporting job watching", func() bool {
		jobMu.Lock()
		defer jobMu.Unlock()
		return strings.Contains(jobErr.String(), "watching the "+period)
	})

	if _, stderr, code := entitiesCLI(t, bin, "revoke", "UNODC", "--data", dir); code != 0 {
		t.Fatalf("entities revoke: exit %d, %s", code, stderr)
	}
	if !nextLineWith(t, revoked, "event: end") {
		t.Fatal("the revoked entity's watch did not end with an end event")
	}
	if !nextLineWith(t, revoked, "the token of UNODC was revoked") {
		t.Fatal("the end event does not say why")
	}
	waitStreamEnd(t, revoked)
	select {
	case err := <-jobEnded:
		jobMu.Lock()
		said := jobErr.String()
		jobMu.Unlock()
		if err == nil || !strings.Contains(said, "the server ended the change stream: unauthenticated: the token of UNODC was revoked") {
			t.Fatalf("the revoked entity's reporting job ended with %v, saying %q", err, said)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the revoked entity's `compact review --watch` goes on")
	}

	if s := postStatus(t, c.httpURL, cted.Token, "CTED", "w-1"); s != http.StatusCreated {
		t.Fatalf("publishing after the revocation: %d", s)
	}
	if !nextLineWith(t, kept, "event: change") {
		t.Fatal("the other entity's watch saw no change after the revocation")
	}
}

// waitStreamEnd waits up to 15 s for lines to close, allowing only the blank lines that end
// the last event.
func waitStreamEnd(t *testing.T, lines <-chan string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case l, open := <-lines:
			if !open {
				return
			}
			if l != "" {
				t.Fatalf("the watch goes on after its end event: %q", l)
			}
		case <-deadline:
			t.Fatal("the watch stays open after its end event")
		}
	}
}
