package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// The JetStream API's snapshot and restore are not in nats.go; their requests and answers
// are the server's own types (github.com/nats-io/nats-server/v2/server), which the
// ledger already depends on, so the wire format is the server's by construction.

// chunkIdle is how long a snapshot or a restore waits for the other side's next chunk or
// answer before it gives up.
const chunkIdle = 30 * time.Second

// restoreChunk is the size of the chunks a restore sends (the server takes any size up to
// the connection's maximum payload).
const restoreChunk = 64 << 10

// Meta is a stream's configuration and state as the snapshot answer gives them: the
// backup.json of a stream in a backup, and what a restore sends first.
type Meta struct {
	Config server.StreamConfig `json:"config"`
	State  server.StreamState  `json:"state"`
}

// snapshot writes a point-in-time snapshot of stream to w (the server's archive, s2
// compressed) and returns its configuration and state. The stream goes on taking writes.
func snapshot(ctx context.Context, nc *nats.Conn, stream string, w io.Writer) (*Meta, error) {
	// Subscribed before asking: the server sends the first chunk as soon as it sees interest.
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, err
	}
	req, _ := json.Marshal(server.JSApiStreamSnapshotRequest{DeliverSubject: inbox, NoConsumers: true})
	msg, err := nc.RequestWithContext(ctx, fmt.Sprintf(server.JSApiStreamSnapshotT, stream), req)
	if err != nil {
		return nil, fmt.Errorf("snapshot of stream %s: %w", stream, err)
	}
	var resp server.JSApiStreamSnapshotResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("snapshot of stream %s: the answer %.200q: %w", stream, msg.Data, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("snapshot of stream %s: %s", stream, resp.Error.Description)
	}
	if resp.Config == nil || resp.State == nil {
		return nil, fmt.Errorf("snapshot of stream %s: the answer names no configuration or state", stream)
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, chunkIdle)
		m, err := sub.NextMsgWithContext(cctx)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			return nil, fmt.Errorf("snapshot of stream %s: no chunk for %s: %w", stream, chunkIdle, err)
		}
		if len(m.Data) == 0 { // the end: a status says how it went
			if status := m.Header.Get("Status"); status != "" && status != "204" {
				return nil, fmt.Errorf("snapshot of stream %s: the server stopped it: %s %s", stream, status, m.Header.Get("Description"))
			}
			return &Meta{Config: *resp.Config, State: *resp.State}, nil
		}
		// Acknowledged before the write: the data is in memory already, and the server gives
		// up on a receiver that does not acknowledge within seconds, which a slow disk could
		// otherwise make it.
		if m.Reply != "" {
			if err := m.Respond(nil); err != nil {
				return nil, fmt.Errorf("snapshot of stream %s: %w", stream, err)
			}
		}
		if _, err := w.Write(m.Data); err != nil {
			return nil, fmt.Errorf("snapshot of stream %s: %w", stream, err)
		}
	}
}

// restore creates the stream meta names from the snapshot r holds, and returns its state as
// the server restored it. The stream must not exist.
func restore(ctx context.Context, nc *nats.Conn, meta *Meta, r io.Reader) (*server.StreamState, error) {
	name := meta.Config.Name
	req, err := json.Marshal(server.JSApiStreamRestoreRequest{Config: meta.Config, State: meta.State})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("restore of stream %s: %w", name, err)
	}
	// Its answer is awaited whatever ctx does: once the server has begun the restore, only
	// its deliver subject can end it (endRestore), and the answer comes at once.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), chunkIdle)
	msg, err := nc.RequestWithContext(actx, fmt.Sprintf(server.JSApiStreamRestoreT, name), req)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("restore of stream %s: %w", name, err)
	}
	var resp server.JSApiStreamRestoreResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("restore of stream %s: the answer %.200q: %w", name, msg.Data, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("restore of stream %s: %s", name, resp.Error.Description)
	}
	chunk := make([]byte, min(restoreChunk, int(nc.MaxPayload())))
	for {
		if ctx.Err() != nil {
			endRestore(nc, resp.DeliverSubject)
			return nil, fmt.Errorf("restore of stream %s: %w", name, ctx.Err())
		}
		n, err := io.ReadFull(r, chunk)
		if n > 0 {
			if err := restoreChunkSend(ctx, nc, resp.DeliverSubject, chunk[:n], chunkIdle); err != nil {
				if ctx.Err() != nil {
					endRestore(nc, resp.DeliverSubject)
				}
				return nil, fmt.Errorf("restore of stream %s: %w", name, err)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("restore of stream %s: reading the snapshot: %w", name, err)
		}
	}
	// The empty chunk ends it; the server then restores the whole stream before it answers.
	cctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	end, err := nc.RequestWithContext(cctx, resp.DeliverSubject, nil)
	if err != nil {
		return nil, fmt.Errorf("restore of stream %s: the end: %w", name, err)
	}
	var created server.JSApiStreamCreateResponse
	if err := json.Unmarshal(end.Data, &created); err != nil {
		return nil, fmt.Errorf("restore of stream %s: the end %.200q: %w", name, end.Data, err)
	}
	if created.Error != nil {
		return nil, fmt.Errorf("restore of stream %s: %s", name, created.Error.Description)
	}
	if created.StreamInfo == nil {
		return nil, fmt.Errorf("restore of stream %s: the server answered no stream", name)
	}
	return &created.State, nil
}

// endRestore ends a restore the server has begun, for a restore whose context ended: it
// sends the end of the chunks, so that the server restores what it has (and fails, on an
// archive cut short) and is done. Left waiting for chunks, the server's restore lasts until
// its watchdog finds none came for 5 s, and the embedded server's shutdown waits for it.
func endRestore(nc *nats.Conn, subject string) {
	ctx, cancel := context.WithTimeout(context.Background(), chunkIdle)
	defer cancel()
	_, _ = nc.RequestWithContext(ctx, subject, nil)
}

// restoreChunkSend sends one chunk; the server answers nothing when it took it, its error
// otherwise.
func restoreChunkSend(ctx context.Context, nc *nats.Conn, subject string, b []byte, idle time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, idle)
	defer cancel()
	m, err := nc.RequestWithContext(cctx, subject, b)
	if err != nil {
		return err
	}
	if len(m.Data) == 0 {
		return nil
	}
	var r server.JSApiStreamCreateResponse
	if json.Unmarshal(m.Data, &r) == nil && r.Error != nil {
		return errors.New(r.Error.Description)
	}
	return fmt.Errorf("the server answered a chunk with %.200q", strings.TrimSpace(string(m.Data)))
}
