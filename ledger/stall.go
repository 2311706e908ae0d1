package ledger

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// The HTTP server has no WriteTimeout, since a replay or a watch streams for as long as its
// client wants it. But a client that stops reading without closing its connection (a
// stalled or hostile reader) then blocked the handler's next write forever, once the socket
// buffers were full: the request, its JetStream consumer or NATS subscription and its
// goroutine stayed for as long as the connection did. Nothing else could end it either: a
// cancelled context does not interrupt a write, so a revoked token's replay went on (hold.go),
// and serve's shutdown waited out its grace period and failed.
//
// GiveUpStalled bounds each write rather than the whole response, as nginx's send_timeout
// does: a response that its client takes nothing of for the stall timeout is given up (the
// write fails, the handler ends, the connection is closed). And once a request's context
// ends — the client gone, serve stopping, its caller let in no more — what is left to write
// (a stream's error line or end event) has EndGrace, not the stall timeout.

// DefaultWriteStall is serve's --stall-timeout.
const DefaultWriteStall = time.Minute

// EndGrace is how long a response whose request's context ended may still take to write.
const EndGrace = 2 * time.Second

// GiveUpStalled wraps h so that every write of a response must be taken by the client within
// stall, and writes after the request's context ends within EndGrace.
func GiveUpStalled(stall time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &stallWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall}
		// Lifted before anything is written: a connection kept alive carries the deadline its
		// previous request's end left into this one (and the server's own writes, a 100
		// Continue, are not bounded by the stall timeout).
		sw.disarm()
		stop := endWritesWith(r.Context(), sw)
		h.ServeHTTP(sw, r)
		stop()
		sw.mu.Lock()
		sw.done = true
		sw.mu.Unlock()
		// The server writes what is buffered, and the end of a chunked body, after the
		// handler returns: under the same bound.
		sw.arm()
	})
}

// endWrites gives the rest of w's response EndGrace once ctx ends, when w goes through
// GiveUpStalled; the returned function stops that. A request whose context is ended by
// something other than the server (a hold) calls it with that context.
func endWrites(ctx context.Context, w http.ResponseWriter) (stop func()) {
	for {
		switch t := w.(type) {
		case *stallWriter:
			return endWritesWith(ctx, t)
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return func() {}
		}
	}
}

func endWritesWith(ctx context.Context, sw *stallWriter) func() {
	stop := context.AfterFunc(ctx, func() { sw.limitTo(time.Now().Add(EndGrace)) })
	return func() { stop() }
}

// stallWriter arms a write deadline before each write of the response it wraps, and lifts
// it once the write is done: a deadline left in place would end the response at the next
// silence longer than the stall timeout (a watch between its changes, a rebuild before its
// answer). Over HTTP/1 it would only fail the next write, but over HTTP/2 (--tls-cert) a
// write deadline is a timer that resets the stream when it fires, write or no write.
type stallWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration

	mu sync.Mutex
	// limit, if not zero, is a deadline no write goes past: the request's context ended.
	limit time.Time
	done  bool // the handler returned: only GiveUpStalled sets deadlines now
}

func (w *stallWriter) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := time.Now().Add(w.stall)
	if !w.limit.IsZero() && w.limit.Before(d) {
		d = w.limit
	}
	_ = w.rc.SetWriteDeadline(d) // not supported: a writer we cannot bound (tests' recorders)
}

// disarm lifts the deadline arm set, back to the limit if there is one.
func (w *stallWriter) disarm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.rc.SetWriteDeadline(w.limit)
}

// limitTo sets a deadline that no write goes past, unless an earlier one is set already.
func (w *stallWriter) limitTo(d time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || (!w.limit.IsZero() && w.limit.Before(d)) {
		return
	}
	w.limit = d
	_ = w.rc.SetWriteDeadline(d)
}

func (w *stallWriter) WriteHeader(code int) {
	w.arm()
	defer w.disarm()
	w.ResponseWriter.WriteHeader(code)
}

func (w *stallWriter) Write(b []byte) (int, error) {
	w.arm()
	defer w.disarm()
	return w.ResponseWriter.Write(b)
}

func (w *stallWriter) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController.Flush calls.
func (w *stallWriter) FlushError() error {
	w.arm()
	defer w.disarm()
	return w.rc.Flush()
}

func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
