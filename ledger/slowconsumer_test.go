package ledger_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
)

// rejectedByReason is the count of events (and requests refused whole) the ingest refused,
// by reason.
func rejectedByReason(t *testing.T, reg *prometheus.Registry) map[string]int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() == "compact_ingest_rejected_total" {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "reason" {
						by[l.GetValue()] += int(m.GetCounter().GetValue())
					}
				}
			}
		}
	}
	return by
}

// An entity's client that sends requests and never reads its socket (so never reads the
// replies) is the NATS server's slow consumer, not the ledger's: the server never holds up
// the ledger's connection (the producer of the replies) because of it, so the replies to
// every other entity do not wait behind; the ledger answers them meanwhile, stores nothing of
// the slow client's bad requests, and stays up.
func TestSlowConsumerEntityDoesNotStallTheLedger(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	n := testNode(t, dir, func(c *ledger.NodeConfig) { c.Registerer = reg })
	slow := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	other := addEntity(t, n, dir, "UNOCT", ledger.RolePublisher)
	before := streamMsgs(t, n)

	u, err := url.Parse(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("INFO: %q %v", line, err)
	}
	var info struct{ Nonce string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &info); err != nil {
		t.Fatal(err)
	}
	kp, err := nkeysFromSeed(slow.NKeySeed)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	sig, _ := kp.Sign([]byte(info.Nonce))
	fmt.Fprintf(conn, "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"headers\":true,\"nkey\":%q,\"sig\":%q}\r\nPING\r\n",
		pub, base64.RawURLEncoding.EncodeToString(sig))
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "PONG") {
		t.Fatalf("CONNECT: %q %v", line, err)
	}
	fmt.Fprintf(conn, "SUB _INBOX.slow.> 1\r\n")
	// each request: 1,000 items that are not events, each answered with an error (about 100 KB
	// of reply for 2 KB sent, 80 MB in all, more than the server's 64 MB of pending bytes for
	// a client); the client reads none of it
	const requests, items = 800, 1000
	body := "[" + strings.TrimSuffix(strings.Repeat("1,", items), ",") + "]"
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < requests; i++ {
			conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
			if _, err := fmt.Fprintf(conn, "PUB compact.ingest.UNODC _INBOX.slow.%d %d\r\n%s\r\n", i, len(body), body); err != nil {
				return // the server closed the slow consumer
			}
		}
	})

	nc, err := connectAs(n, other)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var worst time.Duration
	defer func() { t.Logf("slowest answer %v", worst) }()
	for i := range 20 {
		start := time.Now()
		m, err := nc.Request("compact.ingest.UNOCT", []byte(activity("UNOCT", fmt.Sprintf("while-slow-%d", i), "served meanwhile")), 30*time.Second)
		if err != nil {
			t.Fatalf("request %d: %v; slow consumers %d, stream +%d", i, err, n.Server.NATS().NumSlowConsumers(), streamMsgs(t, n)-before)
		}
		worst = max(worst, time.Since(start))
		var r reply
		json.Unmarshal(m.Data, &r)
		if r.Results[0].Error != nil || r.Results[0].Duplicate {
			t.Fatalf("UNOCT while UNODC does not read: %+v", r.Results[0])
		}
	}
	wg.Wait()
	// Each request is handled (its 1,000 items refused as invalid) or, past the entity's
	// bound on requests in flight, refused whole as unavailable.
	answered := func() (handled, busy int) {
		by := rejectedByReason(t, reg)
		return by["invalid"] / items, by["unavailable"]
	}
	deadline := time.Now().Add(60 * time.Second)
	for h, b := answered(); h+b < requests; h, b = answered() {
		if time.Now().After(deadline) {
			t.Fatalf("the ledger answered %d of the slow client's %d requests (%d handled, %d past its bound)", h+b, requests, h, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := streamMsgs(t, n); got != before+20 {
		t.Fatalf("stream grew by %d, want UNOCT's 20", got-before)
	}
	vz, err := n.Server.NATS().Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if vz.StalledClients != 0 {
		t.Errorf("the server held up a producer %d times for the client that does not read (the ledger's replies to everyone wait)", vz.StalledClients)
	}
	// the slow client is gone or still unread; either way the ledger serves its entity again
	ncSlow, err := connectAs(n, slow)
	if err != nil {
		t.Fatal(err)
	}
	defer ncSlow.Close()
	if r := natsPublish(t, ncSlow, "UNODC", activity("UNODC", "after-slow", "after")); r.Results[0].Error != nil {
		t.Fatalf("UNODC after: %+v", r.Results[0])
	}
}
