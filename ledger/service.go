package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// ServiceName is the ingest service's name as `nats micro ls` shows it.
const ServiceName = "compact-ingest"

// IngestService answers compact.ingest.<ENTITY> requests. The entity is taken from the
// subject — which NATS accounts guarantee is the requester's own — never from the payload.
type IngestService struct {
	svc    micro.Service
	cancel context.CancelFunc
	// micro's Stop only starts draining the subscription: the requests already buffered in
	// the client still reach the handler after it returns. stopping, under mu, tells the
	// handler to refuse them, and orders every wg.Add of a request taken before Stop's
	// wg.Wait (an Add from zero concurrent with Wait is a misuse that can panic, and let
	// Stop return with requests still to be handled).
	mu       sync.Mutex
	stopping bool
	wg       sync.WaitGroup
	// inFlight counts each entity's requests taken and not answered yet (under mu).
	inFlight map[string]int
	// hold, when set (tests only, see export_test.go), is waited on before each request is
	// handled, so that a test can keep requests in flight.
	hold atomic.Pointer[chan struct{}]
}

// maxInFlightPerEntity bounds the requests of one entity handled at once. The service
// handles up to maxInFlight requests together and waits for a free slot before taking the
// next one, whoever sent it: without a bound per entity, one entity sending without waiting
// for its answers (up to its connection's pending limit) would take every slot and hold up
// the others' requests behind its own. Past the bound a request is answered at once as
// unavailable, to be re-sent once answers have come back. 256 requests is far beyond what
// a publisher needs to fill the group commit (the 64-publisher benchmark keeps 64 in flight).
const maxInFlightPerEntity = 256

// StartIngestService registers the service on nc (a connection of the ledger's account)
// and returns once the server has its subscription: a publisher that connects after it
// returns gets an answer, not "no responders". Requests are handled concurrently (up to
// maxInFlight at once), so that events from many publishers meet in the Appender's group
// commit.
func StartIngestService(ctx context.Context, nc *nats.Conn, in *Ingester, reg *Registry, version string, log *slog.Logger) (*IngestService, error) {
	handlerCtx, cancel := context.WithCancel(context.Background())
	s := &IngestService{cancel: cancel, inFlight: map[string]int{}}
	const maxInFlight = 1024
	sem := make(chan struct{}, maxInFlight)
	// refuse answers a request not taken because the service is stopping: the publisher
	// learns at once to re-send it. An answer that cannot be sent (the connection closing)
	// leaves the publisher to time out, as no answer would.
	refuse := func(req micro.Request, start time.Time) {
		fe := unavailable("not taken: the ledger is shutting down; re-send the request")
		in.Metrics.rejectedRequest(fe)
		b, _ := Reply{Error: fe}.MarshalJSON()
		in.Metrics.request(TransportNATS, start)
		_ = req.Respond(b)
	}
	handler := micro.HandlerFunc(func(req micro.Request) {
		start := time.Now() // the wait for a slot is part of what the publisher sees
		entity := strings.TrimPrefix(req.Subject(), IngestSubjectPrefix)
		switch s.take(entity) {
		case takeStopping:
			refuse(req, start)
			return
		case takeBusy:
			fe := unavailable("not taken: %s has %d requests in flight, the most one entity may have at once; re-send it once answers have come back", entity, maxInFlightPerEntity)
			in.Metrics.rejectedRequest(fe)
			b, _ := Reply{Error: fe}.MarshalJSON()
			in.Metrics.request(TransportNATS, start)
			_ = req.Respond(b)
			return
		}
		select {
		case sem <- struct{}{}:
		case <-handlerCtx.Done():
			s.done(entity)
			refuse(req, start)
			return
		}
		// The answer is published here, not with req.Respond: Respond records a failure in the
		// request, which micro reads once this handler has returned, concurrently with the
		// goroutine below (a data race). A request without a reply subject (a plain publish)
		// is handled all the same and answered to nobody.
		replyTo, data := req.Reply(), req.Data()
		go func() {
			defer func() { <-sem; s.done(entity) }()
			if hold := s.hold.Load(); hold != nil {
				<-*hold
			}
			reply := s.handle(handlerCtx, in, reg, entity, data)
			in.Metrics.request(TransportNATS, start)
			if replyTo == "" {
				return
			}
			b, _ := reply.MarshalJSON()
			if err := nc.Publish(replyTo, b); err != nil {
				log.Warn("ingest reply not sent", "entity", entity, "err", err)
			}
		}()
	})
	svc, err := micro.AddService(nc, micro.Config{
		Name:        ServiceName,
		Version:     version,
		Description: "Compact ledger ingest: publish CloudEvents to compact.ingest.<ENTITY>",
		QueueGroup:  ServiceName,
		Endpoint: &micro.EndpointConfig{
			Subject: IngestSubjectPrefix + "*",
			Handler: handler,
			Metadata: map[string]string{
				"format": "application/cloudevents+json or application/cloudevents-batch+json",
			},
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start the ingest service: %w", err)
	}
	s.svc = svc
	// The subscription is only buffered in the client so far; a round trip makes the
	// server hold it before the node reports itself started.
	if err := flush(ctx, nc); err != nil {
		_ = s.Stop(ctx) // and wait for any request taken meanwhile
		return nil, fmt.Errorf("start the ingest service: the server did not confirm its subscription: %w", err)
	}
	return s, nil
}

// flushTimeout bounds a flush when the caller's context has no deadline of its own.
const flushTimeout = 10 * time.Second

// flush waits until the server has processed everything nc sent before it.
func flush(ctx context.Context, nc *nats.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	return nc.FlushWithContext(ctx)
}

func (s *IngestService) handle(ctx context.Context, in *Ingester, reg *Registry, entity string, body []byte) Reply {
	p, err := reg.Lookup(entity)
	if err != nil {
		msg := fmt.Sprintf("entity %s is not registered (compact entities add %s)", entity, entity)
		if !errors.Is(err, ErrUnknownEntity) {
			msg = err.Error() // revoked
		}
		fe := &FieldError{Message: msg, Kind: ErrUnauthenticated}
		in.Metrics.rejectedRequest(fe)
		return Reply{Error: fe}
	}
	return in.Ingest(ctx, p, body)
}

type takeResult int

const (
	taken takeResult = iota
	takeStopping
	takeBusy // the entity has maxInFlightPerEntity requests in flight
)

// take counts a request of entity in, unless the service is stopping or the entity has
// maxInFlightPerEntity requests in flight. A request taken is let go with done.
func (s *IngestService) take(entity string) takeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return takeStopping
	}
	if s.inFlight[entity] >= maxInFlightPerEntity {
		return takeBusy
	}
	s.inFlight[entity]++
	s.wg.Add(1)
	return taken
}

// done lets a request taken by take go.
func (s *IngestService) done(entity string) {
	s.mu.Lock()
	if s.inFlight[entity]--; s.inFlight[entity] <= 0 {
		delete(s.inFlight, entity)
	}
	s.mu.Unlock()
	s.wg.Done()
}

// Stop stops taking requests, then waits for those in flight. Requests that reach the
// service after (buffered before the subscription ended) are answered as unavailable.
func (s *IngestService) Stop(ctx context.Context) error {
	err := s.svc.Stop()
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		return ctx.Err()
	}
	s.cancel()
	return err
}
