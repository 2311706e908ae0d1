package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
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

func startReadSide(ctx context.Context, rs readSide) (func(), error) {
	return func() {}, nil
}
