package audit

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns the checkpointer's Prometheus metrics, read from its state at each
// scrape (nothing is counted on the fold's path):
//
//   - compact_checkpointer_up: 1 while the loop runs, 0 once it stopped (on an error that
//     Status reports and the log, or closed) or before Start;
//   - compact_checkpointer_signed_tree_size: the size of the latest signed checkpoint;
//   - compact_checkpointer_signed_timestamp_seconds: when it was signed (by this process,
//     or, for one read at start or signed by another, when it was appended to the
//     checkpoint stream), 0 before the first;
//   - compact_checkpointer_folded_tree_size: the messages folded into the tree;
//   - compact_checkpointer_lag_events: the messages of the stream no signed checkpoint
//     covers yet (the stream's last sequence, asked of JetStream at the scrape, minus the
//     signed size).
func (c *Checkpointer) Collector() prometheus.Collector {
	return &collector{c: c}
}

var (
	descUp = prometheus.NewDesc("compact_checkpointer_up",
		"1 while the checkpointer runs, 0 once it stopped (on an error: the log says why, \"checkpointer stopped\").", nil, nil)
	descSignedSize = prometheus.NewDesc("compact_checkpointer_signed_tree_size",
		"Tree size (stream messages covered) of the latest signed checkpoint.", nil, nil)
	descSignedAt = prometheus.NewDesc("compact_checkpointer_signed_timestamp_seconds",
		"Unix time the latest checkpoint was signed (0 before the first).", nil, nil)
	descFolded = prometheus.NewDesc("compact_checkpointer_folded_tree_size",
		"Stream messages folded into the Merkle tree.", nil, nil)
	descLag = prometheus.NewDesc("compact_checkpointer_lag_events",
		"Stream messages after the latest signed checkpoint (the stream's last sequence minus the signed tree size).", nil, nil)
)

// streamInfoTimeout bounds the scrape's question to JetStream.
const streamInfoTimeout = 2 * time.Second

type collector struct {
	c *Checkpointer
	// streamLast is the stream's last sequence as last learnt, for a scrape JetStream does
	// not answer.
	streamLast atomic.Uint64
}

func (col *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descSignedSize, descSignedAt, descFolded, descLag} {
		ch <- d
	}
}

func (col *collector) Collect(ch chan<- prometheus.Metric) {
	c := col.c
	last := col.lastSeq()
	c.mu.Lock()
	folded, latest, at, err, started := c.size, c.latest, c.latestAt, c.err, c.started
	c.mu.Unlock()
	up := 0.0
	if started && err == nil {
		select {
		case <-c.done:
		default:
			up = 1
		}
	}
	var signed uint64
	if latest != nil {
		signed = latest.Size
	}
	var ts float64
	if !at.IsZero() {
		ts = float64(at.UnixNano()) / 1e9
	}
	last = max(last, folded)
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(descSignedSize, prometheus.GaugeValue, float64(signed))
	ch <- prometheus.MustNewConstMetric(descSignedAt, prometheus.GaugeValue, ts)
	ch <- prometheus.MustNewConstMetric(descFolded, prometheus.GaugeValue, float64(folded))
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(last-min(signed, last)))
}

// lastSeq asks JetStream for the stream's last sequence, or gives the last one learnt.
func (col *collector) lastSeq() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), streamInfoTimeout)
	defer cancel()
	if st, err := col.c.js.Stream(ctx, col.c.cfg.Stream); err == nil {
		col.streamLast.Store(st.CachedInfo().State.LastSeq)
	}
	return col.streamLast.Load()
}
