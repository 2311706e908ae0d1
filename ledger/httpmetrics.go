package ledger

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTPMetrics counts and times the HTTP API's requests by route — the ServeMux pattern that
// served them ("GET /v1/reviews/{period}"), never the raw path, so that the label's values
// are as few as the routes — and by status code.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// RouteUnmatched is the route label of a request no pattern matched (a 404, a 405).
const RouteUnmatched = "unmatched"

// NewHTTPMetrics creates the metrics and registers them on reg.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "compact_http_requests_total",
			Help: "HTTP requests answered, by route (the ServeMux pattern, \"unmatched\" for none) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "compact_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route; for streams (watch, replays) the stream's whole length.",
			// 0.5 ms to about 65 s
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// Wrap counts and times the requests h serves. h is mux, or mux behind middleware (the
// rate limiter) that passes the request on as it is: the route is the pattern mux
// matched, or, when mux did not see the request (refused before it), the one it would
// have matched.
func (m *HTTPMetrics) Wrap(mux *http.ServeMux, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			_, route = mux.Handler(r)
		}
		if route == "" {
			route = RouteUnmatched
		}
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	})
}

// statusWriter remembers the status written; it flushes (watch, replays) and unwraps (for
// http.ResponseController) as the writer it wraps.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
