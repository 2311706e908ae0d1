package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nkeys"
)

// EntitiesFile is the name of the entities file in the data directory.
//
// Its format (JSON, version 1):
//
//	{"version": 1, "entities": [
//	  {"entity": "UNOCT", "name": "UN Office of Counter-Terrorism", "role": "publisher",
//	   "token_sha256": "<hex SHA-256 of the bearer token>", "nkey": "U...<public nkey>",
//	   "created": "2025-05-01T09:00:00Z"}]}
//
// Only the hash of the HTTP token and the public half of the nkey are kept: the secrets are
// printed once by `compact entities add` and never stored by the ledger.
const EntitiesFile = "entities.json"

// Role is what a principal may do.
type Role string

// The roles.
const (
	// RolePublisher is a Compact entity: it publishes its own activities.
	RolePublisher Role = "publisher"
	// RoleSecretariat publishes like an entity, and also review curation and opening balances.
	RoleSecretariat Role = "secretariat"
	// RoleAuditor reads the raw history; it publishes nothing.
	RoleAuditor Role = "auditor"
	// RoleAdmin reads the history and runs operations (rebuilds); it publishes nothing.
	RoleAdmin Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RolePublisher, RoleSecretariat, RoleAuditor, RoleAdmin}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// CanPublish reports whether the role may publish events.
func (r Role) CanPublish() bool { return r == RolePublisher || r == RoleSecretariat }

// CanReadHistory reports whether the role may read the raw history.
func (r Role) CanReadHistory() bool { return r == RoleAuditor || r == RoleAdmin }

// Principal is an authenticated caller.
type Principal struct {
	Entity string
	Role   Role
}

// EntityRecord is one entry of the entities file.
type EntityRecord struct {
	Entity      string    `json:"entity"`
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	TokenSHA256 string    `json:"token_sha256"`
	NKey        string    `json:"nkey"`
	Created     time.Time `json:"created"`
	// Revoked is when the entity's credentials were revoked (RevokeCredentials): it has no
	// token and no nkey until ReissueCredentials gives it new ones. Its record stays, so that
	// its events keep their registered source.
	Revoked *time.Time `json:"revoked,omitempty"`
}

type entitiesDoc struct {
	Version  int            `json:"version"`
	Entities []EntityRecord `json:"entities"`
}

// Credentials are the secrets issued to an entity, shown once.
type Credentials struct {
	Entity   string `json:"entity"`
	Role     Role   `json:"role"`
	Token    string `json:"token"`
	NKeySeed string `json:"nkey_seed"`
}

// reservedAccounts are NATS account names the ledger uses itself.
var reservedAccounts = map[string]bool{"LEDGER": true, "SYS": true, "$SYS": true, "$G": true}

// CheckNewEntity reports what is wrong with an entity AddEntity would be given, before any
// file is touched: its acronym, its name or its role.
func CheckNewEntity(entity, name string, role Role) error {
	switch {
	case !acronymPattern.MatchString(entity):
		return fmt.Errorf("entity %q: must be 2-24 characters of A-Z 0-9 -", entity)
	case reservedAccounts[entity]:
		return fmt.Errorf("entity %q: the name is reserved by the ledger", entity)
	case name == "":
		return errors.New("--name is required: the entity's full name")
	case !role.Valid():
		return fmt.Errorf("role %q: must be one of publisher, secretariat, auditor, admin", role)
	}
	return nil
}

// AddEntity issues credentials for a new entity and records it in dataDir's entities file.
// It is safe against concurrent AddEntity calls from other processes (a lock file); while
// another holds the lock it waits, until ctx is done.
func AddEntity(ctx context.Context, dataDir, entity, name string, role Role) (*Credentials, error) {
	if err := CheckNewEntity(entity, name, role); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	return updateEntities(ctx, dataDir, func(doc *entitiesDoc) (*Credentials, error) {
		for _, r := range doc.Entities {
			if r.Entity == entity {
				return nil, fmt.Errorf("entity %s already exists (created %s)", entity, r.Created.Format(time.RFC3339))
			}
		}
		rec := EntityRecord{Entity: entity, Name: name, Role: role, Created: time.Now().UTC().Truncate(time.Second)}
		creds, err := issueCredentials(&rec)
		if err != nil {
			return nil, err
		}
		doc.Entities = append(doc.Entities, rec)
		return creds, nil
	})
}

// ReissueCredentials gives a registered entity a new token and nkey in dataDir's entities
// file, in place of its old ones, which stop working once a server has reloaded the file (a
// running one does within a second). Its name, role and creation time stay. It takes the
// same lock as AddEntity.
func ReissueCredentials(ctx context.Context, dataDir, entity string) (*Credentials, error) {
	return ReissueCredentialsAs(ctx, dataDir, entity, "")
}

// ReissueCredentialsAs is ReissueCredentials that also gives the entity role (none: the
// one it has). A role changes only with new credentials: whoever holds the old ones (a
// publisher's, say) does not gain the new role's rights (an auditor's reads).
func ReissueCredentialsAs(ctx context.Context, dataDir, entity string, role Role) (*Credentials, error) {
	if role != "" && !role.Valid() {
		return nil, fmt.Errorf("role %q: must be one of publisher, secretariat, auditor, admin", role)
	}
	return updateEntities(ctx, dataDir, func(doc *entitiesDoc) (*Credentials, error) {
		i := slices.IndexFunc(doc.Entities, func(r EntityRecord) bool { return r.Entity == entity })
		if i < 0 {
			return nil, fmt.Errorf("%w: %s", ErrUnknownEntity, entity)
		}
		if role != "" {
			doc.Entities[i].Role = role
		}
		doc.Entities[i].Revoked = nil
		return issueCredentials(&doc.Entities[i])
	})
}

// RevokeCredentials takes a registered entity's token and nkey away in dataDir's entities
// file: it keeps its record (its events stay attributed to it), and neither its old token
// nor its old nkey works once a server has reloaded the file (a running one does within a
// second, closing the entity's open NATS connections). ReissueCredentials gives it new ones.
// It returns when the entity was revoked: now, or when it was first, for an entity revoked
// already, whose record stays as it is. It takes the same lock as AddEntity.
func RevokeCredentials(ctx context.Context, dataDir, entity string) (time.Time, error) {
	var at time.Time
	_, err := updateEntities(ctx, dataDir, func(doc *entitiesDoc) (*Credentials, error) {
		i := slices.IndexFunc(doc.Entities, func(r EntityRecord) bool { return r.Entity == entity })
		if i < 0 {
			return nil, fmt.Errorf("%w: %s", ErrUnknownEntity, entity)
		}
		rec := &doc.Entities[i]
		if rec.Revoked == nil {
			now := time.Now().UTC().Truncate(time.Second)
			rec.TokenSHA256, rec.NKey, rec.Revoked = "", "", &now
		}
		at = *rec.Revoked
		return nil, nil
	})
	return at, err
}

// updateEntities changes dataDir's entities file under its lock (waiting for it until ctx is
// done): change edits the document read from it, which is written back when change succeeds.
func updateEntities(ctx context.Context, dataDir string, change func(*entitiesDoc) (*Credentials, error)) (*Credentials, error) {
	unlock, err := lockFile(ctx, filepath.Join(dataDir, "entities.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	doc, err := readEntities(dataDir)
	if err != nil {
		return nil, err
	}
	creds, err := change(doc)
	if err != nil {
		return nil, err
	}
	if err := writeEntities(dataDir, doc); err != nil {
		return nil, err
	}
	return creds, nil
}

// issueCredentials makes a new token and nkey for rec, recording their public halves in it.
func issueCredentials(rec *EntityRecord) (*Credentials, error) {
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	rec.TokenSHA256, rec.NKey = hashToken(token), pub
	return &Credentials{Entity: rec.Entity, Role: rec.Role, Token: token, NKeySeed: string(seed)}, nil
}

// Holds reports whether creds are rec's current credentials: its token and its nkey.
func (rec EntityRecord) Holds(creds *Credentials) bool {
	kp, err := nkeys.FromSeed([]byte(creds.NKeySeed))
	if err != nil {
		return false
	}
	pub, _ := kp.PublicKey()
	return creds.Entity == rec.Entity && pub == rec.NKey &&
		subtle.ConstantTimeCompare([]byte(hashToken(creds.Token)), []byte(rec.TokenSHA256)) == 1
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "ctk_" + base64.RawURLEncoding.EncodeToString(b), nil
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// ListEntities returns the records of dataDir's entities file, sorted by acronym, checked
// as a server reads them (an absent file holds none).
func ListEntities(dataDir string) ([]EntityRecord, error) {
	doc, err := readEntities(dataDir)
	if err != nil {
		return nil, err
	}
	recs := slices.Clone(doc.Entities)
	slices.SortFunc(recs, func(a, b EntityRecord) int { return strings.Compare(a.Entity, b.Entity) })
	return recs, nil
}

func readEntities(dataDir string) (*entitiesDoc, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, EntitiesFile))
	return parseEntities(dataDir, b, err)
}

// parseEntities parses the entities file's content b, as read with error err.
func parseEntities(dataDir string, b []byte, err error) (*entitiesDoc, error) {
	path := filepath.Join(dataDir, EntitiesFile)
	if errors.Is(err, os.ErrNotExist) {
		return &entitiesDoc{Version: 1}, nil
	}
	if err != nil {
		return nil, err
	}
	var raw struct {
		Version  int               `json:"version"`
		Entities []json.RawMessage `json:"entities"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if raw.Version != 1 {
		return nil, fmt.Errorf("%s: version %d, this build reads version 1", path, raw.Version)
	}
	// Each record on its own, so that an error names it; a field this build does not know
	// (a misspelt "token_sha256" would leave the entity without a token) is an error too.
	doc := entitiesDoc{Version: raw.Version, Entities: make([]EntityRecord, len(raw.Entities))}
	for i, r := range raw.Entities {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc.Entities[i]); err != nil {
			return nil, fmt.Errorf("%s: entities[%d]: %w", path, i, err)
		}
	}
	if err := checkEntities(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &doc, nil
}

// checkEntities reports the first record of doc that the ledger cannot serve as it stands: a
// hand edit that names an acronym that is invalid or the ledger's own (LEDGER would replace
// the ledger's NATS account), an unknown role, a token hash or nkey that is malformed or
// another record's. The error names the record and its field, as entities[i].field.
func checkEntities(doc *entitiesDoc) error {
	entities, tokens, nkeys_ := map[string]int{}, map[string]int{}, map[string]int{}
	for i, r := range doc.Entities {
		at := func(field, format string, args ...any) error {
			return fmt.Errorf("entities[%d].%s (entity %q): %s", i, field, r.Entity, fmt.Sprintf(format, args...))
		}
		switch {
		case !acronymPattern.MatchString(r.Entity):
			return at("entity", "must be 2-24 characters of A-Z 0-9 -")
		case reservedAccounts[r.Entity]:
			return at("entity", "the name is reserved by the ledger")
		case !r.Role.Valid():
			return at("role", "%q: must be one of publisher, secretariat, auditor, admin", r.Role)
		case r.TokenSHA256 != "" && !tokenHashPattern.MatchString(r.TokenSHA256):
			return at("token_sha256", "not the hex SHA-256 of a token (64 lowercase hex digits)")
		case r.NKey != "" && !nkeys.IsValidPublicUserKey(r.NKey):
			return at("nkey", "not the public key of an nkey user (U...)")
		case r.Revoked != nil && (r.TokenSHA256 != "" || r.NKey != ""):
			return at("revoked", "a revoked entity has no token_sha256 and no nkey")
		}
		if j, dup := entities[r.Entity]; dup {
			return at("entity", "registered twice (also entities[%d])", j)
		}
		entities[r.Entity] = i
		if j, dup := tokens[r.TokenSHA256]; dup && r.TokenSHA256 != "" {
			return at("token_sha256", "the same token as entities[%d]", j)
		}
		tokens[r.TokenSHA256] = i
		if j, dup := nkeys_[r.NKey]; dup && r.NKey != "" {
			return at("nkey", "the same nkey as entities[%d]", j)
		}
		nkeys_[r.NKey] = i
	}
	return nil
}

var tokenHashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// writeEntities replaces the file atomically.
func writeEntities(dataDir string, doc *entitiesDoc) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dataDir, EntitiesFile), append(b, '\n'))
}

// writeFileAtomic replaces path with b, mode 0600, so that a crash leaves either the old
// content or the new, never a part: write a temporary file, fsync, rename, fsync the
// directory.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	// A temporary file left there keeps its mode when opened: make it private before the
	// secret-bearing content goes in (the demo's credential files hold seeds).
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// lockFile takes an exclusive lock on path, waiting while another process holds it, until
// ctx is done. It polls a non-blocking flock: a blocking one cannot be interrupted, and
// Ctrl-C would be ignored for as long as the other process kept the lock.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s, which another process holds (adding an entity): %w", path, context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// lockPoll is how often a process waiting for the lock tries it again.
const lockPoll = 20 * time.Millisecond

// Registry is the entities known to a running server, reloaded when the file changes.
// It is safe for concurrent use.
type Registry struct {
	dir string

	// reloading serializes Reload: of two at once (the file watch and a demo's set-up), the
	// one that read the older file could otherwise install it last, and a revoked token
	// would work again until the next reload.
	reloading sync.Mutex

	mu       sync.RWMutex
	byEntity map[string]EntityRecord
	byToken  map[string]EntityRecord // by token hash
	byNKey   map[string]EntityRecord
	stamp    string

	holds holds // requests to end when their caller is let in no more (hold.go)
}

// OpenRegistry reads dataDir's entities file (an absent file is an empty registry).
func OpenRegistry(dataDir string) (*Registry, error) {
	r := &Registry{dir: dataDir}
	if _, err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload re-reads the file if it changed since the last read and reports whether it did.
func (r *Registry) Reload() (bool, error) {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	// The stamp is the content's hash: a stat stamp changes when the file is only read
	// (its access time), and each spurious change would reload every NATS account.
	b, err := os.ReadFile(filepath.Join(r.dir, EntitiesFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	sum := sha256.Sum256(b)
	stamp := hex.EncodeToString(sum[:])
	r.mu.RLock()
	same := r.byEntity != nil && stamp == r.stamp
	r.mu.RUnlock()
	if same {
		return false, nil
	}
	doc, err := parseEntities(r.dir, b, err)
	if err != nil {
		return false, err
	}
	byEntity := make(map[string]EntityRecord, len(doc.Entities))
	byToken := make(map[string]EntityRecord, len(doc.Entities))
	byNKey := make(map[string]EntityRecord, len(doc.Entities))
	for _, e := range doc.Entities {
		byEntity[e.Entity] = e
		byToken[e.TokenSHA256] = e
		byNKey[e.NKey] = e
	}
	r.mu.Lock()
	r.byEntity, r.byToken, r.byNKey, r.stamp = byEntity, byToken, byNKey, stamp
	r.mu.Unlock()
	r.recheckHolds()
	return true, nil
}

// Authenticate returns the principal holding the bearer token.
func (r *Registry) Authenticate(token string) (Principal, error) {
	if token == "" {
		return Principal{}, fmt.Errorf("%w: no token: send Authorization: Bearer <token>", ErrUnauthenticated)
	}
	h := hashToken(token)
	r.mu.RLock()
	e, ok := r.byToken[h]
	r.mu.RUnlock()
	// The map is keyed by a hash, so its lookup time tells nothing about the token; the
	// constant-time compare keeps it that way should the lookup ever change.
	if !ok || subtle.ConstantTimeCompare([]byte(e.TokenSHA256), []byte(h)) != 1 {
		return Principal{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	return Principal{Entity: e.Entity, Role: e.Role}, nil
}

// Lookup returns the principal of a registered entity whose credentials are live. A
// revoked entity is refused: on an operator's NATS its account and nkey are the operator's,
// which a revocation in the entities file does not reach, and on the embedded server its
// connections last until the accounts' reload that follows the registry's.
func (r *Registry) Lookup(entity string) (Principal, error) {
	r.mu.RLock()
	e, ok := r.byEntity[entity]
	r.mu.RUnlock()
	if !ok {
		return Principal{}, fmt.Errorf("%w: %s", ErrUnknownEntity, entity)
	}
	if e.Revoked != nil {
		return Principal{}, fmt.Errorf("%w: the credentials of %s were revoked on %s ('compact entities reissue %s' gives new ones)",
			ErrUnauthenticated, entity, e.Revoked.UTC().Format(time.RFC3339), entity)
	}
	return Principal{Entity: e.Entity, Role: e.Role}, nil
}

// Record returns a registered entity's record.
func (r *Registry) Record(entity string) (EntityRecord, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.byEntity[entity]
	return e, ok
}

// Entities returns every record, sorted by acronym.
func (r *Registry) Entities() []EntityRecord {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]EntityRecord, 0, len(r.byEntity))
	for _, e := range r.byEntity {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b EntityRecord) int {
		if a.Entity < b.Entity {
			return -1
		}
		if a.Entity > b.Entity {
			return 1
		}
		return 0
	})
	return out
}

// Watch re-reads the entities file every interval until ctx is done, and calls onChange
// (if not nil) after each change, and again on every tick after until it succeeds. The
// caller owns the goroutine that runs it.
func (r *Registry) Watch(ctx context.Context, every time.Duration, log *slog.Logger, onChange func() error) {
	t := time.NewTicker(every)
	defer t.Stop()
	// The registry takes a changed file before onChange applies it (the NATS accounts): once
	// taken, the file reads as unchanged, so a failed application is remembered here, or it
	// would wait for the next edit or a restart.
	pending := false
	// A file that stays unreadable (a hand edit gone wrong) is logged once per distinct
	// error, not at every tick, and once more when it reads again.
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := r.Reload()
		switch {
		case err != nil && err.Error() != lastErr:
			lastErr = err.Error()
			log.Error("reading the entities file; keeping the entities read before, until it is fixed", "dir", r.dir, "err", err)
		case err == nil && lastErr != "":
			lastErr = ""
			log.Info("the entities file reads again", "dir", r.dir)
		}
		if pending = pending || changed; !pending {
			continue
		}
		if onChange != nil {
			if err := onChange(); err != nil {
				log.Error("applying the changed entities; retrying at the next check", "every", every, "err", err)
				continue
			}
		}
		pending = false
		log.Info("entities reloaded", "entities", len(r.Entities()))
	}
}
