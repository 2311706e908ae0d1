package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"compact/ledger"
)

// editEntities rewrites dir's entities file by hand: edit changes its records, as a JSON
// document, before it is written back.
func editEntities(t *testing.T, dir string, edit func(doc map[string]any, recs []map[string]any) []map[string]any) {
	t.Helper()
	path := filepath.Join(dir, ledger.EntitiesFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, r := range doc["entities"].([]any) {
		recs = append(recs, r.(map[string]any))
	}
	doc["entities"] = edit(doc, recs)
	out, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newUserKey(t *testing.T) string {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return pub
}

// A hand-edited entities file that is well-formed JSON but wrong in a record (a reserved or
// invalid acronym, an unknown role, a duplicate entity or key, a key that is not a user's
// nkey) is refused by the registry with an error naming the file, the record and the field,
// and a running server keeps the entities it had: the publishers it served still publish over
// NATS and HTTP. Taken, an entity named LEDGER replaced the ledger's own NATS account.
func TestHandEditedEntitiesFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	srv := httpServer(t, n)
	good, err := os.ReadFile(filepath.Join(dir, ledger.EntitiesFile))
	if err != nil {
		t.Fatal(err)
	}
	rec := func(entity, role string) map[string]any {
		return map[string]any{"entity": entity, "name": "x", "role": role,
			"token_sha256": strings.Repeat("ab", 32), "nkey": newUserKey(t), "created": "2025-05-01T09:00:00Z"}
	}
	cases := []struct {
		name, want string
		edit       func(doc map[string]any, recs []map[string]any) []map[string]any
	}{
		{"the ledger's account", "entities[1].entity", func(_ map[string]any, r []map[string]any) []map[string]any {
			return append(r, rec("LEDGER", "publisher"))
		}},
		{"SYS", "entities[1].entity", func(_ map[string]any, r []map[string]any) []map[string]any {
			return append(r, rec("SYS", "publisher"))
		}},
		{"lower case", "entities[1].entity", func(_ map[string]any, r []map[string]any) []map[string]any {
			return append(r, rec("unoct", "publisher"))
		}},
		{"unknown role", "entities[0].role", func(_ map[string]any, r []map[string]any) []map[string]any {
			r[0]["role"] = "superuser"
			return r
		}},
		{"duplicate entity", "entities[1].entity", func(_ map[string]any, r []map[string]any) []map[string]any {
			d := rec("UNODC", "auditor")
			return append(r, d)
		}},
		{"duplicate nkey", "entities[1].nkey", func(_ map[string]any, r []map[string]any) []map[string]any {
			d := rec("CTED", "publisher")
			d["nkey"] = r[0]["nkey"]
			return append(r, d)
		}},
		{"duplicate token", "entities[1].token_sha256", func(_ map[string]any, r []map[string]any) []map[string]any {
			d := rec("CTED", "auditor")
			d["token_sha256"] = r[0]["token_sha256"]
			return append(r, d)
		}},
		{"not a user nkey", "entities[0].nkey", func(_ map[string]any, r []map[string]any) []map[string]any {
			r[0]["nkey"] = `UABC", permissions: {publish: ">"}`
			return r
		}},
		{"misspelt field", `entities[0]: json: unknown field "tokn_sha256"`, func(_ map[string]any, r []map[string]any) []map[string]any {
			r[0]["tokn_sha256"] = r[0]["token_sha256"]
			delete(r[0], "token_sha256")
			return r
		}},
		{"not a time", `entities[1]: parsing time "yesterday"`, func(_ map[string]any, r []map[string]any) []map[string]any {
			d := rec("CTED", "auditor")
			d["created"] = "yesterday"
			return append(r, d)
		}},
		{"not a hash", "entities[0].token_sha256", func(_ map[string]any, r []map[string]any) []map[string]any {
			r[0]["token_sha256"] = "secret"
			return r
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer os.WriteFile(filepath.Join(dir, ledger.EntitiesFile), good, 0o600)
			editEntities(t, dir, c.edit)
			_, err := n.Registry.Reload()
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, ledger.EntitiesFile)) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("reloading the edited file: %v; want an error naming the file and %s", err, c.want)
			}
			if _, err := ledger.OpenRegistry(dir); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("opening the edited file: %v; want an error naming %s", err, c.want)
			}
			// Whatever the watcher may have applied, the server keeps serving what it had.
			if err := n.Server.Reload(); err != nil {
				t.Fatal(err)
			}
			nc, err := connectAs(n, a)
			if err != nil {
				t.Fatalf("UNODC cannot connect after the bad edit: %v", err)
			}
			defer nc.Close()
			if r := natsPublish(t, nc, "UNODC", activity("UNODC", fmt.Sprintf("nats-%d", i), "after a bad edit")); r.Results[0].Error != nil {
				t.Fatalf("UNODC over NATS after the bad edit: %+v", r.Results[0].Error)
			}
			if status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, activity("UNODC", fmt.Sprintf("http-%d", i), "after a bad edit")); status != http.StatusCreated {
				t.Fatalf("UNODC over HTTP after the bad edit: %d %+v", status, r)
			}
			if _, err := n.Registry.Lookup("CTED"); err == nil {
				t.Fatal("an entity of the refused file was taken")
			}
		})
	}
}

// The entities file is 0600 after every change, even when a temporary file of a broader mode
// was left where the atomic replacement writes (an interrupted copy, another tool): opening
// an existing file keeps its mode, and the rename used to carry it over.
func TestEntitiesFileStaysPrivate(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, ledger.EntitiesFile+".tmp")
	if err := os.WriteFile(tmp, []byte("left over"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o644)
	if _, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, ledger.EntitiesFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("entities.json mode %v, want 0600", st.Mode().Perm())
	}
}

// countingHandler counts the log records whose message starts with prefix.
type countingHandler struct {
	prefix string
	n      *atomic.Int32
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.n.Add(1)
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// A broken entities file is logged once, not at every check of the watcher (twice a second
// in serve, for as long as the file stays broken); a new error is logged again.
func TestBrokenEntitiesFileIsLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	if _, err := ledger.AddEntity(t.Context(), dir, "UNODC", "UN Office on Drugs and Crime", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	reg, err := ledger.OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	var errorsLogged atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reg.Watch(ctx, time.Millisecond, slog.New(countingHandler{"reading the entities file", &errorsLogged}), nil)
	}()
	defer func() { cancel(); <-done }()
	path := filepath.Join(dir, ledger.EntitiesFile)
	for i, bad := range []string{`{"version": 1, "entities": [`, `{"version": 2}`} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); errorsLogged.Load() <= int32(i); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the broken file was not logged")
			}
		}
		// many checks later
		for range 5 {
			reg.Reload()
			time.Sleep(20 * time.Millisecond)
		}
		if got := errorsLogged.Load(); got != int32(i+1) {
			t.Fatalf("%d errors logged for %d broken versions of the file", got, i+1)
		}
	}
	if _, err := reg.Lookup("UNODC"); err != nil {
		t.Fatalf("the entities read before the file broke: %v", err)
	}
}
