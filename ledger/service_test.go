package ledger_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
)

// Stop returns only once every request the service took is answered, and answers the rest.
// micro's Stop only starts draining the subscription: the requests already buffered in the
// client still reached the handler after Stop returned, and were handled then or, the
// handlers' context cancelled, dropped without an answer, their WaitGroup.Add racing Stop's
// Wait (-race reports it). Here 20,000 requests are sent and Stop is called while many are
// still buffered: each must be answered, with its result (by the time Stop returns) or as
// refused for the shutdown. Requests name an unregistered entity, so that each is handled,
// and counted, without an append. How many are still buffered when Stop is called varies:
// five rounds made the old Stop fail in four runs of five.
func TestIngestServiceStopAnswersEveryRequestTaken(t *testing.T) {
	n := testNode(t, t.TempDir(), func(c *ledger.NodeConfig) { c.Ingest = false })
	ctx := context.Background()
	for round := range 5 {
		reg := prometheus.NewRegistry()
		in := &ledger.Ingester{Metrics: ledger.NewMetrics(reg)}
		nc, err := n.Server.Connect("ingest-service")
		if err != nil {
			t.Fatal(err)
		}
		svc, err := ledger.StartIngestService(ctx, nc, in, n.Registry, "0.0.0-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}

		const requests = 20000
		inbox := nats.NewInbox()
		var handled, refused, busy, other atomic.Int64
		sub, err := n.Conn.Subscribe(inbox, func(m *nats.Msg) {
			switch body := string(m.Data); {
			case strings.Contains(body, "is not registered"):
				handled.Add(1)
			case strings.Contains(body, "shutting down"):
				refused.Add(1)
			case strings.Contains(body, "requests in flight"):
				busy.Add(1) // one entity's bound: answered at once, not taken
			default:
				other.Add(1)
				t.Errorf("unexpected reply %s", body)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		for range requests {
			if err := n.Conn.PublishRequest(ledger.IngestSubjectPrefix+"NOPE", inbox, []byte("[]")); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.Conn.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := svc.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		atStop := rejected(t, reg)
		// What is still buffered reaches the handler within this time.
		deadline := time.Now().Add(5 * time.Second)
		for handled.Load()+refused.Load()+busy.Load()+other.Load() < requests && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		after := rejected(t, reg)
		if after != atStop {
			t.Errorf("round %d: %d requests handled after Stop returned (%d before)", round, after-atStop, atStop)
		}
		if got := handled.Load() + refused.Load() + busy.Load(); got != requests {
			t.Errorf("round %d: %d requests answered (%d handled, %d refused for the shutdown, %d past the entity's bound), want all %d", round, got, handled.Load(), refused.Load(), busy.Load(), requests)
		}
		t.Logf("round %d: %d handled before Stop returned, %d refused for the shutdown, %d past the entity's bound", round, atStop, refused.Load(), busy.Load())
		_ = sub.Unsubscribe()
		nc.Close()
	}
}

// rejected is the count of requests the ingest refused as unauthenticated.
func rejected(t *testing.T, reg *prometheus.Registry) int64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "compact_ingest_rejected_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == "unauthenticated" {
					return int64(m.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}
