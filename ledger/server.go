package ledger

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// LedgerAccount is the NATS account that holds the streams and runs the services. Every
// entity has an account of its own named after its acronym; it imports only its own
// ingest subject (the export's account token position makes that the only one it can
// import) and the public change feed.
const LedgerAccount = "LEDGER"

// ServerConfig configures the embedded NATS server.
type ServerConfig struct {
	// DataDir holds the JetStream store (DataDir/nats) and the generated server
	// configuration (DataDir/nats.conf). Required.
	DataDir string
	// Host and Port to listen on for NATS clients. Defaults 127.0.0.1 and 4222; Port -1
	// picks a free port.
	Host string
	Port int
	// Registry gives the entities to make accounts for. Required.
	Registry *Registry
	// TLSCert and TLSKey, when both set, make the server require TLS from clients.
	TLSCert, TLSKey string
	// Logger receives the server's log lines. Default slog.Default().
	Logger *slog.Logger
	// EntityMaxConnections bounds the connections each publishing entity's account may hold
	// at once, so that one entity's program gone wrong (a connection per event, never
	// closed) cannot take the server's file descriptors from the others. Default 256; -1
	// is no limit. A connection over it is refused ("maximum account active connections").
	EntityMaxConnections int
	// EntityMaxSubscriptions bounds the subscriptions of each connection of an entity. A
	// publisher needs one or two (its replies; the change feed, if it watches). Default
	// 1,000; -1 is no limit. A subscription over it is refused and the server tells the
	// client ("maximum subscriptions exceeded").
	EntityMaxSubscriptions int
	// ConfigureOptions, if set, is called with the options before the server starts; tests
	// use it to change limits (such as the JetStream dedup window bounds).
	ConfigureOptions func(*server.Options)
}

// Defaults of ServerConfig's entity limits.
const (
	DefaultEntityMaxConnections   = 256
	DefaultEntityMaxSubscriptions = 1000
)

// EnsureDefaults fills zero fields with their documented defaults.
func (c *ServerConfig) EnsureDefaults() {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Port == 0 {
		c.Port = 4222
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.EntityMaxConnections == 0 {
		c.EntityMaxConnections = DefaultEntityMaxConnections
	}
	if c.EntityMaxSubscriptions == 0 {
		c.EntityMaxSubscriptions = DefaultEntityMaxSubscriptions
	}
}

// Validate reports every problem of the configuration at once.
func (c *ServerConfig) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("ServerConfig.DataDir is required"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("ServerConfig.Registry is required"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("TLS needs both a certificate and a key"))
	}
	if c.EntityMaxConnections < -1 {
		errs = append(errs, fmt.Errorf("ServerConfig.EntityMaxConnections %d: want a positive number, or -1 for no limit", c.EntityMaxConnections))
	}
	if c.EntityMaxSubscriptions < -1 {
		errs = append(errs, fmt.Errorf("ServerConfig.EntityMaxSubscriptions %d: want a positive number, or -1 for no limit", c.EntityMaxSubscriptions))
	}
	return errors.Join(errs...)
}

// Server is the embedded NATS server with JetStream (SyncAlways) and per-entity accounts.
type Server struct {
	cfg      ServerConfig
	ns       *server.Server
	ledgerKP nkeys.KeyPair // the ledger's own user; regenerated at every start
	confPath string

	mu sync.Mutex // serializes Reload
	// accounts are the entity accounts of the configuration last loaded (under mu)
	accounts map[string]bool
}

// hasAccount says whether e has a NATS account of its own: a publisher with an nkey.
// Auditors and admins are users of the ledger's account; a revoked entity has no nkey.
func hasAccount(e EntityRecord) bool { return e.NKey != "" && !e.Role.CanReadHistory() }

// accountSet is the set of entity accounts ents make.
func accountSet(ents []EntityRecord) map[string]bool {
	set := map[string]bool{}
	for _, e := range ents {
		if hasAccount(e) {
			set[e.Entity] = true
		}
	}
	return set
}

// StartServer starts the embedded server and waits until it accepts connections.
func StartServer(cfg ServerConfig) (*Server, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ledgerKP: kp, confPath: filepath.Join(cfg.DataDir, "nats.conf")}
	ents := cfg.Registry.Entities()
	s.accounts = accountSet(ents)
	opts, err := s.options(ents)
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	logger := &natsLogger{l: cfg.Logger.With("component", "nats"), fatal: make(chan string, 1)}
	ns.SetLoggerV2(logger, false, false, false)
	go ns.Start()
	// The server reports what keeps it from starting (a port taken) as a fatal log line and
	// then never gets ready: that line ends the wait, rather than the 30 s.
	for deadline := time.Now().Add(30 * time.Second); !ns.ReadyForConnections(100 * time.Millisecond); {
		select {
		case msg := <-logger.fatal:
			ns.Shutdown()
			return nil, fmt.Errorf("embedded NATS server did not start on %s:%d: %s (use --listen for another address)", cfg.Host, cfg.Port, msg)
		default:
		}
		if time.Now().After(deadline) {
			ns.Shutdown()
			return nil, fmt.Errorf("embedded NATS server did not start on %s:%d within 30s (is the port taken? use --listen)", cfg.Host, cfg.Port)
		}
	}
	s.ns = ns
	return s, nil
}

// options renders the accounts into DataDir/nats.conf, parses it, and sets the rest.
func (s *Server) options(ents []EntityRecord) (*server.Options, error) {
	if err := os.WriteFile(s.confPath, []byte(s.accountsConfig(ents)), 0o600); err != nil {
		return nil, err
	}
	opts, err := server.ProcessConfigFile(s.confPath)
	if err != nil {
		return nil, fmt.Errorf("generated NATS configuration %s: %w", s.confPath, err)
	}
	opts.ServerName = "compact-ledger"
	opts.Host = s.cfg.Host
	opts.Port = s.cfg.Port
	opts.JetStream = true
	opts.StoreDir = filepath.Join(s.cfg.DataDir, "nats")
	// Every acknowledged write is on disk: group commit, never relaxed fsync, buys speed.
	opts.SyncAlways = true
	opts.NoSigs = true
	opts.MaxPayload = MaxRequestBytes
	// A client that does not read its replies (an entity's program stuck, or sending requests
	// and never reading) would otherwise stall the ledger's connection at every reply to it:
	// the server holds up a producer writing to a client whose outbound buffer is 3/4 full,
	// and every other entity's reply waits behind. Replies to such a client are dropped
	// instead (it reads none of them); it is closed as a slow consumer when its buffer fills.
	opts.NoFastProducerStall = true
	if s.cfg.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: s.cfg.TLSCert, KeyFile: s.cfg.TLSKey})
		if err != nil {
			return nil, fmt.Errorf("NATS TLS: %w", err)
		}
		opts.TLSConfig = tc
		opts.TLS = true
	}
	if s.cfg.ConfigureOptions != nil {
		s.cfg.ConfigureOptions(opts)
	}
	return opts, nil
}

// accountsConfig is the NATS configuration of the accounts: the ledger's, and one per entity.
func (s *Server) accountsConfig(ents []EntityRecord) string {
	pub, _ := s.ledgerKP.PublicKey()
	var b strings.Builder
	b.WriteString("# Generated by compact serve from entities.json at every start and change. Do not edit.\n")
	b.WriteString("accounts: {\n")
	fmt.Fprintf(&b, "  %s: {\n    jetstream: enabled\n    users: [\n      {nkey: %q}\n", LedgerAccount, pub)
	// Auditors and admins read the ledger's streams and the views' KV bucket over NATS (so
	// that `nats kv watch` and `compact verify --nats-url` work) and nothing else: no
	// ingest subject, no stream or message deletion, no publishing into the ledger.
	for _, e := range ents {
		if e.NKey != "" && e.Role.CanReadHistory() {
			fmt.Fprintf(&b, "      {nkey: %q, permissions: {publish: {allow: %s}, subscribe: {allow: [\"_INBOX.>\", \"compact.views.>\"]}}}\n", e.NKey, readerPublishAllow)
		}
	}
	b.WriteString("    ]\n")
	b.WriteString("    exports: [\n")
	// Token 3 of compact.ingest.<ENTITY> must be the importing account's name.
	b.WriteString("      {service: \"compact.ingest.*\", account_token_position: 3}\n")
	b.WriteString("      {stream: \"compact.views.>\"}\n")
	b.WriteString("    ]\n  }\n")
	for _, e := range ents {
		if !hasAccount(e) {
			continue
		}
		ingest := IngestSubjectPrefix + e.Entity
		fmt.Fprintf(&b, "  %s: {\n", strconv.Quote(e.Entity))
		fmt.Fprintf(&b, "    users: [{nkey: %q, permissions: {publish: {allow: [%q]}, subscribe: {allow: [\"_INBOX.>\", \"compact.views.>\"]}}}]\n", e.NKey, ingest)
		fmt.Fprintf(&b, "    imports: [\n      {service: {account: %s, subject: %q}}\n      {stream: {account: %s, subject: \"compact.views.>\"}}\n    ]\n", LedgerAccount, ingest, LedgerAccount)
		fmt.Fprintf(&b, "    limits: {max_connections: %d, max_subscriptions: %d}\n", s.cfg.EntityMaxConnections, s.cfg.EntityMaxSubscriptions)
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// readerPublishAllow is what an auditor or admin may publish in the ledger's account: the
// JetStream API calls of reading (stream info, ephemeral consumers, direct gets, flow
// control and acks), never a create, update, delete or purge of a stream, nor a message.
const readerPublishAllow = `["$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.*", ` +
	`"$JS.API.STREAM.MSG.GET.*", "$JS.API.DIRECT.GET.*", "$JS.API.DIRECT.GET.*.>", ` +
	`"$JS.API.CONSUMER.CREATE.*", "$JS.API.CONSUMER.CREATE.*.>", "$JS.API.CONSUMER.INFO.*.*", ` +
	`"$JS.API.CONSUMER.DELETE.*.*", "$JS.API.CONSUMER.MSG.NEXT.*.*", "$JS.FC.>", "$JS.ACK.>"]`

// Reload regenerates the accounts from the registry and applies them without a restart.
func (s *Server) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// nats-server v2.15 does not start the service-import subscriptions of an account that
	// a reload creates (configureAccounts skips them "if reloading"); a second reload, which
	// finds the account existing, does. Hence two passes when an account is new, and only
	// then: every reload re-establishes every account's service imports, and a request that
	// comes meanwhile finds no responder (README: publishers re-send on "no responders").
	ents := s.cfg.Registry.Entities() // one snapshot for both passes and the set
	accounts := accountSet(ents)
	passes := 1
	for name := range accounts {
		if !s.accounts[name] {
			passes = 2
			break
		}
	}
	for range passes {
		opts, err := s.options(ents)
		if err != nil {
			return err
		}
		if err := s.ns.ReloadOptions(opts); err != nil {
			return fmt.Errorf("reload NATS accounts: %w", err)
		}
	}
	s.accounts = accounts
	return nil
}

// Connect opens a connection as the ledger itself (account LEDGER), in process.
func (s *Server) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	base := append(s.ledgerOptions(name), nats.InProcessServer(s.ns))
	return nats.Connect("", append(base, opts...)...)
}

// ledgerOptions are the options of a connection as the ledger itself, however it connects.
func (s *Server) ledgerOptions(name string) []nats.Option {
	pub, _ := s.ledgerKP.PublicKey()
	return []nats.Option{nats.Name(name), nats.Nkey(pub, s.ledgerKP.Sign), nats.MaxReconnects(-1)}
}

// ConnectReader opens a connection as the ledger for the read side (the views, the audit
// tree, the replays, the backups' snapshots): the stream's bulk readers. It connects over TCP
// to the server's own client port on the loopback interface, not in process. nats-server's
// in-process connection is a net.Pipe, whose every write waits until the client has read all
// of it, so the server's delivery and the client's parsing take turns; over loopback TCP the
// socket's buffers let them run at once. An ordered consumer read the stream ~1.4 times as
// fast over TCP, at ~0.8 of the CPU an event, and a rebuild of the views ran ~1.15 times as
// fast (ledger/perf/NOTES.md, eleventh round). The in-process connection stays the writers'
// (Connect): the atomic batches measured no faster over TCP.
//
// With TLS required from clients it connects in process, as Connect does: a client on the
// loopback address would need a certificate that names it.
func (s *Server) ConnectReader(name string, opts ...nats.Option) (*nats.Conn, error) {
	if s.cfg.TLSCert != "" {
		return s.Connect(name, opts...)
	}
	url, err := s.loopbackURL()
	if err != nil {
		return nil, err
	}
	return nats.Connect(url, append(s.ledgerOptions(name), opts...)...)
}

// loopbackURL is the server's client port on this machine: 127.0.0.1 when it listens on every
// address (a listener on 0.0.0.0 or :: takes IPv4 too), else the address it listens on.
func (s *Server) loopbackURL() (string, error) {
	addr, ok := s.ns.Addr().(*net.TCPAddr)
	if !ok || addr == nil {
		return "", errors.New("embedded NATS server: no client listener")
	}
	ip := addr.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "nats://" + net.JoinHostPort(ip.String(), strconv.Itoa(addr.Port)), nil
}

// ClientURL is the URL other programs use to reach the server.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// NATS exposes the underlying server (tests use it to look at its state).
func (s *Server) NATS() *server.Server { return s.ns }

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// natsLogger sends the NATS server's log to slog.
type natsLogger struct {
	l     *slog.Logger
	fatal chan string // the first fatal line, for StartServer
}

func (n *natsLogger) Noticef(f string, v ...any) { n.l.Info(fmt.Sprintf(f, v...)) }
func (n *natsLogger) Warnf(f string, v ...any)   { n.l.Warn(fmt.Sprintf(f, v...)) }
func (n *natsLogger) Fatalf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	n.l.Error(msg)
	select {
	case n.fatal <- msg:
	default:
	}
}
func (n *natsLogger) Errorf(f string, v ...any) { n.l.Error(fmt.Sprintf(f, v...)) }
func (n *natsLogger) Debugf(f string, v ...any) { n.l.Debug(fmt.Sprintf(f, v...)) }
func (n *natsLogger) Tracef(f string, v ...any) { n.l.Debug(fmt.Sprintf(f, v...)) }
