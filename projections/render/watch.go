package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"compact/ledger"
	"compact/projections"
)

// WatchRoutes registers GET /v1/reviews/{period}/changes: a text/event-stream with one
// "change" event (data: the projections.ReviewChange JSON) each time the period's review
// view commits a change — driven by the change feed subject
// compact.views.review.<period>, not by polling. A keep-alive comment goes every 30 s.
// Reporting jobs that speak NATS subscribe to the subject directly instead.
//
// The subject carries every projections process's changes, not only this one's: another
// replica's can come before this server's views have applied what it announces (and a
// replica run with the feed off hears no other). applied (nil: none) says how far this
// server's views have applied the stream: a change is sent once they have applied its seq,
// so that a client reading the review on it reads what it announces.
func WatchRoutes(mux *http.ServeMux, nc *nats.Conn, applied Applied, guard func(http.Handler) http.Handler) {
	if guard == nil {
		guard = func(h http.Handler) http.Handler { return h }
	}
	mux.Handle("GET /v1/reviews/{period}/changes", ledger.NoHead(guard(ledger.Params(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		period := r.PathValue("period")
		if err := CheckPeriod(period); err != nil {
			writeJSONError(w, http.StatusNotFound, "period", err.Error())
			return
		}
		flusher, ok := w.(http.Flusher)
		if !ok {
			writeJSONError(w, http.StatusInternalServerError, "", "streaming unsupported")
			return
		}
		// A watcher slower than the changes (a slow client, a burst of commits) gets the
		// latest: each change supersedes those before it (a client re-reads the review on
		// any), and a queue that filled would drop the newest, leaving the client on a
		// review older than the view for good.
		latest := make(chan *nats.Msg, 1)
		sub, err := nc.Subscribe(projections.SubjectReviewPrefix+period, func(m *nats.Msg) {
			for {
				select {
				case latest <- m:
					return
				default:
				}
				select {
				case waiting := <-latest: // superseded, unless m is older (a replica behind)
					if !newerChange(m, waiting) {
						m = waiting
					}
				default:
				}
			}
		})
		if err != nil {
			writeJSONError(w, http.StatusServiceUnavailable, "", "change feed unavailable: "+err.Error())
			return
		}
		defer sub.Unsubscribe()
		// The comment below tells the client it is watching: the server must hold the
		// subscription by then, or a change made right after it would be missed.
		fctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		err = nc.FlushWithContext(fctx)
		cancel()
		if err != nil {
			writeJSONError(w, http.StatusServiceUnavailable, "", "change feed unavailable: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, ": watching "+period+"\n\n")
		flusher.Flush()
		keepAlive := time.NewTicker(30 * time.Second)
		defer keepAlive.Stop()
		var held *nats.Msg      // a change this server's views have not applied yet
		var recheck *time.Timer // while one is held
		var sent *nats.Msg      // the last change sent
		defer func() {
			if recheck != nil {
				recheck.Stop()
			}
		}()
		for {
			var again <-chan time.Time
			if held != nil {
				again = recheck.C
			}
			select {
			case <-r.Context().Done():
				// Ended by the server rather than by the client (its token revoked while it
				// watched, ledger/hold.go): say why, or an EventSource would only reconnect.
				if cause := context.Cause(r.Context()); cause != nil && !errors.Is(cause, context.Canceled) {
					msg, _ := json.Marshal(map[string]string{"error": cause.Error()})
					fmt.Fprint(w, "event: end\n"+sseData(string(msg))+"\n")
					flusher.Flush()
				}
				return
			case m := <-latest:
				if !newerChange(m, sent) || !newerChange(m, held) {
					continue // every replica sends each change, and one behind sends old ones
				}
				if !appliedHere(r.Context(), applied, m) {
					held = m // it supersedes the one held
					recheck = resetTimer(recheck, appliedRecheck)
					continue
				}
				held, sent = nil, m
				fmt.Fprint(w, "event: change\n"+sseData(string(m.Data))+"\n")
			case <-again:
				if !appliedHere(r.Context(), applied, held) {
					recheck.Reset(appliedRecheck)
					continue
				}
				fmt.Fprint(w, "event: change\n"+sseData(string(held.Data))+"\n")
				held, sent = nil, held
			case <-keepAlive.C:
				fmt.Fprint(w, ": keep-alive\n\n")
			}
			flusher.Flush()
		}
	})))))
}

// Applied returns the sequence up to which the views a server reads have applied the stream
// (projections.Views.Applied).
type Applied func(ctx context.Context) (uint64, error)

// appliedRecheck is how often a held change is looked at again: about how long a batch of
// the views takes to commit.
const appliedRecheck = 10 * time.Millisecond

// appliedHere says whether the views have applied the change m announces. A change that does
// not say its seq, or views that cannot say how far they are, do not hold it: better a
// render too early, that the next change mends, than none.
func appliedHere(ctx context.Context, applied Applied, m *nats.Msg) bool {
	if applied == nil {
		return true
	}
	var ch projections.ReviewChange
	if json.Unmarshal(m.Data, &ch) != nil || ch.Seq == 0 {
		return true
	}
	ck, err := applied(ctx)
	return err != nil || ck >= ch.Seq
}

// newerChange says whether the change m announces is newer than the one before (nil: none):
// a later seq, or the same seq with another version (a rebuild for new code swapped in at the
// checkpoint its old code announced last). The same change from another replica, or an older
// one from a replica behind, is not. A message that does not say its seq is passed on, as
// appliedHere does.
func newerChange(m, before *nats.Msg) bool {
	if before == nil {
		return true
	}
	var a, b projections.ReviewChange
	if json.Unmarshal(m.Data, &a) != nil || a.Seq == 0 || json.Unmarshal(before.Data, &b) != nil || b.Seq == 0 {
		return true
	}
	return a.Seq > b.Seq || a.Seq == b.Seq && a.Version != b.Version
}

func resetTimer(t *time.Timer, d time.Duration) *time.Timer {
	if t == nil {
		return time.NewTimer(d)
	}
	t.Reset(d)
	return t
}

// sseLineEnds are the line ends of an event stream.
var sseLineEnds = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// sseData writes data as the data lines of one event: each of its lines a "data: " line, so
// that no line of it can end the event or start a field (the feed's JSON has none; what else
// reaches the subject must not forge events).
func sseData(data string) string {
	var b strings.Builder
	for _, line := range strings.Split(sseLineEnds.Replace(data), "\n") {
		b.WriteString("data: " + line + "\n")
	}
	return b.String()
}
