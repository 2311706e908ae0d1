package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
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
	render.Routes(rs.mux, views, public)
	render.WatchRoutes(rs.mux, rs.node.Conn, public)
	render.AsKnownRoutes(rs.mux, rs.node.JS, rs.flags.data, rs.auth.History)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		views.Close(ctx)
	}, nil
}
