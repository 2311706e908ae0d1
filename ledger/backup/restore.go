package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"compact/ledger"
	"compact/ledger/audit"
)

// RestoreConfig says where and how Restore restores.
type RestoreConfig struct {
	// DataDir is the new data directory. It must not exist or be empty: a restore never
	// mixes a backup with another ledger.
	DataDir string
	// KeyFile, if set, is the ledger's signing key (a copy of the original ledger.key). It
	// must be the key of the backup's ledger.pub. Without it the restored directory has
	// no signing key, and serve refuses to start until ledger.key is put in it.
	KeyFile string
	// Logger for the embedded server the streams are restored through. Default: nothing.
	Logger *slog.Logger
}

// Restore restores the backup r holds into cfg.DataDir, and returns its manifest.
//
// It checks the whole file first (every entry against the manifest), then restores the
// streams through an embedded server, in-process only, and checks that each one holds the
// messages the manifest says. The data directory is made if it does not exist, or must be
// empty (a volume's mount point is a fine one); all the work happens in a working directory
// inside it (.restoring-*, so on the same file system), whose entries move into the data
// directory at the end. The working directory goes last: while it is there, serve refuses the
// directory, so a restore that fails or is killed never leaves a half-restored ledger that
// serve would start on. The folds of the stream (index, views, Merkle tree) are not in a
// backup: serve builds them from the restored stream.
func Restore(ctx context.Context, r io.Reader, cfg RestoreConfig) (_ *Manifest, err error) {
	dir := filepath.Clean(cfg.DataDir)
	var key []byte
	var keyVerifier string // the verifier key of key
	if cfg.KeyFile != "" {
		if key, err = os.ReadFile(cfg.KeyFile); err != nil {
			return nil, fmt.Errorf("restore: --key: %w", err)
		}
		// Before the file is read: a wrong file (ledger.pub for ledger.key) is refused at once.
		if keyVerifier, err = audit.VerifierKeyOf(key); err != nil {
			return nil, fmt.Errorf("restore: --key %s is not a signing key (a copy of the ledger's %s): %w", cfg.KeyFile, audit.SignerKeyFile, err)
		}
	}
	made, err := makeDir(dir)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer unlock()
	if err := clearForRestore(dir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	tmp := filepath.Join(dir, RestoringPrefix+hex.EncodeToString(suffix))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	moving := false // once entries move into dir, the working directory stays to mark it unfinished
	defer func() {
		if err != nil && !moving {
			os.RemoveAll(tmp)
			if made {
				os.Remove(dir)
			}
		}
	}()
	files := filepath.Join(tmp, ".backup")
	cr := &ctxReader{ctx: ctx, r: r}
	m, err := Check(cr, func(name string, r io.Reader) error {
		return writeFile(filepath.Join(files, filepath.FromSlash(name)), r, 0o600)
	})
	if cr.stopped {
		return nil, fmt.Errorf("restore: %w", context.Cause(ctx)) // the file is not at fault
	}
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	for _, f := range []string{entitiesEntry, verifierKeyFile} {
		if err := os.Rename(filepath.Join(files, f), filepath.Join(tmp, f)); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	if key != nil {
		pub, err := os.ReadFile(filepath.Join(tmp, verifierKeyFile))
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		// Said here, of the files the operator gave: loading the key in the new directory
		// would name files in it, and advise writing ledger.pub again from the wrong key.
		if vkey := strings.TrimSpace(string(pub)); vkey != keyVerifier {
			return nil, fmt.Errorf("restore: --key %s is not the signing key of the backup's ledger: its verifier key is %s, the backup's %s is %s",
				cfg.KeyFile, keyVerifier, verifierKeyFile, vkey)
		}
		if err := writeFile(filepath.Join(tmp, audit.SignerKeyFile), bytes.NewReader(key), 0o600); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	if err := restoreStreams(ctx, tmp, files, m, cfg.Logger); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := os.RemoveAll(files); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := syncTree(tmp); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	// The lock keeps other restores out, not compact entities add or a serve started before
	// the working directory was made: what they wrote meanwhile would be replaced by a rename
	// (files) or mixed with the restored ledger.
	if err := checkOnlyWorkingDir(dir, filepath.Base(tmp)); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	moving = true
	for _, e := range entries {
		to := filepath.Join(dir, e.Name())
		err := renameNoReplace(filepath.Join(tmp, e.Name()), to)
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("restore: %w: %s appeared while the restore moved its entries in (%s marks the restore unfinished: empty %s and restore again)", ErrNotEmpty, to, tmp, dir)
		}
		if err != nil {
			return nil, fmt.Errorf("restore: moving the restored %s into %s: %w (%s marks the restore unfinished: empty %s and restore again)", e.Name(), dir, err, tmp, dir)
		}
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := os.Remove(tmp); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return m, nil
}

// openInProcess starts the embedded server on a ledger's data directory, listening nowhere,
// and connects to it in the ledger's account. With bulk, the server does not sync each write
// (SyncAlways off): a restore writes every message of the streams again, one at a time, and
// syncing each one made a restore as slow as appending the ledger one event at a time (about
// 4,000 events a second here). Nothing it writes is acknowledged to anyone, or visible under
// the data directory's name, before Restore has synced every file (syncTree) and moved them in.
func openInProcess(dataDir, name string, bulk bool, log *slog.Logger) (*ledger.Server, *nats.Conn, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg, err := ledger.OpenRegistry(dataDir)
	if err != nil {
		return nil, nil, err
	}
	srv, err := ledger.StartServer(ledger.ServerConfig{DataDir: dataDir, Host: "127.0.0.1", Port: -1, Registry: reg, Logger: log,
		ConfigureOptions: func(o *server.Options) {
			o.DontListen = true
			if bulk {
				o.SyncAlways = false
			}
		}})
	if err != nil {
		return nil, nil, err
	}
	nc, err := srv.Connect(name)
	if err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	return srv, nc, nil
}

// checkThenRename renames from to to unless something is at to: a file made at to in the
// instant between the check and the rename is replaced, which renameNoReplace avoids where
// the kernel can.
func checkThenRename(from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: os.ErrExist}
	}
	return os.Rename(from, to)
}

// RestoringPrefix starts the name of a restore's working directory inside its data
// directory. While one is there the restore is running, or it failed or was killed before it
// finished: CheckNoUnfinishedRestore refuses the directory.
const RestoringPrefix = ".restoring-"

// CheckNoUnfinishedRestore refuses a data directory that holds a restore's working directory:
// a restore running, or one that did not finish, which may have moved part of a ledger in.
// serve calls it before it opens anything there.
func CheckNoUnfinishedRestore(dataDir string) error {
	// Read, not globbed: a path holding [ or \ is no pattern, and a glob that matched nothing
	// would let serve start on a half-restored directory.
	entries, err := os.ReadDir(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new data directory
	}
	if err != nil {
		return fmt.Errorf("checking %s for an unfinished restore: %w", dataDir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), RestoringPrefix) {
			found := filepath.Join(dataDir, e.Name())
			return fmt.Errorf("%w: %s is the working directory of a restore into %s, running or unfinished: "+
				"let it end, or empty %s and run compact restore again", ErrRestoring, found, dataDir, dataDir)
		}
	}
	// A restore that has taken the directory but not yet made its working directory: its
	// lock says so.
	if d, err := os.Open(dataDir); err == nil {
		defer d.Close()
		if err := syscall.Flock(int(d.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%w: a restore into %s is running: let it end", ErrRestoring, dataDir)
		} else if err == nil {
			syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
		}
	}
	return nil
}

// makeDir makes dir unless it exists, and its parents; made says it made dir. The parents
// stay should the restore fail, as serve makes them for its --data.
func makeDir(dir string) (made bool, err error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return false, err
	}
	err = os.Mkdir(dir, 0o700)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrExist):
		return false, nil
	}
	return false, err
}

// lockDir takes an exclusive lock on dir for the restore, and refuses when another restore
// holds it.
func lockDir(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another restore into %s is running", ErrRestoring, dir)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// clearForRestore checks that dir is empty, but for the working directories of restores that
// were killed before they moved anything in (with the lock held, none runs), which it removes,
// and a file system's lost+found.
func clearForRestore(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var leftovers, others []string
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), RestoringPrefix):
			leftovers = append(leftovers, e.Name())
		case e.Name() == "lost+found" && e.IsDir():
			// an ext file system's own, at the root of a fresh volume: the mount point of one
			// is an empty directory for what a restore needs
		default:
			others = append(others, e.Name())
		}
	}
	switch {
	case len(others) > 0 && len(leftovers) > 0:
		return fmt.Errorf("%w: %s holds %s, a restore that did not finish, beside %s and %d more it may have moved in: empty %s and restore again",
			ErrNotEmpty, dir, leftovers[0], others[0], len(others)-1, dir)
	case len(others) > 0:
		return fmt.Errorf("%w: %s holds %s and %d more: restore into a new or empty directory, then serve with it",
			ErrNotEmpty, dir, others[0], len(others)-1)
	}
	for _, l := range leftovers {
		if err := os.RemoveAll(filepath.Join(dir, l)); err != nil {
			return err
		}
	}
	return nil
}

// checkOnlyWorkingDir checks that dir holds nothing but the restore's working directory work
// (and a file system's lost+found), before the restore moves its entries in.
func checkOnlyWorkingDir(dir, work string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var others []string
	for _, e := range entries {
		if e.Name() != work && !(e.Name() == "lost+found" && e.IsDir()) {
			others = append(others, e.Name())
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("%w: %s appeared in %s while the restore ran (and %d more): nothing was moved in; restore into a new or empty directory",
			ErrNotEmpty, others[0], dir, len(others)-1)
	}
	return nil
}

// syncTree syncs every file and directory under root, so that what moves into the data
// directory at the end is on disk before it appears there.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

// restoreStreams starts an embedded server on dataDir, restores the streams of m from the
// files under files, and stops it.
func restoreStreams(ctx context.Context, dataDir, files string, m *Manifest, log *slog.Logger) error {
	srv, nc, err := openInProcess(dataDir, "compact-restore", true, log)
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	defer nc.Close()
	for _, want := range m.Streams {
		var meta Meta
		b, err := os.ReadFile(filepath.Join(files, filepath.FromSlash(streamEntryName(want.Name, streamMetaFile))))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			return fmt.Errorf("stream %s: %s: %w", want.Name, streamMetaFile, err)
		}
		if meta.Config.Name != want.Name {
			return fmt.Errorf("%w: %s names stream %q", ErrIncomplete, streamEntryName(want.Name, streamMetaFile), meta.Config.Name)
		}
		// The embedded server is one node: the streams of a cluster's ledger (--replicas 3)
		// come back with one replica, or the server would refuse them.
		meta.Config.Replicas = 1
		meta.Config.Placement = nil
		f, err := os.Open(filepath.Join(files, filepath.FromSlash(streamEntryName(want.Name, streamArchive))))
		if err != nil {
			return err
		}
		st, err := restore(ctx, nc, &meta, f)
		f.Close()
		if err != nil {
			return err
		}
		// An empty stream's first seq is 0 when new and last+1 once restored (or purged): no
		// message either way, and the next is last+1.
		if st.Msgs != want.Messages || st.LastSeq != want.LastSeq || (st.FirstSeq != want.FirstSeq && st.Msgs != 0) {
			return fmt.Errorf("stream %s restored with messages %d..%d (%d), the backup holds %d..%d (%d)",
				want.Name, st.FirstSeq, st.LastSeq, st.Msgs, want.FirstSeq, want.LastSeq, want.Messages)
		}
	}
	return nil
}

// ctxReader ends a read of the backup file once ctx ends. Reading, checking and writing out
// the file is most of a restore, and it can be gigabytes from a pipe: a cancelled restore
// stops there rather than after the whole file.
type ctxReader struct {
	ctx     context.Context
	r       io.Reader
	stopped bool // a read was refused because ctx ended
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.stopped = true
		return 0, err
	}
	return c.r.Read(p)
}

// writeFile writes r to path, synced, creating its directory.
func writeFile(path string, r io.Reader, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
