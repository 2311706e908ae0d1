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

// Bounds of requestAgain: each try, and all of them.
const (
	requestTry   = 10 * time.Second
	requestTries = time.Minute
)

// requestAgain sends an ingest request as the README asks of every publisher: again on "no
// responders" (an entities change is re-establishing the service imports: the request was not
// taken) and on a timeout (it may have been stored: re-sent, what was answers as a duplicate),
// for at most requestTries.
func requestAgain(ctx context.Context, nc *nats.Conn, subject string, body []byte) (*nats.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTries)
	defer cancel()
	var msg *nats.Msg
	err := askAgain(ctx, requestTry, func(ctx context.Context) (err error) {
		msg, err = nc.RequestWithContext(ctx, subject, body)
		return err
	})
	return msg, err
}
