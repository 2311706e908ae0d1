package projections

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the views' Prometheus metrics, labelled by view.
type metrics struct {
	checkpoint   *prometheus.GaugeVec
	lag          *prometheus.GaugeVec
	applied      *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	quarantined  *prometheus.GaugeVec
	batchSeconds *prometheus.HistogramVec
	feedErrors   *prometheus.CounterVec
	rebuilds     *prometheus.CounterVec
	rebuildCk    *prometheus.GaugeVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	l := []string{"view"}
	m := &metrics{
		checkpoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "compact_view_checkpoint",
			Help: "Last stream sequence applied by the live generation of the view."}, l),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "compact_view_lag_events",
			Help: "Events in the stream after the view's checkpoint, as of its last batch."}, l),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "compact_view_applied_events_total",
			Help: "Events applied to the view (rate() gives the apply rate); rebuilds included."}, l),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "compact_view_duplicate_events_total",
			Help: "Events skipped because the view had already applied the same source and id."}, l),
		quarantined: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "compact_view_quarantined_events",
			Help: "Events the live generation of the view could not apply and quarantined."}, l),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "compact_view_batch_seconds",
			Help: "Time to apply and commit one batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8)}, l),
		feedErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "compact_view_feed_errors_total",
			Help: "Change-feed messages or KV updates that could not be sent."}, l),
		rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "compact_view_rebuilds_total",
			Help: "Rebuilds started."}, l),
		rebuildCk: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "compact_view_rebuild_checkpoint",
			Help: "Last stream sequence applied by a rebuild in progress (0 when none)."}, l),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.checkpoint, m.lag, m.applied, m.duplicates, m.quarantined,
			m.batchSeconds, m.feedErrors, m.rebuilds, m.rebuildCk} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observeCheckpoint(f *follower, ck uint64) {
	switch followMode(f.mode.Load()) {
	case modeBuilding:
		m.rebuildCk.WithLabelValues(f.view).Set(float64(ck))
	default:
		m.checkpoint.WithLabelValues(f.view).Set(float64(ck))
		m.quarantined.WithLabelValues(f.view).Set(float64(f.qcount.Load()))
	}
}

// observeSwap ends a view's rebuild in the metrics. Only the swap does: the live generation
// goes on committing beside a rebuild, and its commits say nothing of how far the rebuild is.
func (m *metrics) observeSwap(f *follower) {
	m.observeCommit(f, f.ck.Load(), 0)
	m.rebuildCk.WithLabelValues(f.view).Set(0)
}

func (m *metrics) observeCommit(f *follower, ck, pending uint64) {
	m.observeCheckpoint(f, ck)
	if followMode(f.mode.Load()) != modeBuilding {
		m.lag.WithLabelValues(f.view).Set(float64(pending))
	}
}

func (m *metrics) observeBatch(f *follower, applied, dups int, d time.Duration) {
	m.applied.WithLabelValues(f.view).Add(float64(applied))
	m.duplicates.WithLabelValues(f.view).Add(float64(dups))
	m.batchSeconds.WithLabelValues(f.view).Observe(d.Seconds())
}
