package audit

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"

	"compact/ledger"
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
