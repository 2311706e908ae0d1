package audit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gauge reads a gauge without labels from reg; found is false when it is absent.
func gauge(t *testing.T, reg *prometheus.Registry, name string) (v float64, found bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

type checkpointerMetrics struct{ up, signed, signedAt, folded, lag float64 }

func readCheckpointerMetrics(t *testing.T, reg *prometheus.Registry) checkpointerMetrics {
	t.Helper()
	var m checkpointerMetrics
	for name, p := range map[string]*float64{
		"compact_checkpointer_up":                       &m.up,
		"compact_checkpointer_signed_tree_size":         &m.signed,
		"compact_checkpointer_signed_timestamp_seconds": &m.signedAt,
		"compact_checkpointer_folded_tree_size":         &m.folded,
		"compact_checkpointer_lag_events":               &m.lag,
	} {
		v, ok := gauge(t, reg, name)
		if !ok {
			t.Fatalf("%s not gathered", name)
		}
		*p = v
	}
	return m
}

// The checkpointer's metrics follow its work: the signed size and its time move with each
// checkpoint, the lag counts what the stream holds past the latest one, a reopened
// checkpointer knows the latest checkpoint's time from the stream, and up says whether the
// loop runs.
func TestCheckpointerMetrics(t *testing.T) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	pdir := t.TempDir()
	publish(t, e.js, seqs(1, 5)...)
	// Every 1000 and an hour's interval: no checkpoint but those Flush asks for.
	c, err := Open(context.Background(), Config{JetStream: e.js, Dir: pdir, Signer: signer, VerifierKey: vkey, Every: 1000, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collector())
	if m := readCheckpointerMetrics(t, reg); m != (checkpointerMetrics{lag: 5}) {
		t.Errorf("opened, not started: %+v, want down, nothing signed, lag 5", m)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	m := readCheckpointerMetrics(t, reg)
	if m.up != 1 || m.signed != 5 || m.folded != 5 || m.lag != 0 || m.signedAt == 0 {
		t.Errorf("after a checkpoint of 5: %+v, want up, signed 5, folded 5, lag 0, a signing time", m)
	}
	first := m.signedAt

	publish(t, e.js, seqs(6, 8)...)
	if m := readCheckpointerMetrics(t, reg); m.signed != 5 || m.lag != 3 || m.signedAt != first {
		t.Errorf("3 more stored, not yet signed: %+v, want signed 5, lag 3, the same signing time", m)
	}
	flush(t, c)
	m = readCheckpointerMetrics(t, reg)
	if m.signed != 8 || m.folded != 8 || m.lag != 0 || m.signedAt < first {
		t.Errorf("after a checkpoint of 8: %+v, want signed 8, lag 0, signed at or after %v", m, first)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := readCheckpointerMetrics(t, reg); m.up != 0 {
		t.Errorf("closed: up %v, want 0", m.up)
	}

	// Reopened, it reads the latest checkpoint and its time from the checkpoint stream.
	c2, err := Open(context.Background(), Config{JetStream: e.js, Dir: pdir, Signer: signer, VerifierKey: vkey, Every: 1000, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(context.Background())
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(c2.Collector())
	if m := readCheckpointerMetrics(t, reg2); m.signed != 8 || m.lag != 0 || m.signedAt == 0 {
		t.Errorf("reopened: %+v, want signed 8 with the stream's time of it, lag 0", m)
	}
}

// A checkpointer stopped on an error (a signed checkpoint its tree contradicts) is down.
func TestCheckpointerMetricsStoppedOnError(t *testing.T) {
	ctx := ctxT(t)
	f := newForgeEnv(t)
	publish(t, f.js, 11, 12)
	cp, _ := SignCheckpoint("compact-ledger/COMPACT", 12, randomHash(t), f.signer)
	f.publishNote(t, cp.Note, nil)
	c, err := f.reopen(t)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collector())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Flush(ctx); !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("flush: %v, want the fork refused", err)
	}
	if m := readCheckpointerMetrics(t, reg); m.up != 0 || m.signed != 12 || m.lag != 0 {
		t.Errorf("stopped on the fork: %+v, want down (the forged checkpoint of 12 as the latest)", m)
	}
}
