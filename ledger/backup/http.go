package backup

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
)

// ErrorTrailer is the HTTP trailer in which GET /v1/admin/backup says why it stopped, when it
// fails once its answer has begun: the file then ends without its manifest.
const ErrorTrailer = "Compact-Backup-Error"

// HandlerConfig is the endpoint's logging and metrics.
type HandlerConfig struct {
	// Logger. Default: nothing.
	Logger *slog.Logger
	// Registerer, if set, gets the compact_backup_* metrics (README, Operating → Metrics):
	// what an operator alerts on when the backups stop.
	Registerer prometheus.Registerer
}

// Routes registers GET /v1/admin/backup, wrapped by admin (the admin-token check): the
// backup file of src, as it is written. A HEAD of it is refused rather than run.
func Routes(mux *http.ServeMux, src Source, cfg HandlerConfig, admin func(http.Handler) http.Handler) {
	mux.Handle("GET /v1/admin/backup", ledger.NoHead(admin(ledger.Params(handler(src, cfg)))))
}

type metrics struct {
	backups     *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	lastBytes   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "compact_backups_total",
			Help: "Backups asked of GET /v1/admin/backup, by result: ok, failed (the file was cut short or not begun), busy (another was being written)."}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "compact_backup_last_success_timestamp_seconds",
			Help: "Unix time at which the last complete backup was written (0: none since the process started)."}),
		lastBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "compact_backup_last_bytes",
			Help: "Size of the last complete backup file."}),
	}
	for _, r := range []string{"ok", "failed", "busy"} {
		m.backups.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.backups, m.lastSuccess, m.lastBytes)
	}
	return m
}

// handler writes the backup.
//
// One backup is written at a time (each holds a copy of the streams on disk while it is
// written): another asked meanwhile is a 503 with Retry-After. A failure before the first
// byte is an error answer; after it, the answer is cut before the manifest, which the
// client (compact backup, Check) refuses.
func handler(src Source, cfg HandlerConfig) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	met := newMetrics(cfg.Registerer)
	busy := make(chan struct{}, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case busy <- struct{}{}:
			defer func() { <-busy }()
		default:
			met.backups.WithLabelValues("busy").Inc()
			w.Header().Set("Retry-After", "60")
			ledger.WriteError(w, http.StatusServiceUnavailable, "a backup is being written: ask again when it is done")
			return
		}
		started := time.Now().UTC()
		lw := &lazyWriter{w: w, start: func() {
			w.Header().Set("Content-Type", "application/x-tar")
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="compact-backup-%s.tar"`, started.Format("20060102T150405Z")))
			w.Header().Set("Trailer", ErrorTrailer)
		}}
		m, err := Write(r.Context(), src, lw)
		if err != nil {
			met.backups.WithLabelValues("failed").Inc()
		}
		switch {
		case err != nil && !lw.started:
			ledger.WriteError(w, http.StatusServiceUnavailable, err.Error())
			log.Error("backup", "err", err)
		case err != nil:
			// The status is sent: the trailer tells the client why its file has no manifest.
			w.Header().Set(ErrorTrailer, strings.Join(strings.Fields(err.Error()), " "))
			log.Error("backup cut short: the client has an incomplete file, which restore refuses", "err", err)
		default:
			met.backups.WithLabelValues("ok").Inc()
			met.lastSuccess.Set(float64(time.Now().Unix()))
			met.lastBytes.Set(float64(lw.n))
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
	n       int64
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start()
	}
	n, err := l.w.Write(p)
	l.n += int64(n)
	return n, err
}
