package backup_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"compact/ledger/backup"
)

// rewrite rewrites the entries of a backup with f (name, body) -> body, and its manifest to match.
func rewrite(t *testing.T, b []byte, f func(name string, body []byte) []byte) []byte {
	tr := tar.NewReader(bytes.NewReader(b))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	var files []backup.FileEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		body, _ := io.ReadAll(tr)
		if h.Name == backup.ManifestFile {
			var m backup.Manifest
			json.Unmarshal(body, &m)
			m.Files = files
			body, _ = json.Marshal(m)
		} else {
			body = f(h.Name, body)
			s := sha256.Sum256(body)
			files = append(files, backup.FileEntry{Name: h.Name, Size: int64(len(body)), SHA256: hex.EncodeToString(s[:])})
		}
		h.Size = int64(len(body))
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	return out.Bytes()
}

func TestScratchReplicas(t *testing.T) {
	l := newLedger(t, 10)
	var file bytes.Buffer
	if _, err := backup.Write(t.Context(), backup.Source{Conn: connect(t, l.srv), DataDir: l.dir}, &file); err != nil {
		t.Fatal(err)
	}
	b := rewrite(t, file.Bytes(), func(name string, body []byte) []byte {
		if strings.HasSuffix(name, "backup.json") {
			var m map[string]any
			json.Unmarshal(body, &m)
			m["config"].(map[string]any)["num_replicas"] = 3
			body, _ = json.Marshal(m)
		}
		return body
	})
	_, err := backup.Restore(t.Context(), bytes.NewReader(b), backup.RestoreConfig{DataDir: filepath.Join(t.TempDir(), "r")})
	t.Log(err)
}
