package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/natstest"
)

// harness is a real in-process nats-server with the COMPACT stream.
type harness struct {
	t   testing.TB
	ctx context.Context
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	seq atomic.Uint64 // last sequence published
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	s := natstest.Start(t)
	nc, js := natstest.Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	if _, err := js.CreateStream(ctx, ledger.StreamConfig(ledger.StreamOptions{})); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, ctx: ctx, srv: s, nc: nc, js: js}
}

// publish appends events as the ingest service stores them and returns the last sequence.
func (h *harness) publish(events ...ledger.Event) uint64 {
	h.t.Helper()
	var futures []jetstream.PubAckFuture
	for _, e := range events {
		body, err := json.Marshal(e)
		if err != nil {
			h.t.Fatal(err)
		}
		f, err := h.js.PublishAsync(e.Subject(), body)
		if err != nil {
			h.t.Fatal(err)
		}
		futures = append(futures, f)
	}
	var last uint64
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			last = max(last, ack.Sequence)
		case err := <-f.Err():
			h.t.Fatal(err)
		case <-time.After(30 * time.Second):
			h.t.Fatal("publish ack timed out")
		}
	}
	for {
		cur := h.seq.Load()
		if last <= cur || h.seq.CompareAndSwap(cur, last) {
			break
		}
	}
	return last
}

func (h *harness) publishRaw(subject string, body []byte) uint64 {
	h.t.Helper()
	ack, err := h.js.Publish(h.ctx, subject, body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.seq.Store(max(h.seq.Load(), ack.Sequence))
	return ack.Sequence
}

func (h *harness) config(dir string) Config {
	return Config{Dir: dir, JS: h.js, BatchMaxWait: 5 * time.Millisecond}
}

// open opens and starts views on dir; they are closed at the end of the test.
func (h *harness) open(cfg Config) *Views {
	h.t.Helper()
	v, err := Open(h.ctx, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = v.Close(context.Background()) })
	if err := v.Start(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) wait(v *Views, seq uint64) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 60*time.Second)
	defer cancel()
	if err := v.WaitFor(ctx, seq); err != nil {
		st, _ := v.Status(h.ctx)
		h.t.Fatalf("%v; status %+v", err, st)
	}
}

// dumpView returns every key of the live generation of a view, without the generation prefix.
func dumpView(t testing.TB, v *Views, view string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := v.read(func(s *snapshot) error {
		g, err := s.live(view)
		if err != nil {
			return err
		}
		r := &reader{r: s.snap, prefix: genPrefix(view, g.Gen)}
		return r.Scan(nil, nil, func(k, val []byte) (bool, error) {
			out[string(k)] = string(val)
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffDumps(a, b map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if bv, ok := b[k]; !ok {
			out = append(out, fmt.Sprintf("only in first: %q=%q", k, a[k]))
		} else if bv != a[k] {
			out = append(out, fmt.Sprintf("differs %q: %q vs %q", k, a[k], bv))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("only in second: %q=%q", k, b[k]))
		}
	}
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... %d more", len(out)-10))
	}
	return strings.Join(out, "\n")
}

func sameViews(t testing.TB, a, b *Views) {
	t.Helper()
	for _, name := range ViewNames {
		da, db := dumpView(t, a, name), dumpView(t, b, name)
		if d := diffDumps(da, db); d != "" {
			t.Errorf("view %s differs (%d vs %d keys):\n%s", name, len(da), len(db), d)
		}
	}
}

type obj = map[string]any

func mkEvent(entity, id, typ string, data any) ledger.Event {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	return ledger.Event{SpecVersion: "1.0", ID: id, Source: ledger.SourcePrefix + entity, Type: typ,
		Time: "2025-06-01T10:00:00Z", DataContentType: "application/json", Data: b}
}

// act is an activity of entity with a title, start and the entity as organizer; extra fields
// are merged into its data.
func act(entity, id, typ, start string, extra obj) ledger.Event {
	d := obj{"title": entity + " " + id, "start": start, "organizers": []obj{{"entity": entity}}}
	switch typ {
	case "compact.meeting.held":
		d["format"] = "expert_meeting"
	case "compact.training.delivered":
		d["format"] = "workshop"
	case "compact.visit.conducted":
		d["purpose"] = "country_visit"
		d["countries"] = []string{"MAR"}
	case "compact.agreement.signed":
		d["instrument"] = "mou"
		d["parties"] = []obj{{"entity": entity}, {"state": "GBR"}}
	case "compact.assistance.provided":
		d["areas"] = []string{"legal"}
		d["countries"] = []string{"NGA"}
	case "compact.publication.released":
		d["kind"] = "report"
	case "compact.statement.made":
		d["speaker"], d["role"], d["quote"] = "Someone", "Head", "A quote"
	case "compact.announcement.made":
		d["kind"] = "launch"
	}
	for k, v := range extra {
		d[k] = v
	}
	return mkEvent(entity, id, typ, d)
}

func correct(entity, id, target string, data any) ledger.Event {
	return mkEvent(entity, id, TypeCorrected, obj{"corrects": target, "data": data, "reason": "fix"})
}

func retract(entity, id, target string) ledger.Event {
	return mkEvent(entity, id, TypeRetracted, obj{"retracts": target, "reason": "withdrawn"})
}

func curate(id, period, itemSource, itemID, action, section string) ledger.Event {
	d := obj{"period": period, "item": obj{"source": ledger.SourcePrefix + itemSource, "id": itemID}, "action": action}
	if section != "" {
		d["section"] = section
	}
	return mkEvent("SECRETARIAT", id, TypeCurated, d)
}

func dataOf(e ledger.Event) obj {
	var d obj
	if err := json.Unmarshal(e.Data, &d); err != nil {
		panic(err)
	}
	return d
}
