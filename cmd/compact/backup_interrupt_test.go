package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// compact backup stopped by a signal while the file arrives says it was interrupted, and
// leaves nothing: it said "the backup is incomplete or damaged", which sends an operator
// looking for what is wrong with the server or its backups. The server here sends the start
// of a backup file and then holds its answer, as one writing a large stream does.
func TestBackupInterruptedSaysSo(t *testing.T) {
	bin := compactBinary(t)
	var start bytes.Buffer
	tw := tar.NewWriter(&start)
	tw.WriteHeader(&tar.Header{Name: "streams/COMPACT_CHECKPOINTS/backup.json", Mode: 0o600, Size: 1 << 20, Typeflag: tar.TypeReg})
	tw.Write(bytes.Repeat([]byte("x"), 4096))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-tar")
		w.Write(start.Bytes())
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()

	dir := t.TempDir()
	cmd := exec.Command(bin, "backup", "-o", filepath.Join(dir, "b.tar"), "--server", srv.URL, "--token", "t")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the partial file", func() bool {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if fi, _ := e.Info(); fi != nil && fi.Size() > 0 {
				return true
			}
		}
		return false
	})
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted") || strings.Contains(stderr.String(), "incomplete or damaged") {
		t.Errorf("backup stopped by SIGINT: %v, %s", err, stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("an interrupted backup left %v", entries)
	}
}
