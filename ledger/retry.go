package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// askAgain makes a JetStream API request, asking again (each try bounded by every) until
// it is answered or ctx ends: while a cluster elects a new meta or stream leader, or a
// server is still starting, a request can go unanswered, and waiting out the whole of ctx
// on one try would stall the caller long after the election. An answer — success or a
// real refusal — returns at once.
func askAgain(ctx context.Context, every time.Duration, request func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, every)
		err := request(actx)
		unanswered := errors.Is(actx.Err(), context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders) ||
			errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
		cancel()
		if err == nil || !unanswered || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
