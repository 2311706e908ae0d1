package audit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/natstest"
)

// A read of the stream (GET /v1/audit/messages, a proof's search, verify --nats-url) leaves
// no consumer behind, whether it ran to the end or its reader stopped: each used to stay on
// the server for the ordered consumer's five minutes of inactivity.
func TestReadStreamLeavesNoConsumer(t *testing.T) {
	e := newEnv(t)
	publish(t, e.js, seqs(1, 5)...)
	ctx := ctxT(t)
	stop := errors.New("enough")
	for _, filter := range []string{"", ledger.EventSubject("CTED", "compact.training.delivered")} {
		if err := readStream(ctx, e.js, ledger.StreamName, filter, 1, 0, func(Message, nats.Header) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := readStream(ctx, e.js, ledger.StreamName, filter, 2, 0, func(Message, nats.Header) error { return stop }); !errors.Is(err, stop) {
			t.Fatal(err)
		}
	}
	st, err := e.js.Stream(ctx, ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for c := range st.ListConsumers(ctx).Info() {
		names = append(names, c.Name)
	}
	if len(names) > 0 {
		t.Errorf("consumers left after the reads ended: %v", names)
	}
}

// filledStream is a server (without SyncAlways: these tests are of the read) whose stream
// holds events 1..n.
func filledStream(t testing.TB, n int) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Connect(t, natstest.Start(t))
	if err := ledger.EnsureStreams(context.Background(), js, ledger.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	natstest.PublishAll(t, js, n, event)
	return js
}

// fn runs in the consumer's handler: once readStream has returned, whether its context ended,
// fn failed or the end was reached, no message reaches fn, though the consumer had more in
// flight.
func TestReadStreamCallsNothingAfterItReturns(t *testing.T) {
	const n = 5000
	js := filledStream(t, n)
	stop := errors.New("enough")
	for _, tc := range []struct {
		name string
		end  func(cancel context.CancelFunc) error
		want error
	}{
		{"canceled", func(cancel context.CancelFunc) error { cancel(); return nil }, context.Canceled},
		{"fn failed", func(context.CancelFunc) error { return stop }, stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			var calls atomic.Int64
			err := readStream(ctx, js, ledger.StreamName, "", 1, 0, func(m Message, _ nats.Header) error {
				if calls.Add(1) == 100 {
					return tc.end(cancel)
				}
				return nil
			})
			if !errors.Is(err, tc.want) {
				t.Fatalf("read ended with %v, want %v", err, tc.want)
			}
			at := calls.Load()
			time.Sleep(200 * time.Millisecond) // room for a late delivery to show itself
			if got := calls.Load(); got != at || at < 100 {
				t.Fatalf("fn called %d times by the return and %d after it", at, got-at)
			}
		})
	}
}

// The ledger's readers are ordered consumers, which any reader's NATS user may delete
// (README, known limit): a read goes on from where it was, each message given once.
func TestReadStreamGoesOnAfterItsConsumerIsDeleted(t *testing.T) {
	const n = 10_000 // several pulls after each deletion: the reader must make a consumer again
	js := filledStream(t, n)
	ctx := ctxT(t)
	st, err := js.Stream(ctx, ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	var deleted []string
	err = readStream(ctx, js, ledger.StreamName, "", 1, 0, func(m Message, _ nats.Header) error {
		seqs = append(seqs, m.Seq)
		if m.Seq == 1000 || m.Seq == n-100 {
			for c := range st.ListConsumers(ctx).Info() {
				if err := st.DeleteConsumer(ctx, c.Name); err == nil {
					deleted = append(deleted, c.Name)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 || deleted[0] == deleted[1] {
		t.Fatalf("deleted consumers %v: want the reader's, then the one it made again", deleted)
	}
	if len(seqs) != n {
		t.Fatalf("fn had %d messages, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("message %d is seq %d: not each once, in order", i+1, s)
		}
	}
}
