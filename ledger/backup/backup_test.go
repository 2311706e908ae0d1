package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/audit"
	"compact/ledger/backup"
)

// ledgerDir is a ledger as serve keeps it: the embedded server on dir with the entities'
// accounts, the contract's streams, n events, a signing key and signed checkpoints.
type ledgerDir struct {
	dir   string
	srv   *ledger.Server
	js    jetstream.JetStream
	vkey  string
	ck    *audit.Checkpointer
	title string // of its events: "Workshop" and their number
}

func newLedger(t testing.TB, n int) *ledgerDir {
	t.Helper()
	return newLedgerFrom(t, n, "", "Workshop")
}

// newLedgerFrom is newLedger with the signing key of the ledger in keyDir ("": a key of its
// own) and its events titled title.
func newLedgerFrom(t testing.TB, n int, keyDir, title string) *ledgerDir {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	if keyDir != "" {
		for _, f := range []string{audit.SignerKeyFile, audit.VerifierKeyFile} {
			b, err := os.ReadFile(filepath.Join(keyDir, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, f), b, 0o600)
		}
	}
	if _, err := ledger.AddEntity(ctx, dir, "UNODC", "United Nations Office on Drugs and Crime", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, dir)
	js, _ := jetstream.New(connect(t, srv))
	if err := ledger.EnsureStreams(ctx, js, ledger.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	ck, vkey := startCheckpointer(t, js, dir)
	l := &ledgerDir{dir: dir, srv: srv, js: js, vkey: vkey, ck: ck, title: title}
	for i := range n {
		l.publish(t, i)
		if i%7 == 6 { // a checkpoint now and then, as the checkpointer's interval makes them
			if _, err := ck.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return l
}

// startCheckpointer starts a checkpointer with the key in dir (made there if there is none),
// which checkpoints when flushed; it stops when the test ends.
func startCheckpointer(t testing.TB, js jetstream.JetStream, dir string) (*audit.Checkpointer, string) {
	t.Helper()
	signer, vkey, err := audit.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := audit.Open(t.Context(), audit.Config{JetStream: js, Dir: filepath.Join(dir, "checkpoints"), Signer: signer, VerifierKey: vkey, Every: 1 << 30, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := ck.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close(context.Background()) })
	return ck, vkey
}

// openRestored starts the embedded server on a restored data directory, as serve would, and
// returns a JetStream handle in the ledger's account; the server stops when the test ends.
func openRestored(t testing.TB, dir string) jetstream.JetStream {
	t.Helper()
	js, _ := jetstream.New(connect(t, startServer(t, dir)))
	return js
}

// startServer starts the embedded server on the data directory dir, with its entities'
// accounts; it stops when the test ends.
func startServer(t testing.TB, dir string) *ledger.Server {
	t.Helper()
	reg, err := ledger.OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ledger.StartServer(ledger.ServerConfig{DataDir: dir, Host: "127.0.0.1", Port: -1, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// backupOf is l's backup file, written now.
func backupOf(t testing.TB, l *ledgerDir) []byte {
	t.Helper()
	var file bytes.Buffer
	if _, err := backup.Write(t.Context(), backup.Source{Conn: connect(t, l.srv), DataDir: l.dir}, &file); err != nil {
		t.Fatal(err)
	}
	return file.Bytes()
}

// connect is a connection in the ledger's account, closed at the end of the test.
func connect(t testing.TB, srv *ledger.Server) *nats.Conn {
	t.Helper()
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func (l *ledgerDir) publish(t testing.TB, i int) {
	t.Helper()
	subj, body := l.event(i)
	if _, err := l.js.Publish(t.Context(), subj, body); err != nil {
		t.Fatal(err)
	}
}

// event is the i-th event of the ledger: its subject and body.
func (l *ledgerDir) event(i int) (string, []byte) {
	ev := ledger.Event{SpecVersion: "1.0", ID: fmt.Sprintf("w-%04d", i), Source: ledger.SourcePrefix + "UNODC",
		Type: "compact.training.delivered", Time: "2025-05-07T10:00:00Z",
		Data: json.RawMessage(fmt.Sprintf(`{"title":"%s %d","start":"2025-05-06","format":"workshop","organizers":[{"entity":"UNODC"}]}`, l.title, i))}
	body, _ := json.Marshal(&ev)
	return ev.Subject(), body
}

// messages reads every message of a stream: sequence, subject, headers, data and ledger time.
func messages(t *testing.T, js jetstream.JetStream, stream string) []string {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %s %v %s %s", m.Sequence, m.Subject, m.Header, m.Data, m.Time.UTC().Format(time.RFC3339Nano)))
	}
	return out
}

// A backup restored into a new directory is the same ledger: every message of both streams
// byte for byte (sequence, headers, ledger time), the entities, the verifier key; with the
// signing key given back, the checkpoints verify and the ledger signs on.
func TestBackupRestoresTheSameLedger(t *testing.T) {
	l := newLedger(t, 40)
	var buf bytes.Buffer
	m, err := backup.Write(t.Context(), backup.Source{Conn: connect(t, l.srv), DataDir: l.dir}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	if m.Streams[1].Name != ledger.StreamName || m.Streams[1].LastSeq != 40 || m.Streams[0].Messages == 0 || m.VerifierKey != l.vkey {
		t.Fatalf("manifest %+v", m)
	}
	if left, _ := filepath.Glob(filepath.Join(l.dir, backup.TempPrefix+"*")); len(left) != 0 {
		t.Errorf("the backup left %v", left)
	}
	checked, err := backup.Check(bytes.NewReader(file), nil)
	if err != nil || checked.Created != m.Created {
		t.Fatalf("Check: %+v %v", checked, err)
	}

	to := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(t.Context(), bytes.NewReader(file), backup.RestoreConfig{DataDir: to, KeyFile: filepath.Join(l.dir, audit.SignerKeyFile)}); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(to, backup.RestoringPrefix+"*")); len(left) != 0 {
		t.Errorf("the restore left %v", left)
	}
	for _, f := range []string{ledger.EntitiesFile, audit.VerifierKeyFile, audit.SignerKeyFile} {
		a, _ := os.ReadFile(filepath.Join(l.dir, f))
		b, err := os.ReadFile(filepath.Join(to, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s restored as %q (%v), was %q", f, b, err, a)
		}
	}
	js := openRestored(t, to)
	for _, s := range backup.Streams {
		was, is := messages(t, l.js, s), messages(t, js, s)
		if strings.Join(was, "\n") != strings.Join(is, "\n") || len(is) == 0 {
			t.Errorf("stream %s: restored %d messages, want the %d backed up, the same", s, len(is), len(was))
		}
	}
	rep, err := audit.Verify(t.Context(), js, l.vkey, audit.VerifyOptions{})
	if err != nil || rep.Verified != 35 {
		t.Fatalf("verify of the restored ledger: %v %+v", err, rep)
	}
	// The restored ledger signs on: its checkpointer takes the restored checkpoints as its own.
	ck, _ := startCheckpointer(t, js, to)
	if cp, err := ck.Flush(t.Context()); err != nil || cp.Size != 40 {
		t.Fatalf("a checkpoint after the restore: %+v %v", cp, err)
	}
}

// A file cut anywhere, or changed in any byte of an entry, is refused, and the restore
// leaves nothing behind; a restore never goes into a directory that holds anything.
func TestRestoreRefusesWhatIsNotABackup(t *testing.T) {
	l := newLedger(t, 10)
	file := backupOf(t, l)
	b := file
	parent := t.TempDir()
	refused := func(name string, r io.Reader, cfg backup.RestoreConfig, want error, says string) {
		t.Helper()
		given := cfg.DataDir != ""
		if !given {
			cfg.DataDir = filepath.Join(parent, name)
		}
		_, err := backup.Restore(t.Context(), r, cfg)
		if err == nil || (want != nil && !errors.Is(err, want)) || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v, want %v saying %q", name, err, want, says)
		}
		// a directory the restore made is gone; one it was given is as it was
		if !given {
			if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: a refused restore left its directory: %v", name, err)
			}
		} else if left, _ := filepath.Glob(filepath.Join(cfg.DataDir, backup.RestoringPrefix+"*")); len(left) != 0 {
			t.Errorf("%s: left %v", name, left)
		}
	}
	// cut in the first header, in the archives, in an entry's header, inside the manifest
	for _, cut := range []int{0, 100, len(b) / 3, len(b) / 2, bytes.Index(b, []byte(ledger.EntitiesFile)) + 10, bytes.LastIndex(b, []byte(`"files"`))} {
		refused(fmt.Sprintf("cut-at-%d", cut), bytes.NewReader(b[:cut]), backup.RestoreConfig{}, backup.ErrIncomplete, "")
	}
	// one byte changed inside the events' archive (after its tar header)
	i := bytes.Index(b, []byte("streams/COMPACT/stream.arc.s2")) + 512 + 100
	bad := bytes.Clone(b)
	bad[i] ^= 0x55
	refused("changed", bytes.NewReader(bad), backup.RestoreConfig{}, backup.ErrIncomplete, "is not the one the manifest describes")

	full := filepath.Join(parent, "full")
	os.MkdirAll(full, 0o700)
	os.WriteFile(filepath.Join(full, "something"), []byte("x"), 0o600)
	refused("full", bytes.NewReader(b), backup.RestoreConfig{DataDir: full}, backup.ErrNotEmpty, "something")

	// a signing key that is not the ledger's
	other := t.TempDir()
	if _, _, err := audit.LoadOrCreateKey(other); err != nil {
		t.Fatal(err)
	}
	refused("wrong-key", bytes.NewReader(b), backup.RestoreConfig{KeyFile: filepath.Join(other, audit.SignerKeyFile)}, nil, "is not the signing key of the backup's ledger")

	// An empty directory is a place to restore into (a volume's mount point, lost+found and
	// all: the restore works inside it, and never replaces it), through a symbolic link too.
	empty := filepath.Join(parent, "empty")
	os.MkdirAll(filepath.Join(empty, "lost+found"), 0o700) // as at the root of a fresh ext4 volume
	link := filepath.Join(parent, "link")
	if err := os.Symlink(empty, link); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(t.Context(), bytes.NewReader(b), backup.RestoreConfig{DataDir: link}); err != nil {
		t.Fatalf("into an empty directory: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link the restore was given is no longer one: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(empty, ledger.EntitiesFile)); err != nil {
		t.Errorf("the restore is not in the directory the link names: %v", err)
	}
	if err := backup.CheckNoUnfinishedRestore(empty); err != nil {
		t.Errorf("a finished restore: %v", err)
	}
}

// A restore that did not finish is never taken for a ledger: its working directory stays in
// the data directory, serve refuses the directory while it is there, and the next restore
// removes it when nothing was moved in yet, or asks for the directory to be emptied.
func TestAnUnfinishedRestore(t *testing.T) {
	l := newLedger(t, 3)
	file := backupOf(t, l)
	dir := t.TempDir()
	left := filepath.Join(dir, backup.RestoringPrefix+"0badf00d")
	os.MkdirAll(filepath.Join(left, "nats"), 0o700)
	if err := backup.CheckNoUnfinishedRestore(dir); !errors.Is(err, backup.ErrRestoring) || !strings.Contains(err.Error(), left) {
		t.Errorf("a directory holding a restore's working directory: %v", err)
	}
	// killed after it moved part of the ledger in: the directory must be emptied
	os.WriteFile(filepath.Join(dir, ledger.EntitiesFile), []byte("{}"), 0o600)
	if _, err := backup.Restore(t.Context(), bytes.NewReader(file), backup.RestoreConfig{DataDir: dir}); !errors.Is(err, backup.ErrNotEmpty) || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("restore beside a restore that moved a file in: %v", err)
	}
	// killed before it moved anything: the working directory is its only trace, and goes
	os.Remove(filepath.Join(dir, ledger.EntitiesFile))
	if _, err := backup.Restore(t.Context(), bytes.NewReader(file), backup.RestoreConfig{DataDir: dir}); err != nil {
		t.Fatalf("restore beside a killed one's working directory: %v", err)
	}
	if err := backup.CheckNoUnfinishedRestore(dir); err != nil {
		t.Errorf("after the restore: %v", err)
	}
}

// A backup taken while events are being stored and checkpointed is consistent: every
// checkpoint in it covers events that are in it (the checkpoints are copied first), so the
// restored ledger verifies.
func TestBackupWhileWriting(t *testing.T) {
	l := newLedger(t, 20)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1000; ctx.Err() == nil; i++ {
			ev := ledger.Event{SpecVersion: "1.0", ID: fmt.Sprintf("w-%04d", i), Source: ledger.SourcePrefix + "UNODC",
				Type: "compact.training.delivered", Time: "2025-05-07T10:00:00Z",
				Data: json.RawMessage(`{"title":"Workshop","start":"2025-05-06","format":"workshop","organizers":[{"entity":"UNODC"}]}`)}
			body, _ := json.Marshal(&ev)
			if _, err := l.js.Publish(ctx, ev.Subject(), body); err != nil {
				return
			}
			if _, err := l.ck.Flush(ctx); err != nil { // a checkpoint of every new size
				return
			}
		}
	}()
	var file bytes.Buffer
	m, err := backup.Write(t.Context(), backup.Source{Conn: connect(t, l.srv), DataDir: l.dir}, &file)
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(t.Context(), &file, backup.RestoreConfig{DataDir: to}); err != nil {
		t.Fatal(err)
	}
	js := openRestored(t, to)
	var events uint64
	for _, s := range m.Streams {
		if s.Name == ledger.StreamName {
			events = s.LastSeq
		}
	}
	rep, err := audit.Verify(t.Context(), js, l.vkey, audit.VerifyOptions{})
	if err != nil || rep.Messages != events {
		t.Fatalf("verify of a backup taken while writing: %v %+v (the backup holds %d events)", err, rep, events)
	}
}

// Save puts a backup under its name only once it is whole and checked, and never replaces a
// file: a body cut short leaves nothing, not even its temporary file.
func TestSaveOnlyAWholeBackup(t *testing.T) {
	l := newLedger(t, 5)
	file := backupOf(t, l)
	dir := t.TempDir()
	path := filepath.Join(dir, "b.tar")
	if _, _, err := backup.Save(bytes.NewReader(file[:len(file)/2]), path); !errors.Is(err, backup.ErrIncomplete) {
		t.Errorf("half a backup: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("half a backup left %v", entries)
	}
	savesOnce(t, file, path)
}

// savesOnce checks that Save puts the backup file at path, alone in its directory, and then
// refuses to save over it.
func savesOnce(t *testing.T, file []byte, path string) {
	t.Helper()
	m, n, err := backup.Save(bytes.NewReader(file), path)
	if err != nil || n != int64(len(file)) || m.Format != backup.Format {
		t.Fatalf("Save: %+v %d %v", m, n, err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, file) {
		t.Error("the saved file is not the backup")
	}
	if _, _, err := backup.Save(bytes.NewReader(file), path); err == nil || !strings.Contains(err.Error(), "choose another name") {
		t.Errorf("Save over a file: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("after a refused Save: %v", entries)
	}
}

// A Save that cannot write (a full disk; here standard output on /dev/full) says so: the
// backup it was receiving is not at fault, and "incomplete or damaged" would send the
// operator looking at the server.
func TestSaveThatCannotWriteSaysSo(t *testing.T) {
	l := newLedger(t, 5)
	file := backupOf(t, l)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	stdout := os.Stdout
	os.Stdout = full
	_, _, err = backup.Save(bytes.NewReader(file), "-")
	os.Stdout = stdout
	if err == nil || errors.Is(err, backup.ErrIncomplete) || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("Save to a full disk: %v, want the write's error, not a damaged backup", err)
	}
}

// A backup of a ledger that holds nothing yet (a new one, as its operator tries the backup
// out), or events but no checkpoint yet (the checkpointer's first interval), restores, and
// the restored ledger takes events on from the next seq. An empty stream's snapshot says
// first seq 0 and the restored one 1 (no message either way): the restore compared them and
// refused its own backup.
func TestBackupOfAnEmptyStream(t *testing.T) {
	for _, n := range []int{0, 3} { // newLedger checkpoints after its 7th event
		l := newLedger(t, n)
		file := backupOf(t, l)
		to := filepath.Join(t.TempDir(), "restored")
		if _, err := backup.Restore(t.Context(), bytes.NewReader(file), backup.RestoreConfig{DataDir: to}); err != nil {
			t.Fatalf("%d events: %v", n, err)
		}
		js := openRestored(t, to)
		if err := ledger.EnsureStreams(t.Context(), js, ledger.StreamOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := ledger.Event{SpecVersion: "1.0", ID: "next", Source: ledger.SourcePrefix + "UNODC", Type: "compact.training.delivered", Time: "2025-05-07T10:00:00Z",
			Data: json.RawMessage(`{"title":"Workshop","start":"2025-05-06","format":"workshop","organizers":[{"entity":"UNODC"}]}`)}
		body, _ := json.Marshal(&ev)
		if ack, err := js.Publish(t.Context(), ev.Subject(), body); err != nil || ack.Sequence != uint64(n)+1 {
			t.Errorf("%d events: the next event on the restored ledger: %+v %v", n, ack, err)
		}
	}
}

// On a file system without hard links (FAT, some network mounts) Save renames the checked file
// into place instead, rather than throwing the whole download away at its end; it still never
// replaces a file.
func TestSaveWithoutHardLinks(t *testing.T) {
	l := newLedger(t, 3)
	file := backupOf(t, l)
	defer backup.SetLink(func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	})()
	savesOnce(t, file, filepath.Join(t.TempDir(), "b.tar"))
}

// A save killed while it wrote leaves its partial file (which holds what a backup holds); the
// next Save into the same directory removes it, but not the partial file of a save running.
func TestSaveRemovesTheKilledSavesPartialFiles(t *testing.T) {
	l := newLedger(t, 3)
	file := backupOf(t, l)
	dir := t.TempDir()
	killed := filepath.Join(dir, ".old.tar.partial-123")
	os.WriteFile(killed, file[:100], 0o600)
	running := filepath.Join(dir, ".other.tar.partial-456")
	os.WriteFile(running, file[:100], 0o600)
	held, err := os.Open(running)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, _, err := backup.Save(bytes.NewReader(file), filepath.Join(dir, "new.tar")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(killed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed save's partial file is still there: %v", err)
	}
	if _, err := os.Stat(running); err != nil {
		t.Errorf("the running save's partial file was removed: %v", err)
	}
	// another program's file that only looks like one is left alone
	others := filepath.Join(dir, ".notes.partial-draft")
	os.WriteFile(others, []byte("x"), 0o600)
	if _, _, err := backup.Save(bytes.NewReader(file), filepath.Join(dir, "newer.tar")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(others); err != nil {
		t.Errorf("another program's .partial- file was removed: %v", err)
	}
}

// A data directory is named by a path, not a pattern: one whose path holds [, ] or \ (a
// volume mounted at /srv/compact[2], say) is checked like any other. serve took the path for
// a glob pattern, matched nothing, and started on the directory of a restore that did not
// finish; and Save never found the partial files of killed saves there.
func TestAPathWithGlobCharacters(t *testing.T) {
	l := newLedger(t, 3)
	file := backupOf(t, l)
	for _, name := range []string{"data[1]", `back\slash`} {
		dir := filepath.Join(t.TempDir(), name)
		left := filepath.Join(dir, backup.RestoringPrefix+"0badf00d")
		os.MkdirAll(filepath.Join(left, "nats"), 0o700)
		os.WriteFile(filepath.Join(dir, ledger.EntitiesFile), []byte("{}"), 0o600) // moved in before the kill
		if err := backup.CheckNoUnfinishedRestore(dir); !errors.Is(err, backup.ErrRestoring) || !strings.Contains(err.Error(), left) {
			t.Errorf("%s: a directory holding a restore's working directory: %v", name, err)
		}

		killed := filepath.Join(dir, "saves", ".old.tar.partial-123")
		os.MkdirAll(filepath.Dir(killed), 0o700)
		os.WriteFile(killed, file[:100], 0o600)
		if _, _, err := backup.Save(bytes.NewReader(file), filepath.Join(dir, "saves", "new.tar")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(killed); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the killed save's partial file is still there: %v", name, err)
		}
	}
	// nor does a pattern match another directory's working directory
	parent := t.TempDir()
	os.MkdirAll(filepath.Join(parent, "ab", backup.RestoringPrefix+"0badf00d"), 0o700)
	os.MkdirAll(filepath.Join(parent, "a?"), 0o700)
	if err := backup.CheckNoUnfinishedRestore(filepath.Join(parent, "a?")); err != nil {
		t.Errorf("an empty directory named a?, beside ab holding a restore's working directory: %v", err)
	}
}

// What appears in the data directory while a restore runs (compact entities add --data DIR,
// here) is never replaced by the restore's entries nor mixed with them: the restore refuses
// to move anything in. It renamed its entities.json over the one just written, and reported
// success: the entity added was gone without a word.
func TestRestoreNeverReplacesWhatAppearedMeanwhile(t *testing.T) {
	l := newLedger(t, 3)
	file := backupOf(t, l)
	dir := filepath.Join(t.TempDir(), "restored")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := backup.Restore(t.Context(), pr, backup.RestoreConfig{DataDir: dir})
		pr.CloseWithError(err) // a restore that stopped early frees the writer below
		done <- err
	}()
	// Once the restore has taken these bytes it is at work in its working directory.
	if _, err := pw.Write(file[:1024]); err != nil {
		t.Fatal(err)
	}
	if err := backup.CheckNoUnfinishedRestore(dir); !errors.Is(err, backup.ErrRestoring) {
		t.Fatalf("a running restore's directory: %v", err)
	}
	if _, err := ledger.AddEntity(t.Context(), dir, "NEWCO", "Added during the restore", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	added, _ := os.ReadFile(filepath.Join(dir, ledger.EntitiesFile))
	pw.Write(file[1024:])
	pw.Close()
	err := <-done
	if !errors.Is(err, backup.ErrNotEmpty) || !strings.Contains(err.Error(), ledger.EntitiesFile) {
		t.Errorf("a restore into a directory written meanwhile: %v, want it refused, naming %s", err, ledger.EntitiesFile)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ledger.EntitiesFile)); !bytes.Equal(b, added) {
		t.Errorf("%s is now %s, not the one written during the restore", ledger.EntitiesFile, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "nats")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused restore moved its streams in: %v", err)
	}
}

// DIR is made with its parents, as serve makes its --data and as restore did before it worked
// inside DIR: a new volume's path (/srv/compact/data, /srv/compact not there yet) restores.
// A DIR given with a trailing slash, or relative, is the same directory.
func TestRestoreMakesDIRsParents(t *testing.T) {
	l := newLedger(t, 3)
	file := backupOf(t, l)
	dir := filepath.Join(t.TempDir(), "srv", "compact", "data")
	if _, err := backup.Restore(t.Context(), bytes.NewReader(file), backup.RestoreConfig{DataDir: dir + "/"}); err != nil {
		t.Fatalf("into a directory whose parent is not there yet: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ledger.EntitiesFile)); err != nil {
		t.Error(err)
	}
	t.Chdir(filepath.Dir(dir))
	if _, err := backup.Restore(t.Context(), bytes.NewReader(file), backup.RestoreConfig{DataDir: "other/data/"}); err != nil {
		t.Fatalf("into a relative path: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(filepath.Dir(dir), "other", "data")); len(entries) < 3 {
		t.Errorf("the relative DIR holds %v", entries)
	}
}

// Two saves into one directory at once (the backups of two ledgers into /backups, started by
// one cron minute): the partial file one has just made is not yet locked when the other looks
// for killed saves' files. Taken for a killed save's, it was removed, and the first save
// failed at its end, the whole download thrown away; or, its lock held by the other for that
// instant, it failed at once.
func TestTwoSavesIntoOneDirectory(t *testing.T) {
	l := newLedger(t, 3)
	file := backupOf(t, l)
	dir := t.TempDir()
	var other error
	once := false
	restore := backup.SetCreatedPartial(func(string) {
		if !once {
			once = true
			_, _, other = backup.Save(bytes.NewReader(file), filepath.Join(dir, "other.tar"))
		}
	})
	_, _, err := backup.Save(bytes.NewReader(file), filepath.Join(dir, "first.tar"))
	restore()
	if err != nil || other != nil {
		t.Errorf("a save while another made its partial file: %v; the other: %v", err, other)
	}
	for _, name := range []string{"first.tar", "other.tar"} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(b, file) {
			t.Errorf("%s is not the backup", name)
		}
	}

	// the other save holds the new partial file's lock as the first save asks for it
	var held *os.File
	restore = backup.SetCreatedPartial(func(name string) {
		if held == nil {
			held, _ = os.Open(name)
			syscall.Flock(int(held.Fd()), syscall.LOCK_EX)
		}
	})
	_, _, err = backup.Save(bytes.NewReader(file), filepath.Join(dir, "second.tar"))
	restore()
	if held != nil {
		held.Close()
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "second.tar")); err != nil || !bytes.Equal(b, file) {
		t.Errorf("a save whose partial file another held the lock of for an instant: %v", err)
	}
}

// serve's removal of the snapshots killed backups left in its data directory reads the
// directory too: under data[1] they were never removed (a copy of the streams each), and a
// data directory named a? removed those of a backup running in its neighbour ab.
func TestRemoveLeftoversOfAPathWithGlobCharacters(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data[1]")
	os.MkdirAll(filepath.Join(dir, backup.TempPrefix+"123", "COMPACT"), 0o700)
	if removed, err := backup.RemoveLeftovers(dir); err != nil || len(removed) != 1 {
		t.Errorf("under data[1]: removed %v, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(dir, backup.TempPrefix+"123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a killed backup's snapshots are still there: %v", err)
	}
	running := filepath.Join(parent, "ab", backup.TempPrefix+"456")
	os.MkdirAll(running, 0o700)
	os.MkdirAll(filepath.Join(parent, "a?"), 0o700)
	if removed, err := backup.RemoveLeftovers(filepath.Join(parent, "a?")); err != nil || len(removed) != 0 {
		t.Errorf("under a?: removed %v, %v", removed, err)
	}
	if _, err := os.Stat(running); err != nil {
		t.Errorf("the snapshots of a backup of ab: %v", err)
	}
}

// While a restore holds the data directory, before its working directory is there, the
// directory is refused all the same: its lock says a restore runs.
func TestARunningRestoresLockIsSeen(t *testing.T) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil { // as lockDir takes it
		t.Fatal(err)
	}
	if err := backup.CheckNoUnfinishedRestore(dir); !errors.Is(err, backup.ErrRestoring) || !strings.Contains(err.Error(), "is running") {
		t.Errorf("a directory a restore holds: %v", err)
	}
	syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
	if err := backup.CheckNoUnfinishedRestore(dir); err != nil {
		t.Errorf("once no restore holds it: %v", err)
	}
}
