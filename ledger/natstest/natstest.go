package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readyWait is how long Start waits for a server to accept connections; a loaded CI
// machine can take seconds to open a JetStream store.
const readyWait = 30 * time.Second

// Start starts a nats-server with JetStream and stops it (and waits for it) when the test
// ends; a test may shut it down earlier, to restart on the same store. The options, before
// configure changes them: host 127.0.0.1, a free port, no logs, no signal handlers, the
// server's default fsync (configure with SyncAlways for the ledger's); the store in
// tb.TempDir() unless configure names one.
func Start(tb testing.TB, configure ...func(*server.Options)) *server.Server {
	tb.Helper()
	opts := &server.Options{JetStream: true, Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	for _, c := range configure {
		c(opts)
	}
	if opts.StoreDir == "" {
		opts.StoreDir = tb.TempDir()
	}
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("natstest: new server: %v", err)
	}
	go s.Start()
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(readyWait) {
		tb.Fatalf("natstest: nats-server not ready after %v", readyWait)
	}
	return s
}

// SyncAlways makes the server fsync every write before acknowledging it, as the ledger's
// embedded server does: for tests of durability.
func SyncAlways(o *server.Options) { o.SyncAlways = true }

// StoreDir puts the server's JetStream store in dir: for a test that restarts a server on
// the same store.
func StoreDir(dir string) func(*server.Options) {
	return func(o *server.Options) { o.StoreDir = dir }
}

// Connect connects to s (over TCP, unless opts say otherwise: nats.InProcessServer(s)) and
// closes the connection when the test ends, before the server stops (cleanups run last
// registered first).
func Connect(tb testing.TB, s *server.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		tb.Fatalf("natstest: connect to %s: %v", s.ClientURL(), err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}

// PublishAll stores n messages, the i-th (from 1) with msg(i)'s subject and body, with
// asynchronous publishes, waiting for the acknowledgements every 1,000: a stream filled for a
// test or a benchmark of reading it, faster than a publish at a time.
func PublishAll(tb testing.TB, js jetstream.JetStream, n int, msg func(i int) (subject string, body []byte)) {
	tb.Helper()
	for i := 1; i <= n; i++ {
		subject, body := msg(i)
		if _, err := js.PublishAsync(subject, body); err != nil {
			tb.Fatalf("natstest: publish %d of %d: %v", i, n, err)
		}
		if i%1000 == 0 || i == n {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				tb.Fatalf("natstest: no acknowledgement of publishes up to %d of %d for a minute", i, n)
			}
		}
	}
}

// FreePorts reserves n distinct loopback ports and releases them together, for servers or
// child processes that must know their addresses before they start (a cluster's routes).
// Reserving one at a time, the second could be the first again once it was released. A
// port can still be taken by someone else between the release and its use; on a test
// machine that is rare.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	ls := make([]net.Listener, n)
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("natstest: reserve a port: %v", err)
		}
		ls[i], ports[i] = l, l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}
