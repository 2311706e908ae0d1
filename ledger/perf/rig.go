package perf

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"compact/ledger"
	"compact/projections"
	"compact/projections/render"
)

// rig is a whole ledger for a measurement: a node (embedded server with SyncAlways,
// per-entity accounts, the ingest service) with the publisher UNODC and an auditor, the
// publisher's connections, and — withViews — the views and the HTTP API in front of them.
type rig struct {
	node  *ledger.Node
	views *projections.Views // nil without views
	srv   *httptest.Server   // nil without views
	conns []*nats.Conn
	aud   *ledger.Credentials
}

func newRig(ctx context.Context, dir string, publishers int, withViews bool) (r *rig, err error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub, err := ledger.AddEntity(ctx, dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher)
	if err != nil {
		return nil, err
	}
	aud, err := ledger.AddEntity(ctx, dir, "AUDITOR", "Auditor", ledger.RoleAuditor)
	if err != nil {
		return nil, err
	}
	r = &rig{aud: aud}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.node, err = ledger.StartNode(ctx, ledger.NodeConfig{DataDir: dir, Listen: "127.0.0.1:-1", Ingest: true, Logger: quiet}); err != nil {
		return nil, err
	}
	if r.conns, err = entityConns(r.node.ClientURL(), pub.NKeySeed, publishers); err != nil {
		return nil, err
	}
	if !withViews {
		return r, nil
	}
	if r.views, err = projections.Open(ctx, projections.Config{Dir: filepath.Join(dir, "views"), JS: r.node.ReadJS, NC: r.node.ReadConn}); err != nil {
		return nil, err
	}
	if err = r.views.Start(ctx); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	r.views.Routes(mux, nil)
	render.Routes(mux, r.views, nil)
	(&ledger.HTTPHandlers{Ingester: r.node.Ingester, Auth: &ledger.Auth{Registry: r.node.Registry}, JS: r.node.JS, Logger: quiet}).Routes(mux)
	r.srv = httptest.NewServer(mux)
	return r, nil
}

// lastSeq is the ledger stream's last sequence.
func (r *rig) lastSeq(ctx context.Context) (uint64, error) {
	st, err := r.node.JS.Stream(ctx, ledger.StreamName)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// Close stops everything the rig started; a second Close does nothing.
func (r *rig) Close() {
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
	if r.views != nil {
		r.views.Close(context.Background())
		r.views = nil
	}
	for _, nc := range r.conns {
		nc.Close()
	}
	r.conns = nil
	if r.node != nil {
		r.node.Close(context.Background())
		r.node = nil
	}
}
