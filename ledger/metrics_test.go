package ledger_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
)

// sample is one series of a gathered metric: a counter's or gauge's value, or a
// histogram's count and sum.
type sample struct {
	value, count, sum float64
	found             bool
}

// readMetric gathers reg and returns the series of name whose labels include labels
// ("k=v" pairs).
func readMetric(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) sample {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for _, kv := range labels {
				k, v, _ := strings.Cut(kv, "=")
				if have[k] != v {
					continue series
				}
			}
			s := sample{found: true}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Histogram != nil:
				s.count, s.sum = float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()
			}
			return s
		}
	}
	return sample{}
}

// The ingest's latency by transport and the append round trip are observed once per
// request and once per append, and refusals before the ingester (HTTP authentication,
// media type, the rate limit on the ingest route) are counted by reason.
func TestIngestLatencyAndRefusalMetrics(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	n := testNode(t, dir, func(c *ledger.NodeConfig) { c.Registerer = reg })
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	nc, err := connectAs(n, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	const reqName, appName, rejName = "compact_ingest_request_duration_seconds", "compact_ingest_append_duration_seconds", "compact_ingest_rejected_total"
	natsBefore := readMetric(t, reg, reqName, "transport=nats")
	appBefore := readMetric(t, reg, appName, "result=ok")
	for i := range 3 {
		if r := natsPublish(t, nc, "UNODC", activity("UNODC", fmt.Sprintf("n-%d", i), "over NATS")); r.Results[0].Error != nil {
			t.Fatalf("publish: %+v", r)
		}
	}
	natsAfter := readMetric(t, reg, reqName, "transport=nats")
	if got := natsAfter.count - natsBefore.count; got != 3 || natsAfter.sum <= natsBefore.sum {
		t.Errorf("%s{transport=nats}: %v more requests (sum %v → %v), want 3", reqName, got, natsBefore.sum, natsAfter.sum)
	}
	appAfter := readMetric(t, reg, appName, "result=ok")
	if got := appAfter.count - appBefore.count; got != 3 || appAfter.sum <= appBefore.sum {
		t.Errorf("%s{result=ok}: %v more appends for 3 single events, want 3", appName, got)
	}

	mux := http.NewServeMux()
	(&ledger.HTTPHandlers{Ingester: n.Ingester, Auth: &ledger.Auth{Registry: n.Registry}, JS: n.JS, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Routes(mux)
	rl := ledger.NewRateLimiter(5) // bursts of 10, and the clock stands still: no refill
	ledger.SetRateLimiterClock(rl, func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })
	rl.Refused = n.Metrics.CountRateLimited(mux)
	srv := httptest.NewServer(rl.Wrap(mux))
	defer srv.Close()

	var batch []string
	for i := range 40 {
		batch = append(batch, activity("UNODC", fmt.Sprintf("h-%d", i), "over HTTP"))
	}
	appBefore = readMetric(t, reg, appName, "result=ok")
	if status, r := httpPublish(t, srv.URL, creds.Token, ledger.MediaBatch, "["+strings.Join(batch, ",")+"]"); status != http.StatusCreated {
		t.Fatalf("batch: %d %+v", status, r)
	}
	if got := readMetric(t, reg, reqName, "transport=http").count; got != 1 {
		t.Errorf("%s{transport=http}: %v requests, want 1", reqName, got)
	}
	if got := readMetric(t, reg, appName, "result=ok").count - appBefore.count; got < 1 || got > 40 {
		t.Errorf("%s{result=ok}: %v more appends for a batch of 40, want at least one, fewer than one each", appName, got)
	}

	unauth := readMetric(t, reg, rejName, "reason=unauthenticated").value
	if status, _ := httpPublish(t, srv.URL, "not-a-token", ledger.MediaEvent, batch[0]); status != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", status)
	}
	if got := readMetric(t, reg, rejName, "reason=unauthenticated").value - unauth; got != 1 {
		t.Errorf("%s{reason=unauthenticated}: %v more after one request with a bad token, want 1", rejName, got)
	}
	invalid := readMetric(t, reg, rejName, "reason=invalid").value
	if status, _ := httpPublish(t, srv.URL, creds.Token, "text/plain", batch[0]); status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", status)
	}
	if got := readMetric(t, reg, rejName, "reason=invalid").value - invalid; got != 1 {
		t.Errorf("%s{reason=invalid}: %v more after one request of the wrong media type, want 1", rejName, got)
	}

	// The token has used 2 of its 10; spend the rest, then be refused.
	limited := 0
	for i := range 12 {
		status, _ := httpPublish(t, srv.URL, creds.Token, ledger.MediaEvent, batch[i])
		if status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 4 {
		t.Fatalf("%d requests of 12 refused with 429, want 4", limited)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+creds.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("GET /v1/events: %d, want 429", resp.StatusCode)
	}
	if got := readMetric(t, reg, rejName, "reason=rate_limited").value; got != float64(limited) {
		t.Errorf("%s{reason=rate_limited} = %v, want %d (the ingest's 429s, not the history's)", rejName, got, limited)
	}
	if got := readMetric(t, reg, reqName, "transport=http").count; got != 3+12-float64(limited) {
		t.Errorf("%s{transport=http}: %v requests, want the %v the ingest handler answered", reqName, got, 3+12-limited)
	}
}

// An append that gets no acknowledgement is observed with result="error" (and the retry
// that finds it stored, if it needs one, with its own result).
func TestAppendFailureObserved(t *testing.T) {
	n := testNode(t, t.TempDir())
	reg := prometheus.NewRegistry()
	// MinAtomicBatch 1: every append is an atomic batch, whose acknowledgement can be lost.
	in := secondWriter(t, n, "lossy", ledger.AppenderConfig{MinAtomicBatch: 1, Timeout: time.Second, Metrics: ledger.NewMetrics(reg)})
	ledger.LoseAcks(in.Appender, 1)
	p := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	r := in.Ingest(context.Background(), p, []byte(activity("UNODC", "l-1", "lost ack")))
	if r.Error != nil || r.Results[0].Error != nil {
		t.Fatalf("reply: %+v %+v", r.Error, r.Results)
	}
	if got := readMetric(t, reg, "compact_ingest_append_duration_seconds", "result=error").count; got < 1 {
		t.Errorf("compact_ingest_append_duration_seconds{result=error}: %v appends after a lost acknowledgement, want at least 1", got)
	}
}
