package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

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
	wg     sync.WaitGroup
}

// StartIngestService registers the service on nc (a connection of the ledger's account).
// Requests are handled concurrently (up to maxInFlight at once), so that events from
// many publishers meet in the Appender's group commit.
func StartIngestService(nc *nats.Conn, in *Ingester, reg *Registry, version string, log *slog.Logger) (*IngestService, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &IngestService{cancel: cancel}
	const maxInFlight = 1024
	sem := make(chan struct{}, maxInFlight)
	handler := micro.HandlerFunc(func(req micro.Request) {
		entity := strings.TrimPrefix(req.Subject(), IngestSubjectPrefix)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		s.wg.Add(1)
		go func() {
			defer func() { <-sem; s.wg.Done() }()
			reply := s.handle(ctx, in, reg, entity, req.Data())
			b, _ := reply.MarshalJSON()
			if err := req.Respond(b); err != nil {
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
	return s, nil
}

func (s *IngestService) handle(ctx context.Context, in *Ingester, reg *Registry, entity string, body []byte) Reply {
	p, err := reg.Lookup(entity)
	if err != nil {
		fe := &FieldError{Message: fmt.Sprintf("entity %s is not registered (compact entities add %s)", entity, entity), Kind: ErrUnauthenticated}
		in.Metrics.rejectedRequest(fe)
		return Reply{Error: fe}
	}
	return in.Ingest(ctx, p, body)
}

// Stop stops taking requests, then waits for those in flight.
func (s *IngestService) Stop(ctx context.Context) error {
	err := s.svc.Stop()
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
