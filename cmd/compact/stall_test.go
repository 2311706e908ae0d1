package main

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

// stalledReplay sends GET /v1/events as token and reads no more than the status line: a
// client that stops reading without closing its connection, with a receive buffer as small
// as the kernel allows, so that the server's writes block once its own buffers are full.
func stalledReplay(t *testing.T, httpURL, token string) {
	t.Helper()
	u, err := url.Parse(httpURL)
	if err != nil {
		t.Fatal(err)
	}
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
	}}
	conn, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", u.Host, token)
	status, err := bufio.NewReaderSize(conn, 16).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("the replay did not start: %q %v", status, err)
	}
}

// replaysEnded is how many GET /v1/events the server has finished answering with 200.
func replaysEnded(t *testing.T, url string) float64 {
	return scrape(t, url)[`compact_http_requests_total{code="200",route="GET /v1/events"}`]
}

// A client that stops reading a stream without closing its connection ties nothing up for
// long: the server gives the response up after --stall-timeout without progress, at once
// (EndGrace) when the caller's token is revoked, and serve stops cleanly with such a
// stream open. The replay handler used to block in its next write for as long as the
// connection lasted: a revoked token's replay went on, and SIGTERM waited out its grace
// period and exited 1 with "context deadline exceeded".
func TestAStreamItsClientStoppedReadingEnds(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	pub := addEntityCLI(t, bin, dir, "UNODC", "publisher")
	revoked := addEntityCLI(t, bin, dir, "OIOS", "auditor")
	kept := addEntityCLI(t, bin, dir, "OICT", "auditor")
	srv := newRestartable(t, bin, dir)
	c := srv.start()
	// about 12 MB of NDJSON, more than the sockets of both ends buffer
	fillLedger(t, c.httpURL, pub.Token, "stall", 20000)

	stalledReplay(t, c.httpURL, revoked.Token)
	if _, stderr, code := entitiesCLI(t, bin, "revoke", "OIOS", "--data", dir); code != 0 {
		t.Fatalf("entities revoke: exit %d, %s", code, stderr)
	}
	waitFor(t, "the revoked auditor's stalled replay to end", func() bool { return replaysEnded(t, c.httpURL) == 1 })

	stalledReplay(t, c.httpURL, kept.Token)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-c.finished
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		srv.logMu.Lock()
		defer srv.logMu.Unlock()
		t.Fatalf("serve stopped with a stalled replay open: exit %d:\n%s", code, srv.logs.String())
	}

	c = srv.start("--stall-timeout", "1s")
	stalledReplay(t, c.httpURL, kept.Token)
	waitFor(t, "the stalled replay to be given up", func() bool { return replaysEnded(t, c.httpURL) == 1 })
}
