package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"compact/ledger"
)

// Format is the version of the backup file this package writes and reads.
const Format = 1

// Names of the entries of a backup file.
const (
	ManifestFile    = "manifest.json"
	streamMetaFile  = "backup.json"   // as `nats stream backup` names it
	streamArchive   = "stream.arc.s2" // the server's snapshot (NATS 2.15's archive format)
	entitiesEntry   = ledger.EntitiesFile
	verifierKeyFile = "ledger.pub"
)

// Streams are the streams a backup holds, in the order they are copied: the checkpoints
// first, so that each one covers events the copy of the ledger stream holds.
var Streams = []string{ledger.CheckpointStreamName, ledger.StreamName}

var (
	// ErrIncomplete: the file ends before its manifest (a copy cut short), or an entry is
	// not the one the manifest describes.
	ErrIncomplete = errors.New("the backup is incomplete or damaged")
	// ErrNotEmpty: a restore's data directory holds something already.
	ErrNotEmpty = errors.New("the data directory is not empty")
	// ErrRestoring: a restore into the data directory is running, or one did not finish.
	ErrRestoring = errors.New("a restore into the data directory is running or did not finish")
)

// Manifest is the last entry of a backup: what it holds, and how to check it.
type Manifest struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	// VerifierKey is the ledger's verifier key (ledger.pub): the key its checkpoints verify
	// with, and the one the restored ledger's signing key must match.
	VerifierKey string        `json:"verifier_key"`
	Streams     []StreamEntry `json:"streams"`
	Files       []FileEntry   `json:"files"`
}

// StreamEntry is one stream of a backup, as the snapshot found it.
type StreamEntry struct {
	Name     string `json:"name"`
	Messages uint64 `json:"messages"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Bytes    uint64 `json:"bytes"`
}

// FileEntry is one entry of the tar before the manifest.
type FileEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func streamEntryName(stream, file string) string { return path.Join("streams", stream, file) }

// entryAllowed says whether name is an entry a backup of this format may hold: a restore
// writes entries under its directory, so a name is never trusted to be a path.
func entryAllowed(name string) bool {
	switch name {
	case ManifestFile, entitiesEntry, verifierKeyFile:
		return true
	}
	for _, s := range Streams {
		if name == streamEntryName(s, streamMetaFile) || name == streamEntryName(s, streamArchive) {
			return true
		}
	}
	return false
}

// tarWriter writes entries and records each one's size and hash for the manifest.
type tarWriter struct {
	tw      *tar.Writer
	created time.Time
	files   []FileEntry
}

func (t *tarWriter) add(name string, size int64, r io.Reader) error {
	if err := t.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: t.created, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(t.tw, h), r)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s: %d bytes, %d expected", name, n, size)
	}
	t.files = append(t.files, FileEntry{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// Check reads a whole backup from r and checks every entry against the manifest at its end.
// It returns the manifest; an error wrapping ErrIncomplete says what is missing or differs.
// visit, if not nil, is called with each entry before the manifest, to read it as it goes
// by (Restore writes them out); it must read r to its end or return an error.
func Check(r io.Reader, visit func(name string, r io.Reader) error) (*Manifest, error) {
	tr := tar.NewReader(r)
	got := map[string]entrySum{}
	var order []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: it ends without its %s (a copy cut short?)", ErrIncomplete, ManifestFile)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrIncomplete, err)
		}
		name := hdr.Name
		if hdr.Typeflag != tar.TypeReg || !entryAllowed(name) {
			return nil, fmt.Errorf("%w: an entry %q that a backup of format %d does not hold", ErrIncomplete, name, Format)
		}
		if _, dup := got[name]; dup {
			return nil, fmt.Errorf("%w: entry %q twice", ErrIncomplete, name)
		}
		if name == ManifestFile {
			m, err := readManifest(tr)
			if err != nil {
				return nil, err
			}
			if err := m.matches(got, order); err != nil {
				return nil, err
			}
			if _, err := tr.Next(); !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: entries after the manifest", ErrIncomplete)
			}
			return m, nil
		}
		h := sha256.New()
		body := &countingReader{r: io.TeeReader(tr, h)}
		if visit != nil {
			err = visit(name, body)
		} else {
			_, err = io.Copy(io.Discard, body)
		}
		if body.err != nil { // the file, not what visit did with it
			return nil, fmt.Errorf("%w: entry %q: %v", ErrIncomplete, name, body.err)
		}
		if err != nil {
			return nil, err
		}
		if body.n != hdr.Size {
			return nil, fmt.Errorf("%w: entry %q: %d bytes read of %d", ErrIncomplete, name, body.n, hdr.Size)
		}
		got[name] = entrySum{size: hdr.Size, sum: hex.EncodeToString(h.Sum(nil))}
		order = append(order, name)
	}
}

// entrySum is an entry as read: its size and SHA-256 (hex).
type entrySum struct {
	size int64
	sum  string
}

func readManifest(r io.Reader) (*Manifest, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrIncomplete, ManifestFile, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrIncomplete, ManifestFile, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%s: format %d, this build reads format %d", ManifestFile, m.Format, Format)
	}
	return &m, nil
}

// matches checks that the entries read are the manifest's, in its order, with its sizes and
// sums, and that it lists every stream and file a backup holds.
func (m *Manifest) matches(got map[string]entrySum, order []string) error {
	if len(m.Files) != len(order) {
		return fmt.Errorf("%w: the manifest lists %d entries, the file holds %d", ErrIncomplete, len(m.Files), len(order))
	}
	for i, f := range m.Files {
		g, ok := got[f.Name]
		switch {
		case !ok || order[i] != f.Name:
			return fmt.Errorf("%w: the manifest's entry %d is %q, the file's %q", ErrIncomplete, i+1, f.Name, order[i])
		case g.size != f.Size || g.sum != f.SHA256:
			return fmt.Errorf("%w: entry %q is not the one the manifest describes (size %d, SHA-256 %s; the manifest says %d, %s)",
				ErrIncomplete, f.Name, g.size, g.sum, f.Size, f.SHA256)
		}
	}
	var want []string
	for _, s := range Streams {
		want = append(want, streamEntryName(s, streamMetaFile), streamEntryName(s, streamArchive))
	}
	want = append(want, entitiesEntry, verifierKeyFile)
	for _, name := range want {
		if _, ok := got[name]; !ok {
			return fmt.Errorf("%w: no %s", ErrIncomplete, name)
		}
	}
	if len(m.Streams) != len(Streams) {
		return fmt.Errorf("%w: the manifest describes %d streams, want %s", ErrIncomplete, len(m.Streams), strings.Join(Streams, " and "))
	}
	for i, s := range m.Streams {
		if s.Name != Streams[i] {
			return fmt.Errorf("%w: the manifest's stream %d is %q, want %q", ErrIncomplete, i+1, s.Name, Streams[i])
		}
	}
	return nil
}

// countingReader counts what it reads and keeps the error reading failed with, other
// than the entry's end.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		c.err = err
	}
	return n, err
}
