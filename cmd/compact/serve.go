package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"compact/ledger"
	"compact/ledger/backup"
)

// serveFlags are compact serve's flags.
type serveFlags struct {
	data         string
	listen       string
	httpAddr     string
	natsURL      string
	natsCreds    string
	natsNKey     string
	role         string
	replicas     int
	demo         bool
	privateReads bool
	noFeed       bool
	tlsCert      string
	tlsKey       string
	logLevel     string
	rateLimit    float64
	entityConns  int
	entitySubs   int
	stall        time.Duration
}

func parseServeFlags(args []string) (*serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&f.data, "data", "data", "data directory (entities, indexes, views, and the embedded NATS store)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:4222", "embedded NATS client address (port 0: any free port, logged as \"nats\" in \"ledger started\")")
	fs.StringVar(&f.httpAddr, "http", "127.0.0.1:8080", "HTTP address")
	fs.StringVar(&f.natsURL, "nats-url", "", "external NATS server or cluster (no embedded server)")
	fs.StringVar(&f.natsCreds, "nats-creds", "", "credentials file for --nats-url")
	fs.StringVar(&f.natsNKey, "nats-nkey", "", "nkey seed file for --nats-url")
	fs.StringVar(&f.role, "role", "all", "ingest, projections or all")
	fs.IntVar(&f.replicas, "replicas", 1, "stream replicas, 1..5: more than 1 needs --nats-url of a cluster (3 there)")
	fs.BoolVar(&f.demo, "demo", false, "load the May-June 2025 review's events on first start")
	fs.BoolVar(&f.privateReads, "private-reads", false, "the review, counters and structure need a token of any role")
	fs.BoolVar(&f.noFeed, "no-feed", false, "publish no change feed (compact.views.* and the COMPACT_VIEWS bucket): for a read replica whose NATS user may not, or when another replica publishes it")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate (PEM) for HTTP and the embedded NATS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key (PEM)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Float64Var(&f.rateLimit, "rate-limit", 200, "HTTP requests per second per token (bursts of twice that); 0 for no limit")
	fs.IntVar(&f.entityConns, "entity-max-connections", ledger.DefaultEntityMaxConnections, "embedded NATS: connections each publishing entity may hold at once; -1 for no limit")
	fs.IntVar(&f.entitySubs, "entity-max-subscriptions", ledger.DefaultEntityMaxSubscriptions, "embedded NATS: subscriptions per connection of an entity; -1 for no limit")
	fs.DurationVar(&f.stall, "stall-timeout", ledger.DefaultWriteStall, "HTTP: a response its client takes nothing of for this long is given up (a stream stays open while its client reads)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("serve takes no arguments, only flags (got %q)", fs.Arg(0))
	}
	var errs []string
	switch f.role {
	case "all", "ingest", "projections":
	default:
		errs = append(errs, fmt.Sprintf("--role %q: must be ingest, projections or all", f.role))
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		errs = append(errs, "--tls-cert and --tls-key go together")
	}
	for _, l := range []struct {
		name string
		v    int
	}{{"entity-max-connections", f.entityConns}, {"entity-max-subscriptions", f.entitySubs}} {
		if l.v == 0 || l.v < -1 {
			errs = append(errs, fmt.Sprintf("--%s %d: want a positive number, or -1 for no limit", l.name, l.v))
		}
	}
	if f.stall <= 0 {
		errs = append(errs, fmt.Sprintf("--stall-timeout %s: want a positive duration, e.g. 1m", f.stall))
	}
	if f.noFeed && f.role == "ingest" {
		errs = append(errs, "--no-feed is about the views: it needs --role projections or all")
	}
	if f.demo && f.role == "projections" {
		errs = append(errs, "--demo loads events: it needs --role ingest or all")
	}
	// StartNode validates these too, but its error would end serve as a failure (exit 1,
	// no hint), after the data directory was made.
	nc := ledger.NodeConfig{NATSURL: f.natsURL, NATSCreds: f.natsCreds, NATSNKey: f.natsNKey, Replicas: f.replicas}
	if err := nc.Validate(); err != nil {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				errs = append(errs, e.Error())
			}
		} else {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return nil, usagef("%s", strings.Join(errs, "; "))
	}
	return &f, nil
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, args []string) error {
	f, err := parseServeFlags(args)
	if err != nil {
		return err
	}
	ledger.TuneGC()
	log, err := newLogger(f.logLevel)
	if err != nil {
		return err
	}
	if err := backup.CheckNoUnfinishedRestore(f.data); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	node, err := ledger.StartNode(ctx, ledger.NodeConfig{
		DataDir: f.data, NATSURL: f.natsURL, NATSCreds: f.natsCreds, NATSNKey: f.natsNKey,
		Listen: f.listen, Replicas: f.replicas, Ingest: f.role != "projections",
		TLSCert: f.tlsCert, TLSKey: f.tlsKey, Logger: log, Registerer: reg,
		EntityMaxConnections: f.entityConns, EntityMaxSubscriptions: f.entitySubs,
		BeforeIngest: func(ctx context.Context, js jetstream.JetStream) error {
			return checkSigningKey(ctx, js, f.data)
		},
	})
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := node.Close(ctx); err != nil {
			log.Error("closing the ledger node", "err", err)
		}
	}()
	log.Info("ledger started", "nats", node.ClientURL(), "data", f.data, "role", f.role)

	auth := &ledger.Auth{Registry: node.Registry}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if node.Conn.IsConnected() && node.ReadConn.IsConnected() {
			w.Write([]byte("ok\n"))
			return
		}
		http.Error(w, "NATS disconnected", http.StatusServiceUnavailable)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if node.Ingester != nil {
		// The replays of GET /v1/events and the backups' snapshots read the whole stream: over
		// the read side's connection (ledger.Server.ConnectReader).
		(&ledger.HTTPHandlers{Ingester: node.Ingester, Auth: auth, JS: node.ReadJS, Logger: log}).Routes(mux)
		// The ingest process alone writes backups into its data directory (its index holds
		// the directory's lock): any temporary copy there is left from a killed process.
		removed, err := backup.RemoveLeftovers(f.data)
		if len(removed) > 0 {
			log.Info("removed the temporary copies of backups that a stopped process left", "dirs", removed)
		}
		if err != nil {
			log.Warn("removing the temporary copies of backups that a stopped process left", "err", err)
		}
		backup.Routes(mux, backup.Source{Conn: node.ReadConn, DataDir: f.data}, backup.HandlerConfig{Logger: log, Registerer: reg}, auth.Admin)
	}
	closeReadSide, err := startReadSide(ctx, readSide{flags: f, node: node, mux: mux, auth: auth, log: log, reg: reg})
	if err != nil {
		return err
	}
	defer closeReadSide()
	elsewhereRoutes(mux, f.role)
	if node.Ingester != nil {
		closeCheckpointer, err := startCheckpointer(ctx, readSide{flags: f, node: node, mux: mux, auth: auth, log: log, reg: reg})
		if err != nil {
			return err
		}
		defer closeCheckpointer()
	}

	// The demo's entities and credentials are settled before listening: a data directory the
	// demo cannot use is refused here, not logged while serving without the demo.
	var loadDemo func(context.Context) error
	if f.demo {
		if loadDemo, err = node.PrepareDemo(ctx, log); err != nil {
			return fmt.Errorf("--demo: %w", err)
		}
	}

	// Shutdown waits for requests to end but does not cancel them: a watch (SSE) or a long
	// replay would hold the stop for the whole grace period and end it with an error. Their
	// contexts derive from baseCtx, cancelled as the shutdown begins.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	limiter := ledger.NewRateLimiter(f.rateLimit)
	if node.Metrics != nil {
		limiter.Refused = node.Metrics.CountRateLimited(mux)
	}
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		Addr:              f.httpAddr,
		Handler:           ledger.GiveUpStalled(f.stall, nosniff(ledger.NewHTTPMetrics(reg).Wrap(mux, limiter.Wrap(apiErrors(mux))))),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      0, // replays and watches stream for as long as they need; GiveUpStalled bounds each write
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return fmt.Errorf("HTTP listen on %s: %w (use --http)", f.httpAddr, err)
	}
	serveErr := make(chan error, 1)
	go func() {
		if f.tlsCert != "" {
			serveErr <- srv.ServeTLS(ln, f.tlsCert, f.tlsKey)
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	log.Info("HTTP listening", "addr", ln.Addr().String())

	if loadDemo != nil {
		if err := loadDemo(ctx); err != nil {
			log.Error("loading the demo data", "err", err)
		}
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	srv.RegisterOnShutdown(cancelBase)
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutCtx)
}

// nosniff tells browsers to take every response as its Content-Type says, whatever handler
// wrote it: the API's JSON and NDJSON carry text the entities published, which a browser
// sniffing it as HTML would run.
func nosniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}
