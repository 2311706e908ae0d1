package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// TempPrefix starts the name of the directory a backup keeps its snapshots in, in the data
// directory, while it writes them out; serve removes one a killed process left.
const TempPrefix = ".backup-"

// Source is the running ledger a backup copies.
type Source struct {
	// Conn is a connection in the ledger's account: the ingest process's own.
	Conn *nats.Conn
	// DataDir is the ingest process's data directory: entities.json and ledger.pub are read
	// from it, and each stream's snapshot waits in a temporary directory in it until it is
	// written out (a tar entry gives its size first).
	DataDir string
	// Now is the clock for the manifest. Default time.Now.
	Now func() time.Time
}

// Write copies the ledger into w as a backup file (the package's doc describes it) and
// returns its manifest. An error leaves w without a manifest, which Check and Restore refuse.
func Write(ctx context.Context, src Source, w io.Writer) (*Manifest, error) {
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	created := now().UTC().Truncate(time.Second)
	tmp, err := os.MkdirTemp(src.DataDir, TempPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("backup: a place for the snapshots: %w", err)
	}
	defer os.RemoveAll(tmp)
	t := &tarWriter{tw: tar.NewWriter(w), created: created}
	m := &Manifest{Format: Format, Created: created}
	for _, name := range Streams {
		meta, err := snapshotStream(ctx, src.Conn, name, tmp, t)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		st := meta.State
		m.Streams = append(m.Streams, StreamEntry{Name: name, Messages: st.Msgs, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, Bytes: st.Bytes})
	}
	// Read after the streams: an entity added meanwhile is in the file, so every source
	// the copied events name is.
	for _, f := range []string{entitiesEntry, verifierKeyFile} {
		b, err := os.ReadFile(filepath.Join(src.DataDir, f))
		if err != nil {
			return nil, fmt.Errorf("backup: %w (is %s the data directory of the ingest process?)", err, src.DataDir)
		}
		if err := t.add(f, int64(len(b)), bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		if f == verifierKeyFile {
			m.VerifierKey = strings.TrimSpace(string(b))
		}
	}
	m.Files = t.files
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := t.tw.WriteHeader(&tar.Header{Name: ManifestFile, Mode: 0o600, Size: int64(len(b)), ModTime: created, Typeflag: tar.TypeReg}); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if _, err := t.tw.Write(b); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := t.tw.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// snapshotStream snapshots one stream into dir and adds its two entries to t.
func snapshotStream(ctx context.Context, nc *nats.Conn, name, dir string, t *tarWriter) (*Meta, error) {
	f, err := os.Create(filepath.Join(dir, name+".s2"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	meta, err := snapshot(ctx, nc, name, f)
	if err != nil {
		return nil, err
	}
	mb, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := t.add(streamEntryName(name, streamMetaFile), int64(len(mb)), bytes.NewReader(mb)); err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if err := t.add(streamEntryName(name, streamArchive), size, f); err != nil {
		return nil, err
	}
	return meta, nil
}

// RemoveLeftovers removes the temporary directories of backups that a killed process left
// in dataDir, and returns their names. Call it only when no backup can be running on
// dataDir: at the start of the ingest process, which alone writes them.
func RemoveLeftovers(dataDir string) ([]string, error) {
	// Read, not globbed: dataDir is a path, and one holding [ or ? is no pattern (it matched
	// nothing, or the copies of a backup running into another directory).
	entries, err := os.ReadDir(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), TempPrefix) {
			continue
		}
		m := filepath.Join(dataDir, e.Name())
		if err := os.RemoveAll(m); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, filepath.Base(m))
	}
	return removed, errors.Join(errs...)
}
