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

// LoadDemo publishes the demo dataset on the first start: it issues credentials for every
// demo entity that has none, then publishes each entity's events through the ingest
// service over NATS, as that entity, like any entity's system would. Re-running it is
// harmless (the ledger's idempotency makes every event a duplicate), but a marker file
// skips even that.
func (n *Node) LoadDemo(ctx context.Context, log *slog.Logger) error {
	dataDir := n.cfg.DataDir
	marker := filepath.Join(dataDir, "demo.loaded")
	if _, err := os.Stat(marker); err == nil {
		log.Info("demo data already loaded", "marker", marker)
		return nil
	}
	entities, err := demo.Entities()
	if err != nil {
		return err
	}
	dir := filepath.Join(dataDir, DemoCredentialsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	seeds := map[string]string{}
	for _, e := range entities {
		path := filepath.Join(dir, e.Entity+".json")
		var c Credentials
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &c) == nil {
			seeds[e.Entity] = c.NKeySeed
			continue
		}
		creds, err := AddEntity(ctx, dataDir, e.Entity, e.Name, Role(e.Role))
		if err != nil {
			return fmt.Errorf("demo entity %s: %w", e.Entity, err)
		}
		b, _ := json.MarshalIndent(creds, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			return err
		}
		seeds[e.Entity] = creds.NKeySeed
	}
	// Apply the new entities now rather than waiting for the watcher.
	if _, err := n.Registry.Reload(); err != nil {
		return err
	}
	if n.Server != nil {
		if err := n.Server.Reload(); err != nil {
			return err
		}
	}
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
		msg, err := nc.RequestWithContext(ctx, IngestSubjectPrefix+entity, body)
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
