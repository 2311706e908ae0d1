package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"compact/schemas/demo"
)

// DemoCredentialsDir (under the data directory) holds the demo entities' credentials, one JSON file each, so that a
// newcomer can publish as UNOCT at once (see README).
const DemoCredentialsDir = "demo-credentials"

// LoadDemo publishes the demo dataset on the first start: PrepareDemo, then the returned
// load.
func (n *Node) LoadDemo(ctx context.Context, log *slog.Logger) error {
	load, err := n.PrepareDemo(ctx, log)
	if err != nil || load == nil {
		return err
	}
	return load(ctx)
}

// PrepareDemo makes sure every demo entity is registered with its role and has its current
// credentials in DemoCredentialsDir, and returns load, which publishes each entity's events
// through the ingest service over NATS, as that entity, like any entity's system would.
// Re-running it is harmless (the ledger's idempotency makes every event a duplicate), but
// a marker file skips even that: load is nil once the demo was loaded.
//
// A demo entity already registered without its credentials file (added with `compact
// entities add`, or a crash between registering it and writing the file; or a file whose
// credentials are no longer the entity's) is issued new credentials, which replace the
// ones it had: the demo cannot publish as an entity without them, and the ledger keeps no
// secret to recover. One registered with another role than the demo's is an error: the
// demo's events would be refused, and its credentials file would not be a publisher's. So
// is one revoked: new credentials would readmit it.
func (n *Node) PrepareDemo(ctx context.Context, log *slog.Logger) (load func(context.Context) error, err error) {
	dataDir := n.cfg.DataDir
	marker := filepath.Join(dataDir, "demo.loaded")
	if _, err := os.Stat(marker); err == nil {
		log.Info("demo data already loaded", "marker", marker)
		return nil, nil
	}
	entities, err := demo.Entities()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(dataDir, DemoCredentialsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if _, err := n.Registry.Reload(); err != nil {
		return nil, err
	}
	// Every entity is checked before any is registered, so that a refusal leaves the
	// directory as it was.
	for _, e := range entities {
		rec, registered := n.Registry.Record(e.Entity)
		switch {
		case !registered:
		case rec.Role != Role(e.Role):
			return nil, fmt.Errorf("demo entity %s is registered as %s, the demo publishes it as %s: use another data directory for the demo", e.Entity, rec.Role, e.Role)
		case rec.Revoked != nil:
			// New credentials would readmit it: a revocation is not the demo's to undo.
			return nil, fmt.Errorf("demo entity %s was revoked on %s, and the demo would readmit it to publish its events: use another data directory for the demo (or 'compact entities reissue %s' first)",
				e.Entity, rec.Revoked.Format(time.RFC3339), e.Entity)
		}
	}
	seeds := map[string]string{}
	for _, e := range entities {
		path := filepath.Join(dir, e.Entity+".json")
		rec, registered := n.Registry.Record(e.Entity)
		var c Credentials
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &c) == nil && registered && rec.Holds(&c) {
			seeds[e.Entity] = c.NKeySeed
			continue
		}
		var creds *Credentials
		if registered {
			if creds, err = ReissueCredentials(ctx, dataDir, e.Entity); err != nil {
				return nil, fmt.Errorf("demo entity %s: %w", e.Entity, err)
			}
			log.Warn("demo entity already registered without its demo credentials: issued new ones, the ones it had no longer work",
				"entity", e.Entity, "credentials", path)
		} else if creds, err = AddEntity(ctx, dataDir, e.Entity, e.Name, Role(e.Role)); err != nil {
			return nil, fmt.Errorf("demo entity %s: %w", e.Entity, err)
		}
		b, _ := json.MarshalIndent(creds, "", "  ")
		if err := writeFileAtomic(path, append(b, '\n')); err != nil {
			return nil, err
		}
		seeds[e.Entity] = creds.NKeySeed
	}
	// Apply the new entities now rather than waiting for the watcher.
	if _, err := n.Registry.Reload(); err != nil {
		return nil, err
	}
	if n.Server != nil {
		if err := n.Server.Reload(); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context) error { return n.publishDemo(ctx, log, seeds, dir, marker) }, nil
}

// publishDemo publishes the demo dataset as its entities, with their nkey seeds, and
// writes marker when every event is stored.
func (n *Node) publishDemo(ctx context.Context, log *slog.Logger, seeds map[string]string, dir, marker string) error {
	raws, err := demo.Events()
	if err != nil {
		return err
	}
	start := time.Now()
	conns := map[string]*nats.Conn{}
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	var stored, dups int
	// Publish in the dataset's order, each run of one entity's events as one batch request.
	for i := 0; i < len(raws); {
		entity, err := sourceEntity(raws[i])
		if err != nil {
			return fmt.Errorf("demo event %d: %w", i+1, err)
		}
		j := i + 1
		for j < len(raws) && j-i < 500 {
			if e, _ := sourceEntity(raws[j]); e != entity {
				break
			}
			j++
		}
		nc, ok := conns[entity]
		if !ok {
			if nc, err = connectEntity(n.ClientURL(), seeds[entity]); err != nil {
				return fmt.Errorf("demo entity %s: connect: %w", entity, err)
			}
			conns[entity] = nc
		}
		batch := make([]json.RawMessage, 0, j-i)
		for _, r := range raws[i:j] {
			batch = append(batch, r)
		}
		body, _ := json.Marshal(batch)
		msg, err := requestAgain(ctx, nc, IngestSubjectPrefix+entity, body)
		if err != nil {
			return fmt.Errorf("demo: publishing as %s: %w", entity, err)
		}
		var reply Reply
		if err := json.Unmarshal(msg.Data, &reply); err != nil {
			return fmt.Errorf("demo: reply %q: %w", msg.Data, err)
		}
		if reply.Error != nil {
			return fmt.Errorf("demo: %s: %s", entity, reply.Error.Message)
		}
		for _, r := range reply.Results {
			switch {
			case isConflict(r.Error):
				// An earlier version of the demo stored this event, as it then read: the
				// ledger keeps what it stored, and the demo goes on.
				log.Warn("demo event stored by an earlier version of the demo, with other content: kept as stored",
					"entity", entity, "id", r.ID)
				dups++
			case r.Error != nil:
				return fmt.Errorf("demo event %s of %s rejected: %s", r.ID, entity, r.Error.Error())
			case r.Duplicate:
				dups++
			default:
				stored++
			}
		}
		i = j
	}
	log.Info("demo data loaded", "stored", stored, "duplicates", dups, "took", time.Since(start).Round(time.Millisecond),
		"credentials", dir)
	return os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600)
}

func sourceEntity(raw []byte) (string, error) {
	var head struct {
		Source string `json:"source"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", err
	}
	e, ok := strings.CutPrefix(head.Source, SourcePrefix)
	if !ok {
		return "", errors.New("source is not /entities/<ENTITY>")
	}
	return e, nil
}

func connectEntity(url, seed string) (*nats.Conn, error) {
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	var nc *nats.Conn
	// The server applies new accounts within moments of the reload; retry briefly.
	for range 50 {
		nc, err = nats.Connect(url, nats.Nkey(pub, kp.Sign), nats.Name("compact-demo"))
		if err == nil {
			return nc, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}
