package ledger

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the write side's Prometheus metrics.
type Metrics struct {
	appendedN  *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	duplicates prometheus.Counter
	batchSize  prometheus.Histogram
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		appendedN: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "compact_ingest_appended_total", Help: "Events appended to the ledger, by type.",
		}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "compact_ingest_rejected_total", Help: "Events rejected, by reason (invalid, forbidden, too_large, unavailable, unauthenticated).",
		}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "compact_ingest_duplicates_total", Help: "Events re-sent that the ledger already held (not stored again).",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "compact_ingest_batch_events", Help: "Events per atomic append (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 6),
		}),
	}
	reg.MustRegister(m.appendedN, m.rejected, m.duplicates, m.batchSize)
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
			m.rejected.WithLabelValues(r.Error.Reason()).Inc()
		case r.Duplicate:
			m.duplicates.Inc()
		}
	}
}

func (m *Metrics) rejectedRequest(fe *FieldError) {
	if m != nil {
		m.rejected.WithLabelValues(fe.Reason()).Inc()
	}
}
