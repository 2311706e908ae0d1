package backup_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"compact/ledger"
	"compact/ledger/backup"
	"compact/ledger/natstest"
)

// holdingWriter holds a response's first write until release is closed.
type holdingWriter struct {
	http.ResponseWriter
	once    sync.Once
	writing chan<- struct{}
	release <-chan struct{}
}

func (w *holdingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		w.writing <- struct{}{}
		<-w.release
	})
	return w.ResponseWriter.Write(p)
}

// GET /v1/admin/backup answers the backup file; a second one asked while the first is
// written is a 503 with Retry-After (each holds a copy of the streams on disk), and one that
// fails before its first byte is an error answer, not a tar cut short.
func TestBackupEndpoint(t *testing.T) {
	l := newLedger(t, 8)
	writing, release := make(chan struct{}, 1), make(chan struct{})
	mux := http.NewServeMux()
	reg := prometheus.NewRegistry()
	backup.Routes(mux, backup.Source{Conn: connect(t, l.srv), DataDir: l.dir}, backup.HandlerConfig{Registerer: reg}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Hold") != "" {
				w = &holdingWriter{ResponseWriter: w, writing: writing, release: release}
			}
			h.ServeHTTP(w, r)
		})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	type answer struct {
		resp *http.Response
		body []byte
		err  error
	}
	held := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/admin/backup", nil)
		req.Header.Set("X-Hold", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		held <- answer{resp, b, err}
	}()
	<-writing
	resp, err := http.Get(srv.URL + "/v1/admin/backup")
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error struct{ Message string } }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(e.Error.Message, "a backup is being written") {
		t.Errorf("a second backup meanwhile: %d %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), e)
	}
	close(release)
	a := <-held
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.resp.StatusCode != 200 || a.resp.Header.Get("Content-Type") != "application/x-tar" || !strings.Contains(a.resp.Header.Get("Content-Disposition"), "compact-backup-") {
		t.Errorf("the backup's answer: %d %v", a.resp.StatusCode, a.resp.Header)
	}
	if m, err := backup.Check(bytes.NewReader(a.body), nil); err != nil || m.Streams[1].LastSeq != 8 {
		t.Errorf("the backup answered: %+v %v", m, err)
	}
	// and once it is done, the next is written (read to its end: the answer ends once the
	// handler has counted it)
	if resp, err := http.Get(srv.URL + "/v1/admin/backup"); err != nil || resp.StatusCode != 200 {
		t.Errorf("a backup after the first: %v %v", resp, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := backup.Check(bytes.NewReader(b), nil); err != nil {
			t.Errorf("the second backup: %v", err)
		}
	}

	for name, want := range map[string]float64{`compact_backups_total{result="ok"}`: 2, `compact_backups_total{result="busy"}`: 1, `compact_backups_total{result="failed"}`: 0} {
		if got := metricValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := metricValue(t, reg, "compact_backup_last_bytes"); got < 1000 {
		t.Errorf("compact_backup_last_bytes = %v", got)
	}
	if got := metricValue(t, reg, "compact_backup_last_success_timestamp_seconds"); got == 0 {
		t.Error("compact_backup_last_success_timestamp_seconds is 0 after a backup")
	}

	// A NATS server without the ledger's streams: the snapshot fails before anything is written.
	ns := natstest.Start(t)
	nc, _ := natstest.Connect(t, ns)
	bare := http.NewServeMux()
	bareReg := prometheus.NewRegistry()
	backup.Routes(bare, backup.Source{Conn: nc, DataDir: t.TempDir()}, backup.HandlerConfig{Registerer: bareReg}, func(h http.Handler) http.Handler { return h })
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/admin/backup", nil))
	e.Error.Message = ""
	json.Unmarshal(rec.Body.Bytes(), &e)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(e.Error.Message, "snapshot of stream COMPACT_CHECKPOINTS") {
		t.Errorf("a backup that cannot snapshot: %d %s", rec.Code, rec.Body.String())
	}
	if got := metricValue(t, bareReg, `compact_backups_total{result="failed"}`); got != 1 {
		t.Errorf(`compact_backups_total{result="failed"} = %v after a failed backup`, got)
	}
}

// metricValue reads one sample of reg by its name and labels, as the exposition writes them.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			id := mf.GetName()
			if len(m.GetLabel()) > 0 {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				id += "{" + strings.Join(ls, ",") + "}"
			}
			if id != name {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A backup that fails once its answer has begun (here: the checkpoints are copied, the events'
// stream is not there) cannot change its status: the file ends without its manifest, and the
// Compact-Backup-Error trailer says why, which compact backup prints.
func TestBackupFailingHalfWaySaysWhyInATrailer(t *testing.T) {
	ns := natstest.Start(t)
	nc, js := natstest.Connect(t, ns)
	if _, err := js.CreateStream(t.Context(), ledger.CheckpointStreamConfig(ledger.StreamOptions{})); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	backup.Routes(mux, backup.Source{Conn: nc, DataDir: t.TempDir()}, backup.HandlerConfig{}, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/admin/backup")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: the failure was to come after the first byte", resp.StatusCode)
	}
	_, _, err = backup.Save(resp.Body, filepath.Join(t.TempDir(), "b.tar"))
	io.Copy(io.Discard, resp.Body)
	if !errors.Is(err, backup.ErrIncomplete) {
		t.Errorf("Save of a backup cut short: %v", err)
	}
	if why := resp.Trailer.Get(backup.ErrorTrailer); !strings.Contains(why, "snapshot of stream COMPACT") {
		t.Errorf("trailer %s = %q, want the snapshot's failure", backup.ErrorTrailer, why)
	}
}
