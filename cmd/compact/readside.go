package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
	"compact/ledger/audit"
	"compact/projections"
	"compact/projections/render"
)

// readSide is what the read side of serve is wired from.
type readSide struct {
	flags *serveFlags
	node  *ledger.Node
	mux   *http.ServeMux
	auth  *ledger.Auth
	log   *slog.Logger
	reg   *prometheus.Registry
}

// startReadSide opens the views in DataDir/views, starts following the stream and
// registers the read API, unless the process only ingests.
func startReadSide(ctx context.Context, rs readSide) (func(), error) {
	if rs.flags.role == "ingest" {
		return func() {}, nil
	}
	views, err := projections.Open(ctx, projections.Config{
		Dir:          filepath.Join(rs.flags.data, "views"),
		JS:           rs.node.ReadJS,
		NC:           rs.node.ReadConn,
		Logger:       rs.log.With("component", "projections"),
		Registry:     rs.reg,
		FeedReplicas: rs.node.StreamReplicas, // as durable as the ledger, whatever --replicas says here
		DisableFeed:  rs.flags.noFeed,
	})
	if err != nil {
		return nil, err
	}
	// Opening the views locked DataDir/views, so no other read side serves builds as known
	// from this data directory: any temporary store of one is left from a killed process.
	removed, err := render.RemoveAsKnownLeftovers(rs.flags.data)
	if len(removed) > 0 {
		rs.log.Info("removed the temporary stores of builds as known that a stopped process left", "dirs", removed)
	}
	if err != nil {
		rs.log.Warn("removing the temporary stores of builds as known that a stopped process left", "err", err)
	}
	if err := views.Start(ctx); err != nil {
		views.Close(context.Background())
		return nil, err
	}
	public := func(h http.Handler) http.Handler { return h }
	if rs.flags.privateReads {
		public = rs.auth.AnyRole
	}
	views.Routes(rs.mux, public)
	views.AdminRoutes(rs.mux, rs.auth.Admin)
	src := checkpointedSource{Views: views, checkpoints: audit.JetStreamSource{JS: rs.node.ReadJS}}
	render.Routes(rs.mux, src, public)
	render.WatchRoutes(rs.mux, rs.node.ReadConn, views.Applied, public)
	render.AsKnownRoutes(rs.mux, rs.node.ReadJS, rs.flags.data, src.provenanceAt, rs.auth.History)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := views.Close(ctx); err != nil {
			rs.log.Error("closing the views", "err", err)
		}
	}, nil
}

// checkpointedSource adds the latest signed checkpoint (tree size and root) to every
// review's provenance, read from COMPACT_CHECKPOINTS so that read replicas have it too.
type checkpointedSource struct {
	*projections.Views
	checkpoints audit.JetStreamSource
}

// Review is the views' review with the latest checkpoint in its provenance. A checkpoint
// that cannot be read leaves the provenance without one (which the rendering states):
// the review itself is served all the same.
func (s checkpointedSource) Review(ctx context.Context, period string) (*projections.Review, error) {
	r, err := s.Views.Review(ctx, period)
	if err != nil {
		return nil, err
	}
	if h, err := s.checkpoints.LatestCheckpoint(ctx); err == nil && h != nil {
		addCheckpoint(&r.Provenance, h)
	}
	return r, nil
}

// provenanceAt adds to a review as known at ledger time at the checkpoint that was the
// latest then, not the latest now: a later one vouches for events the review does not hold.
// Unlike the live review's, a failed read is an error: the rendering would otherwise state
// that no checkpoint had been signed by then.
func (s checkpointedSource) provenanceAt(ctx context.Context, at time.Time, p *projections.Provenance) error {
	h, err := s.checkpoints.CheckpointAt(ctx, at)
	if err != nil {
		return fmt.Errorf("reading the signed checkpoints: %w", err)
	}
	if h != nil {
		addCheckpoint(p, h)
	}
	return nil
}

func addCheckpoint(p *projections.Provenance, h *audit.CheckpointHead) {
	p.CheckpointSize = h.Size
	p.CheckpointRoot = base64.StdEncoding.EncodeToString(h.Root[:])
}

// startCheckpointer runs the checkpointer beside the ingest service: it folds every stored
// message into the Merkle tree and signs checkpoints with the key in the data directory.
//
// The ledger has one signing key. Every ingest process runs a checkpointer, each with a data
// directory of its own, so a second one must be given the first one's key: a key made anew
// would sign checkpoints nobody can verify against the ledger's, and the checkpointer would
// stop on the first one it meets. It is refused at start, with what to copy.
// checkSigningKey refuses an ingest process whose data directory has no signing key when
// the ledger's checkpoints are signed already (a second ingest process on a cluster, its
// key not copied): a key made anew would sign checkpoints that do not verify. serve runs it
// before the ingest side starts (NodeConfig.BeforeIngest), so that the refusal comes at once.
func checkSigningKey(ctx context.Context, js jetstream.JetStream, dataDir string) error {
	if _, err := os.Stat(filepath.Join(dataDir, audit.SignerKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if st, err := js.Stream(ctx, ledger.CheckpointStreamName); err == nil && st.CachedInfo().State.Msgs > 0 {
		return fmt.Errorf("%s holds no signing key, and the ledger's checkpoints (stream %s) are signed already: "+
			"copy %s and %s from the data directory of the ingest process that made them (see 'Roles of a process and a NATS cluster' in the README); "+
			"a new key would sign checkpoints that do not verify against the ledger's",
			dataDir, ledger.CheckpointStreamName, audit.SignerKeyFile, audit.VerifierKeyFile)
	}
	return nil
}

func startCheckpointer(ctx context.Context, rs readSide) (func(), error) {
	keyFile := filepath.Join(rs.flags.data, audit.SignerKeyFile)
	if err := checkSigningKey(ctx, rs.node.ReadJS, rs.flags.data); err != nil {
		return nil, err
	}
	signer, vkey, err := audit.LoadOrCreateKey(rs.flags.data)
	if err != nil {
		return nil, err
	}
	// Whoever reads the signing key can sign checkpoints the ledger's verifier key accepts:
	// one copied with a umask's 0644 is said at every start (not refused, as ssh refuses a
	// key, so that a start never fails on a copy an operator made in a hurry).
	if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		rs.log.Warn("the ledger's signing key can be read by other users of this machine, who could sign checkpoints as the ledger: chmod 600 it",
			"file", keyFile, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	cp, err := audit.Open(ctx, audit.Config{JetStream: rs.node.ReadJS, Dir: filepath.Join(rs.flags.data, "checkpoints"),
		Signer: signer, VerifierKey: vkey, Logger: rs.log.With("component", "checkpointer")})
	if err != nil {
		return nil, err
	}
	if err := cp.Start(ctx); err != nil {
		cp.Close(context.Background())
		return nil, err
	}
	audit.Routes(rs.mux, cp, rs.auth.History)
	rs.reg.MustRegister(cp.Collector())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cp.Close(ctx); err != nil {
			rs.log.Error("closing the checkpointer", "err", err)
		}
	}, nil
}
