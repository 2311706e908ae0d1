package ledger

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"compact/schemas"
)

// Transports of the ingest, the values of compact_ingest_request_duration_seconds's label.
const (
	TransportHTTP = "http"
	TransportNATS = "nats"
)

// IngestRoute is the ServeMux pattern of the HTTP ingest.
const IngestRoute = "POST /v1/events"

// latencyBuckets go from 0.5 ms to 8 s: an ingest request or an append answers in a few
// milliseconds, and gives up after the appender's Timeout (10 s).
var latencyBuckets = prometheus.ExponentialBuckets(0.0005, 2, 15)

// Metrics are the write side's Prometheus metrics.
type Metrics struct {
	appendedN  *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	duplicates prometheus.Counter
	batchSize  prometheus.Histogram
	// per request and per append (one observation for a whole batch of events)
	requestHTTP, requestNATS prometheus.Observer
	appendOK, appendFailed   prometheus.Observer
	rateLimited              prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		appendedN: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "compact_ingest_appended_total", Help: "Events appended to the ledger, by type.",
		}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "compact_ingest_rejected_total", Help: "Events rejected, or requests refused as a whole, by reason (invalid, forbidden, too_large, unavailable, unauthenticated, conflict, rate_limited).",
		}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "compact_ingest_duplicates_total", Help: "Events re-sent that the ledger already held (not stored again).",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "compact_ingest_batch_events", Help: "Events per atomic append (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 6),
		}),
	}
	requests := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "compact_ingest_request_duration_seconds",
		Help:    "Time to answer one ingest request (one event or a batch), from its arrival to its answer, by transport (http, nats).",
		Buckets: latencyBuckets,
	}, []string{"transport"})
	appends := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "compact_ingest_append_duration_seconds",
		Help:    "Round trip of one append to JetStream (an atomic batch, or a few pipelined publishes), from sending to the acknowledgement, by result (ok, error).",
		Buckets: latencyBuckets,
	}, []string{"result"})
	m.requestHTTP, m.requestNATS = requests.WithLabelValues(TransportHTTP), requests.WithLabelValues(TransportNATS)
	m.appendOK, m.appendFailed = appends.WithLabelValues("ok"), appends.WithLabelValues("error")
	m.rateLimited = m.rejected.WithLabelValues("rate_limited")
	// Every series there is, at 0 from the start: one that appeared with its first event
	// would have that event missed by rate() and increase(), which need two samples.
	for _, reason := range []string{"invalid", "forbidden", "too_large", "unauthenticated", "unavailable", "conflict"} {
		m.rejected.WithLabelValues(reason)
	}
	for _, typ := range schemas.Types() {
		m.appendedN.WithLabelValues(typ)
	}
	reg.MustRegister(m.appendedN, m.rejected, m.duplicates, m.batchSize, requests, appends)
	return m
}

func (m *Metrics) appended(ps []*pendingEvent) {
	m.batchSize.Observe(float64(len(ps)))
	for _, p := range ps {
		m.appendedN.WithLabelValues(p.c.Event.Type).Inc()
	}
}

func (m *Metrics) results(rs []Result) {
	if m == nil {
		return
	}
	for _, r := range rs {
		switch {
		case r.Error != nil:
			m.rejected.WithLabelValues(r.Error.reason()).Inc()
		case r.Duplicate:
			m.duplicates.Inc()
		}
	}
}

func (m *Metrics) rejectedRequest(fe *FieldError) {
	if m != nil {
		m.rejected.WithLabelValues(fe.reason()).Inc()
	}
}

// request observes the time since start of one ingest request over transport.
func (m *Metrics) request(transport string, start time.Time) {
	if m == nil {
		return
	}
	o := m.requestNATS
	if transport == TransportHTTP {
		o = m.requestHTTP
	}
	o.Observe(time.Since(start).Seconds())
}

// appendDone observes the round trip of one append that started at start.
func (m *Metrics) appendDone(start time.Time, err error) {
	if m == nil {
		return
	}
	o := m.appendOK
	if err != nil {
		o = m.appendFailed
	}
	o.Observe(time.Since(start).Seconds())
}

// CountRateLimited returns a [RateLimiter.Refused] hook that counts, as rejected with reason
// rate_limited, the refused requests mux routes to the ingest (IngestRoute). Other routes'
// refusals are left to compact_http_requests_total.
func (m *Metrics) CountRateLimited(mux *http.ServeMux) func(*http.Request) {
	return func(r *http.Request) {
		if m == nil {
			return
		}
		if _, pattern := mux.Handler(r); pattern == IngestRoute {
			m.rateLimited.Inc()
		}
	}
}
