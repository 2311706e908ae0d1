package backup_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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
	backup.Routes(mux, backup.Source{Conn: connect(t, l.srv), DataDir: l.dir}, nil, func(h http.Handler) http.Handler {
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
	// and once it is done, the next is written
	if resp, err := http.Get(srv.URL + "/v1/admin/backup"); err != nil || resp.StatusCode != 200 {
		t.Errorf("a backup after the first: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A NATS server without the ledger's streams: the snapshot fails before anything is written.
	ns := natstest.Start(t)
	nc, _ := natstest.Connect(t, ns)
	bare := http.NewServeMux()
	backup.Routes(bare, backup.Source{Conn: nc, DataDir: t.TempDir()}, nil, func(h http.Handler) http.Handler { return h })
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/admin/backup", nil))
	e.Error.Message = ""
	json.Unmarshal(rec.Body.Bytes(), &e)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(e.Error.Message, "snapshot of stream COMPACT_CHECKPOINTS") {
		t.Errorf("a backup that cannot snapshot: %d %s", rec.Code, rec.Body.String())
	}
}
