package backup

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"compact/ledger"
)

// Routes registers GET /v1/admin/backup, wrapped by admin (the admin-token check): the
// backup file of src, as it is written. A HEAD of it is refused rather than run.
func Routes(mux *http.ServeMux, src Source, log *slog.Logger, admin func(http.Handler) http.Handler) {
	mux.Handle("GET /v1/admin/backup", ledger.NoHead(admin(ledger.Params(handler(src, log)))))
}

// handler writes the backup.
//
// One backup is written at a time (each holds a copy of the streams on disk while it is
// written): another asked meanwhile is a 503 with Retry-After. A failure before the first
// byte is an error answer; after it, the answer is cut before the manifest, which the
// client (compact backup, Check) refuses.
func handler(src Source, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	busy := make(chan struct{}, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case busy <- struct{}{}:
			defer func() { <-busy }()
		default:
			w.Header().Set("Retry-After", "60")
			ledger.WriteError(w, http.StatusServiceUnavailable, "a backup is being written: ask again when it is done")
			return
		}
		started := time.Now().UTC()
		lw := &lazyWriter{w: w, start: func() {
			w.Header().Set("Content-Type", "application/x-tar")
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="compact-backup-%s.tar"`, started.Format("20060102T150405Z")))
		}}
		m, err := Write(r.Context(), src, lw)
		switch {
		case err != nil && !lw.started:
			ledger.WriteError(w, http.StatusServiceUnavailable, err.Error())
			log.Error("backup", "err", err)
		case err != nil:
			log.Error("backup cut short: the client has an incomplete file, which restore refuses", "err", err)
		default:
			var events uint64
			for _, s := range m.Streams {
				if s.Name == ledger.StreamName {
					events = s.LastSeq
				}
			}
			log.Info("backup written", "events", events, "took", time.Since(started).Round(time.Millisecond))
		}
	})
}

// lazyWriter sends the answer's headers at its first write, so that a backup that fails
// before writing anything can still answer with an error.
type lazyWriter struct {
	w       http.ResponseWriter
	start   func()
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start()
	}
	return l.w.Write(p)
}
