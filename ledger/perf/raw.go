package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"compact/ledger"
)

// The raw side stores what the system stores, byte for byte in size and shape: the subject
// the ledger gives a bench event (compact.events.UNODC.training.delivered) with its first
// token swapped for one of the same length, so that it falls outside COMPACT's subjects;
// events whose ids have the length of the ingest's (BenchID); atomic batches whose
// Nats-Batch-Id has the form of the Appender's (<nuid>-<n in base 36>). Only the system's
// own work differs: the first message of each of its batches carries the condition
// Nats-Expected-Last-Sequence.
const (
	// RawSubjects is the raw streams' subject filter.
	RawSubjects = "rawdata.>"
	// RawSubject is the subject every raw message is published on.
	RawSubject = "rawdata.events.UNODC.training.delivered"
)

// RawStreamConfig is COMPACT's configuration for a raw stream named name, on RawSubjects.
func RawStreamConfig(name string) jetstream.StreamConfig {
	c := ledger.StreamConfig(ledger.StreamOptions{})
	c.Name, c.Subjects = name, []string{RawSubjects}
	return c
}

// RawBody is the one event every raw measurement publishes: a bench event of run 0.
func RawBody() []byte { return Event("UNODC", BenchID(0, 0)) }

// BenchID is the id of the i-th event of a bench run: every id has the same length (run
// below 100, i below 10^10), so that the raw side's body is as long as each of the system's.
func BenchID(run, i int) string { return string(AppendBenchID(nil, run, i)) }

// AppendBenchID appends BenchID(run, i) to dst.
func AppendBenchID(dst []byte, run, i int) []byte {
	dst = append(dst, "bench"...)
	dst = appendPadded(dst, run%100, 2)
	dst = append(dst, '-')
	return appendPadded(dst, i, 10)
}

func appendPadded(dst []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	dst = append(dst, strings.Repeat("0", max(0, width-len(s)))...)
	return append(dst, s...)
}

// rawWriter and rawBatches name the raw atomic batches as the Appender names its own.
var (
	rawWriter  = nuid.Next()
	rawBatches atomic.Uint64
)

// Result is one measurement.
type Result struct {
	Name     string        `json:"name"`
	Events   int           `json:"events"`
	Duration time.Duration `json:"duration_ns"`
}

// PerSecond is events per second.
func (r Result) PerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Events) / r.Duration.Seconds()
}

func (r Result) String() string {
	return fmt.Sprintf("%-40s %9d events %10.0f events/s", r.Name, r.Events, r.PerSecond())
}

// RawDurableEach publishes n messages one at a time, each waiting for its acknowledgement
// (with the server's SyncAlways, one fsync each).
func RawDurableEach(ctx context.Context, js jetstream.JetStream, subject string, body []byte, n int) (Result, error) {
	start := time.Now()
	for range n {
		if _, err := js.Publish(ctx, subject, body); err != nil {
			return Result{}, err
		}
	}
	return Result{Name: "raw durable append, 1 at a time", Events: n, Duration: time.Since(start)}, nil
}

// RawAtomicBatches publishes n messages in JetStream atomic batches of size, each batch
// waiting for its acknowledgement (with SyncAlways, one fsync per batch). The stream must
// allow atomic publish.
func RawAtomicBatches(ctx context.Context, nc *nats.Conn, subject string, body []byte, n, size int) (Result, error) {
	start := time.Now()
	for done := 0; done < n; {
		k := min(size, n-done)
		if err := AtomicBatch(ctx, nc, subject, body, k); err != nil {
			return Result{}, err
		}
		done += k
	}
	return Result{Name: fmt.Sprintf("raw durable append, atomic batches of %d", size), Events: n, Duration: time.Since(start)}, nil
}

// AtomicBatch publishes k copies of body as one atomic batch and waits for the commit.
func AtomicBatch(ctx context.Context, nc *nats.Conn, subject string, body []byte, k int) error {
	msgs := make([]*nats.Msg, k)
	for i := range msgs {
		msgs[i] = &nats.Msg{Subject: subject, Data: body}
	}
	return appendAtomic(ctx, nc, msgs)
}

// appendAtomic appends msgs (at most 1,000) as one JetStream atomic batch and waits for
// the commit's acknowledgement.
func appendAtomic(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) error {
	id := rawWriter + "-" + strconv.FormatUint(rawBatches.Add(1), 36)
	for i, m := range msgs {
		m.Header = nats.Header{}
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return err
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		resp, err := nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return err
		}
		var ack struct {
			Seq   uint64
			Error *jetstream.APIError
		}
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return err
		}
		if ack.Error != nil {
			return ack.Error
		}
	}
	return nil
}

// RawAsync publishes n messages without waiting for each acknowledgement (PublishAsync,
// up to 4,096 in flight). On a server without SyncAlways this is the non-durable ceiling.
// Every publish must be acknowledged: one that failed fails the measurement (checked after
// the clock stops).
func RawAsync(ctx context.Context, js jetstream.JetStream, subject string, body []byte, n int) (Result, error) {
	futures := make([]jetstream.PubAckFuture, 0, n)
	start := time.Now()
	for range n {
		f, err := js.PublishAsync(subject, body)
		if err != nil {
			return Result{}, err
		}
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	d := time.Since(start)
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return Result{}, fmt.Errorf("raw async publish not acknowledged: %w", err)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	return Result{Name: "raw non-durable async publish", Events: n, Duration: d}, nil
}

// Ingest publishes n events through the ingest service with publishers concurrent
// requesters, each request carrying perRequest events (1: a lone event; more: a JSON
// array, as an entity's system sends its backlog) and waiting for its reply. conns are
// the publishers' connections (reused round-robin); event appends the i-th event to dst.
func Ingest(ctx context.Context, conns []*nats.Conn, entity string, event func(dst []byte, i int) []byte, n, publishers, perRequest int) (Result, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int, publishers)
		failed   = make(chan struct{}) // closed at the first error: the feeder stops
		subject  = "compact.ingest." + entity
	)
	start := time.Now()
	for p := range publishers {
		wg.Add(1)
		go func(nc *nats.Conn) {
			defer wg.Done()
			var body []byte
			for i := range next {
				body = body[:0]
				k := min(perRequest, n-i)
				if perRequest == 1 {
					body = event(body, i)
				} else {
					body = append(body, '[')
					for j := i; j < min(i+perRequest, n); j++ {
						if j > i {
							body = append(body, ',')
						}
						body = event(body, j)
					}
					body = append(body, ']')
				}
				msg, err := nc.RequestWithContext(ctx, subject, body)
				if err == nil {
					err = replyError(msg.Data, k)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
						close(failed)
					}
					mu.Unlock()
					return
				}
			}
		}(conns[p%len(conns)])
	}
feed:
	for i := 0; i < n; i += perRequest {
		select {
		case next <- i:
		case <-failed:
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return Result{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	name := fmt.Sprintf("ingest end to end, %d publisher(s)", publishers)
	if perRequest > 1 {
		name += fmt.Sprintf(", %d events/request", perRequest)
	}
	return Result{Name: name, Events: n, Duration: time.Since(start)}, nil
}

// replyError is nil when the reply b acknowledges each of the k events of its request with a
// sequence, neither an error nor a duplicate: only events appended count as throughput.
func replyError(b []byte, k int) error {
	// The load generator shares the machine with what it measures: a reply that names no
	// error and no duplicate (the ids and the hand-written reply hold no such text
	// otherwise) needs no parse.
	if !bytes.Contains(b, []byte(`"error"`)) && !bytes.Contains(b, []byte(`"duplicate":true`)) && bytes.HasPrefix(b, []byte(`{"results":[`)) {
		if got := bytes.Count(b, []byte(`,"seq":`)); got != k {
			return fmt.Errorf("reply acknowledges %d events of the %d sent: %q", got, k, b)
		}
		return nil
	}
	var r struct {
		Results []struct {
			Duplicate bool
			Error     *struct{ Field, Message string }
		}
		Error *struct{ Message string }
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("reply %q: %w", b, err)
	}
	if r.Error != nil {
		return fmt.Errorf("ingest refused the request: %s", r.Error.Message)
	}
	if len(r.Results) != k {
		return fmt.Errorf("reply has %d results for the %d events sent: %q", len(r.Results), k, b)
	}
	for _, res := range r.Results {
		if res.Error != nil {
			return fmt.Errorf("ingest rejected an event: %s: %s", res.Error.Field, res.Error.Message)
		}
		if res.Duplicate {
			return fmt.Errorf("benchmark event was a duplicate: ids must be unique")
		}
	}
	return nil
}

// Event is a typical activity event of the size the review's items have (about 600 bytes).
// Its activity falls in January 2031, away from the periods the benchmarks query.
func Event(entity, id string) []byte { return AppendEvent(nil, entity, id) }

// AppendEvent appends Event(entity, id) to dst: the publishers of a measurement build their
// requests without costing the machine more than a copy (the raw side sends one fixed body).
// entity and id must need no JSON escaping.
func AppendEvent(dst []byte, entity, id string) []byte {
	dst = append(dst, `{"specversion":"1.0","id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","source":"/entities/`...)
	dst = append(dst, entity...)
	dst = append(dst, `","type":"compact.training.delivered","time":"2031-01-13T09:00:00Z","data":{"title":"UNODC-OAS and partners held a PCVE workshop to promote multisectoral cooperation in Latin America, with national authorities and civil society","start":"2031-01-13","end":"2031-01-14","organizers":[{"entity":"`...)
	dst = append(dst, entity...)
	return append(dst, `"},{"org":"Organization of American States","kind":"regional"}],"countries":["COL","PER","ECU"],"region":"Latin America","participants":45,"format":"workshop","links":[{"url":"https://www.unodc.org/pcve","label":"workshop"}]}}`...)
}

func numCPU() int { return runtime.NumCPU() }
