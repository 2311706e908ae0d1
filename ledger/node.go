package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"compact/schemas"
)

// NodeConfig configures the write side of one `compact serve` process.
type NodeConfig struct {
	// DataDir holds the entities file, the dedup index and, when embedded, the NATS store.
	// Default ./data.
	DataDir string
	// NATSURL of an external NATS server or cluster. Empty starts the embedded server.
	NATSURL string
	// NATSCreds is a credentials file (JWT + seed) for NATSURL; NATSNKey a file holding an
	// nkey seed. At most one.
	NATSCreds, NATSNKey string
	// Listen is the embedded server's client address. Default 127.0.0.1:4222. Port 0 (or -1)
	// picks a free port: ClientURL tells which.
	Listen string
	// Replicas of the streams. Default 1; use 3 on a cluster.
	Replicas int
	// Ingest runs the ingest service (the Appender) in this process. False for a process
	// that only serves views (--role projections).
	Ingest bool
	// TLSCert and TLSKey enable TLS on the embedded server.
	TLSCert, TLSKey string
	// EntityMaxConnections and EntityMaxSubscriptions bound each entity on the embedded
	// server (ServerConfig's fields of the same names, and their defaults).
	EntityMaxConnections, EntityMaxSubscriptions int
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Metrics registry. Default a new one.
	Registerer prometheus.Registerer
	// Version (SemVer) is reported by the ingest service. Default 0.1.0.
	Version string
	// ConfigureServer, if set, may adjust the embedded server's configuration (tests).
	ConfigureServer func(*ServerConfig)
	// BeforeIngest, if set, is called once the streams are in place and before the ingest
	// side starts (the dedup index's catch-up with the stream, which a long ledger makes
	// long): what refuses a misconfigured process (a missing signing key) refuses it at once.
	BeforeIngest func(ctx context.Context, js jetstream.JetStream) error
	// Duplicates overrides JetStream's own dedup window (tests make it small).
	Duplicates time.Duration
}

// EnsureDefaults fills zero fields with their documented defaults.
func (c *NodeConfig) EnsureDefaults() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:4222"
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Version == "" {
		c.Version = "0.1.0"
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
}

// Validate reports every problem at once. Called before EnsureDefaults (as serve's flag
// parsing does), a zero Replicas is one of them.
func (c *NodeConfig) Validate() error {
	var errs []error
	if c.NATSCreds != "" && c.NATSNKey != "" {
		errs = append(errs, errors.New("give --nats-creds or --nats-nkey, not both"))
	}
	if c.NATSURL == "" && (c.NATSCreds != "" || c.NATSNKey != "") {
		errs = append(errs, errors.New("--nats-creds/--nats-nkey need --nats-url"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("--replicas %d: must be 1..5", c.Replicas))
	}
	if c.NATSURL == "" && c.Replicas != 1 {
		errs = append(errs, errors.New("the embedded server is a single node: --replicas needs --nats-url of a cluster"))
	}
	return errors.Join(errs...)
}

// Node is the write side of a running ledger.
type Node struct {
	cfg    NodeConfig
	Server *Server // nil with an external NATS
	Conn   *nats.Conn
	JS     jetstream.JetStream
	// ReadConn and ReadJS are the read side's: with the embedded server a connection of its own
	// over loopback TCP (Server.ConnectReader: the stream's bulk readers go faster than in
	// process), else Conn and JS.
	ReadConn *nats.Conn
	ReadJS   jetstream.JetStream
	Registry *Registry
	Metrics  *Metrics
	Index    *Index
	Appender *Appender
	Ingester *Ingester
	Service  *IngestService
	// StreamReplicas is the ledger stream's replicas as it stands (not as --replicas asked,
	// when another process created it), for the read side's KV bucket.
	StreamReplicas int

	cancel    context.CancelFunc
	done      chan struct{}
	unlock    func() // the data directory's lock, released last
	closeOnce sync.Once
	closeErr  error
}

// StartNode starts (or connects to) NATS, ensures the streams, and — when cfg.Ingest — opens
// the dedup index, catches it up and starts the ingest service.
func StartNode(ctx context.Context, cfg NodeConfig) (_ *Node, err error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	reg, err := OpenRegistry(cfg.DataDir)
	if err != nil {
		unlock()
		return nil, err
	}
	n := &Node{cfg: cfg, Registry: reg, done: make(chan struct{}), unlock: unlock}
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()
	onChange := func() error { return nil }
	if cfg.NATSURL == "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("--listen %q: %w", cfg.Listen, err)
		}
		if port == 0 {
			port = -1 // port 0 means any free port, as for net.Listen; nats-server says -1
		}
		sc := ServerConfig{DataDir: cfg.DataDir, Host: host, Port: port, Registry: reg,
			TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, Logger: cfg.Logger,
			EntityMaxConnections: cfg.EntityMaxConnections, EntityMaxSubscriptions: cfg.EntityMaxSubscriptions}
		if cfg.ConfigureServer != nil {
			cfg.ConfigureServer(&sc)
		}
		if n.Server, err = StartServer(sc); err != nil {
			return nil, err
		}
		if n.Conn, err = n.Server.Connect("compact-ledger"); err != nil {
			return nil, err
		}
		if n.ReadConn, err = n.Server.ConnectReader("compact-ledger-reader"); err != nil {
			return nil, err
		}
		onChange = n.Server.Reload
	} else {
		opts := []nats.Option{nats.Name("compact-ledger"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
		switch {
		case cfg.NATSCreds != "":
			opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
		case cfg.NATSNKey != "":
			o, err := nats.NkeyOptionFromSeed(cfg.NATSNKey)
			if err != nil {
				return nil, fmt.Errorf("--nats-nkey: %w", err)
			}
			opts = append(opts, o)
		}
		if n.Conn, err = nats.Connect(cfg.NATSURL, opts...); err != nil {
			return nil, fmt.Errorf("connect to NATS at %s: %w", cfg.NATSURL, err)
		}
	}
	if n.JS, err = jetstream.New(n.Conn); err != nil {
		return nil, err
	}
	n.ReadJS = n.JS
	if n.ReadConn == nil {
		n.ReadConn = n.Conn
	} else if n.ReadJS, err = jetstream.New(n.ReadConn); err != nil {
		return nil, err
	}
	streams := StreamOptions{Replicas: cfg.Replicas, Duplicates: cfg.Duplicates}
	if cfg.Ingest || cfg.NATSURL == "" {
		err = ensureStreamsPatiently(ctx, n.JS, streams, cfg.Logger)
	} else {
		// A read replica on an operator's NATS never creates the streams: it would create
		// them with its own --replicas (1 unless it repeats the ingest process's), and the
		// ingest process takes an existing stream as it is.
		err = awaitStreams(ctx, n.JS, streams, cfg.NATSURL, streamWait, cfg.Logger)
	}
	if err != nil {
		return nil, err
	}
	n.StreamReplicas = cfg.Replicas
	if st, err := n.JS.Stream(ctx, StreamName); err == nil {
		n.StreamReplicas = max(st.CachedInfo().Config.Replicas, 1)
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		defer close(n.done)
		reg.Watch(watchCtx, 500*time.Millisecond, cfg.Logger, onChange)
	}()
	if !cfg.Ingest {
		return n, nil
	}
	if cfg.BeforeIngest != nil {
		if err := cfg.BeforeIngest(ctx, n.JS); err != nil {
			return nil, err
		}
	}
	n.Metrics = NewMetrics(cfg.Registerer)
	if n.Index, err = OpenIndex(filepath.Join(cfg.DataDir, "index")); err != nil {
		return nil, err
	}
	if n.Appender, err = NewAppender(ctx, AppenderConfig{Conn: n.Conn, Index: n.Index, Logger: cfg.Logger, Metrics: n.Metrics}); err != nil {
		return nil, err
	}
	n.Ingester = &Ingester{Appender: n.Appender, Validator: schemas.Default(), Metrics: n.Metrics}
	if n.Service, err = StartIngestService(ctx, n.Conn, n.Ingester, reg, cfg.Version, cfg.Logger); err != nil {
		return nil, err
	}
	return n, nil
}

// Close stops the ingest service (letting requests in flight finish), the appender, the
// registry watch, the connection and the embedded server, in that order. It is safe to
// call more than once.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() { n.closeErr = n.close(ctx) })
	return n.closeErr
}

func (n *Node) close(ctx context.Context) error {
	var errs []error
	if n.Service != nil {
		errs = append(errs, n.Service.Stop(ctx))
	}
	if n.Appender != nil {
		errs = append(errs, n.Appender.Close(ctx))
	}
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.cancel = nil
	}
	if n.Index != nil {
		errs = append(errs, n.Index.Close())
	}
	if n.ReadConn != nil && n.ReadConn != n.Conn {
		n.ReadConn.Drain()
		n.ReadConn.Close()
	}
	if n.Conn != nil {
		n.Conn.Drain()
		n.Conn.Close()
	}
	if n.Server != nil {
		n.Server.Shutdown()
	}
	if n.unlock != nil {
		n.unlock()
		n.unlock = nil
	}
	return errors.Join(errs...)
}

// ClientURL is where NATS clients connect: the embedded server's URL or the external one.
func (n *Node) ClientURL() string {
	if n.Server != nil {
		return n.Server.ClientURL()
	}
	return n.cfg.NATSURL
}

// streamWait bounds how long a read replica waits for the ingest process to create the streams.
const streamWait = 2 * time.Minute

// awaitStreams waits until COMPACT and COMPACT_CHECKPOINTS exist, as the ingest process makes
// them, for up to wait, and checks them as EnsureStreams does; it says once that it waits.
func awaitStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions, url string, wait time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	said := false
	for _, want := range []jetstream.StreamConfig{StreamConfig(o), CheckpointStreamConfig(o)} {
		for {
			var s jetstream.Stream
			err := askAgain(ctx, 5*time.Second, func(ctx context.Context) error {
				var err error
				s, err = js.Stream(ctx, want.Name)
				return err
			})
			if err == nil {
				if diffs := diffStreamConfig(want, s.CachedInfo().Config); len(diffs) > 0 {
					return &StreamConfigError{Stream: want.Name, Differences: diffs}
				}
				break
			}
			if !errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("look up stream %s: %w", want.Name, err)
			}
			if !said {
				log.Info("waiting for the ledger's streams, which the ingest process creates (serve --role ingest or all)",
					"stream", want.Name, "nats", url, "for", wait)
				said = true
			}
			select {
			case <-ctx.Done():
				if parent := context.Cause(ctx); errors.Is(parent, context.Canceled) {
					return parent
				}
				return &StreamMissingError{Stream: want.Name, NATSURL: url, Waited: wait}
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// DataDirLockFile, in the data directory, is locked by the process that uses the directory.
const DataDirLockFile = "serve.lock"

// lockDataDir takes the data directory for this process, before anything in it is opened: a
// second serve on a directory in use used to start its embedded NATS server on the running
// one's JetStream store (nats-server does not lock it), rewrite nats.conf, and fail only at the
// dedup index's lock with "resource temporarily unavailable".
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, DataDirLockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is used by another running compact serve (it holds %s): "+
				"stop that one, or give this one a --data of its own", ErrDataDirInUse, dir, path)
		}
		return nil, fmt.Errorf("lock the data directory: %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// ensureStreamsPatiently retries EnsureStreams while JetStream does not answer — a cluster
// that is still electing its meta leader, or a server still starting — for up to two
// minutes; a real refusal (a changed stream) fails at once.
func ensureStreamsPatiently(ctx context.Context, js jetstream.JetStream, o StreamOptions, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	first := true
	return askAgain(ctx, 5*time.Second, func(ctx context.Context) error {
		if !first {
			log.Debug("asking JetStream again (a cluster electing its leader?)")
		}
		first = false
		return EnsureStreams(ctx, js, o)
	})
}
