package main

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
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
		JS:           rs.node.JS,
		NC:           rs.node.Conn,
		Logger:       rs.log.With("component", "projections"),
		Registry:     rs.reg,
		FeedReplicas: rs.flags.replicas,
	})
	if err != nil {
		return nil, err
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
	src := checkpointedSource{Views: views, js: rs.node.JS}
	render.Routes(rs.mux, src, public)
	render.WatchRoutes(rs.mux, rs.node.Conn, public)
	render.AsKnownRoutes(rs.mux, rs.node.JS, rs.flags.data, rs.auth.History)
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
	js jetstream.JetStream
}

func (s checkpointedSource) Review(ctx context.Context, period string) (*projections.Review, error) {
	r, err := s.Views.Review(ctx, period)
	if err != nil {
		return nil, err
	}
	st, err := s.js.Stream(ctx, ledger.CheckpointStreamName)
	if err != nil {
		return r, nil
	}
	m, err := st.GetLastMsgForSubject(ctx, ledger.CheckpointSubject)
	if err != nil {
		return r, nil // no checkpoint yet
	}
	body, _, _ := strings.Cut(string(m.Data), "\n\n")
	if _, size, root, err := audit.ParseCheckpointBody(body + "\n"); err == nil {
		r.Provenance.CheckpointSize = size
		r.Provenance.CheckpointRoot = base64.StdEncoding.EncodeToString(root[:])
	}
	return r, nil
}

// startCheckpointer runs the checkpointer beside the ingest service: it folds every stored
// message into the Merkle tree and signs checkpoints with the key in the data directory.
func startCheckpointer(ctx context.Context, rs readSide) (func(), error) {
	signer, vkey, err := audit.LoadOrCreateKey(rs.flags.data)
	if err != nil {
		return nil, err
	}
	cp, err := audit.Open(ctx, audit.Config{JetStream: rs.node.JS, Dir: filepath.Join(rs.flags.data, "checkpoints"),
		Signer: signer, VerifierKey: vkey, Logger: rs.log.With("component", "checkpointer")})
	if err != nil {
		return nil, err
	}
	if err := cp.Start(ctx); err != nil {
		cp.Close(context.Background())
		return nil, err
	}
	audit.Routes(rs.mux, cp, rs.auth.History)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cp.Close(ctx); err != nil {
			rs.log.Error("closing the checkpointer", "err", err)
		}
	}, nil
}
