package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
)

// TestNATSClientRequests: what an entity's NATS client can send on its own ingest subject.
// Headers that look like JetStream's own are not passed on to the stream, a request with no
// reply subject is still stored exactly once, a reply subject the client does not read
// changes nothing for others, and a client that disconnects before its answer finds its
// event stored once when it re-sends.
func TestNATSClientRequests(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	b := addEntity(t, n, dir, "UNOCT", ledger.RolePublisher)
	nc, err := connectAs(n, a)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ncB, err := connectAs(n, b)
	if err != nil {
		t.Fatal(err)
	}
	defer ncB.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	stored := func(t *testing.T, id string) []jetstream.RawStreamMsg {
		t.Helper()
		st, err := n.JS.Stream(ctx, ledger.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var found []jetstream.RawStreamMsg
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			var e struct{ ID string }
			if json.Unmarshal(m.Data, &e) == nil && e.ID == id {
				found = append(found, *m)
			}
		}
		return found
	}
	request := func(t *testing.T, m *nats.Msg) reply {
		t.Helper()
		resp, err := nc.RequestMsg(m, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r reply
		if err := json.Unmarshal(resp.Data, &r); err != nil {
			t.Fatalf("reply %q: %v", resp.Data, err)
		}
		return r
	}

	t.Run("JetStream headers from the client are not the stream's", func(t *testing.T) {
		first := natsPublish(t, nc, "UNODC", activity("UNODC", "h-0", "first"))
		if first.Results[0].Error != nil {
			t.Fatal(first.Results[0].Error)
		}
		m := nats.NewMsg("compact.ingest.UNODC")
		m.Data = []byte(activity("UNODC", "h-1", "with JetStream headers"))
		client := map[string]string{
			"Nats-Msg-Id":                 "h-0-msg",   // a message id of the client's choosing
			"Nats-Expected-Last-Sequence": "999",       // would refuse the append if passed on
			"Nats-Expected-Stream":        "ELSEWHERE", // idem
			"Nats-Rollup":                 "all",       // would purge the stream if honoured
			"Nats-TTL":                    "1s",        // would expire the event
			"Nats-Batch-Id":               "evil",      // an atomic batch of the client's
			"Compact-Writer":              "forged",    // the ledger's own header
		}
		for k, v := range client {
			m.Header.Set(k, v)
		}
		r := request(t, m)
		if r.Error != nil || len(r.Results) != 1 || r.Results[0].Error != nil || r.Results[0].Duplicate {
			t.Fatalf("event with headers: %+v", r)
		}
		got := stored(t, "h-1")
		if len(got) != 1 {
			t.Fatalf("h-1 stored %d times", len(got))
		}
		for k, v := range client {
			if got[0].Header.Get(k) == v {
				t.Errorf("stored message carries the client's %s: %q", k, v)
			}
		}
		if len(stored(t, "h-0")) != 1 {
			t.Error("h-0 no longer stored once")
		}
	})

	t.Run("no reply subject: stored once, no answer", func(t *testing.T) {
		if err := nc.Publish("compact.ingest.UNODC", []byte(activity("UNODC", "noreply-1", "fire and forget"))); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		deadline := time.Now().Add(10 * time.Second)
		for len(stored(t, "noreply-1")) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("an event published without a reply subject was not stored")
			}
			time.Sleep(50 * time.Millisecond)
		}
		r := natsPublish(t, nc, "UNODC", activity("UNODC", "noreply-1", "fire and forget"))
		if !r.Results[0].Duplicate || r.Results[0].Seq != stored(t, "noreply-1")[0].Sequence {
			t.Fatalf("re-sent with a reply: %+v", r.Results[0])
		}
	})

	t.Run("a reply subject elsewhere reaches no one else", func(t *testing.T) {
		spy, err := ncB.SubscribeSync("_INBOX.>")
		if err != nil {
			t.Fatal(err)
		}
		feed, err := ncB.SubscribeSync("compact.views.>")
		if err != nil {
			t.Fatal(err)
		}
		ncB.Flush()
		for _, reply := range []string{"compact.views.counters", "_INBOX.UNOCT", "compact.ingest.UNODC", "compact.events.UNODC.meeting.held", "$JS.API.STREAM.PURGE.COMPACT"} {
			m := nats.NewMsg("compact.ingest.UNODC")
			m.Reply = reply
			m.Data = []byte(`not json`)
			if err := nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
		}
		nc.Flush()
		natsPublish(t, nc, "UNODC", "[]") // the service has handled the requests before this one
		if m, err := spy.NextMsg(300 * time.Millisecond); err == nil {
			t.Errorf("UNOCT received %s", m.Subject)
		}
		if m, err := feed.NextMsg(300 * time.Millisecond); err == nil {
			t.Errorf("UNOCT's change feed received %s: %q", m.Subject, m.Data)
		}
		if len(stored(t, "")) != 0 {
			t.Error("something without an id was stored")
		}
	})

	t.Run("disconnect before the answer, then re-send", func(t *testing.T) {
		gone, err := connectAs(n, a)
		if err != nil {
			t.Fatal(err)
		}
		inbox := nats.NewInbox()
		if err := gone.PublishRequest("compact.ingest.UNODC", inbox, []byte(activity("UNODC", "gone-1", "asked and left"))); err != nil {
			t.Fatal(err)
		}
		gone.Flush()
		gone.Close()
		deadline := time.Now().Add(10 * time.Second)
		for len(stored(t, "gone-1")) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the request of a client that left was not stored")
			}
			time.Sleep(50 * time.Millisecond)
		}
		r := natsPublish(t, nc, "UNODC", activity("UNODC", "gone-1", "asked and left"))
		if !r.Results[0].Duplicate || r.Results[0].Seq != stored(t, "gone-1")[0].Sequence || len(stored(t, "gone-1")) != 1 {
			t.Fatalf("re-sent after a disconnect: %+v", r.Results[0])
		}
	})

	t.Run("malformed requests name the field; nothing half-written", func(t *testing.T) {
		before := streamMsgs(t, n)
		for _, c := range []struct{ name, body, field string }{
			{"empty", "", ""},
			{"not JSON", "hello", ""},
			{"null", "null", ""},
			{"a number", "42", ""},
		} {
			r := natsPublish(t, nc, "UNODC", c.body)
			msg := ""
			switch {
			case r.Error != nil:
				msg = r.Error.Message
			case len(r.Results) == 1 && r.Results[0].Error != nil:
				msg = r.Results[0].Error.Message
			default:
				t.Errorf("%s: %+v, want an error", c.name, r)
				continue
			}
			if msg == "" {
				t.Errorf("%s: an error with no message", c.name)
			}
		}
		mixed := "[" + activity("UNODC", "mix-ok", "fine") + `,{"specversion":"1.0","id":"mix-bad","source":"/entities/UNODC","type":"compact.meeting.held","time":"2025-05-05T09:00:00Z","data":{"title":"x","start":"2025-13-05","organizers":[{"entity":"UNODC"}],"format":"conference"}}]`
		r := natsPublish(t, nc, "UNODC", mixed)
		if len(r.Results) != 2 || r.Results[0].Error != nil || r.Results[1].Error == nil || r.Results[1].Error.Field != "/data/start" || r.Results[1].ID != "mix-bad" {
			t.Fatalf("mixed batch: %+v", r)
		}
		if got := streamMsgs(t, n); got != before+1 {
			t.Fatalf("stream grew by %d, want the 1 valid event", got-before)
		}
		big := make([]byte, ledger.MaxRequestBytes+1)
		if _, err := nc.Request("compact.ingest.UNODC", big, 2*time.Second); err == nil || !strings.Contains(err.Error(), "maximum payload") {
			t.Errorf("a request over the limit: %v", err)
		}
		if r := natsPublish(t, nc, "UNODC", activity("UNODC", "after-bad", "still served")); r.Results[0].Error != nil {
			t.Fatalf("after the bad requests: %+v", r.Results[0])
		}
	})
}

// An error never echoes kilobytes of the input: a batch whose events carry unknown attribute
// names of thousands of characters (in the envelope or in data) is answered over NATS — the
// reply fits the 8 MiB a NATS message may hold, where echoing the names, JSON-escaped, would
// take 42 MB and the reply could not be sent at all — with each event's error naming its
// field, the long name cut short; nothing is stored.
func TestLongUnknownNamesAreAnsweredOverNATS(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	nc, err := connectAs(n, a)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	long := strings.Repeat("<", 7000)
	for _, c := range []struct{ where, tmpl, prefix string }{
		{"envelope", `{"specversion":"1.0","id":"x%d","source":"/entities/UNODC","type":"compact.meeting.held","time":"2025-05-05T09:00:00Z",%q:1,"data":{"title":"t","start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"}}`, "/<<<<"},
		{"data", `{"specversion":"1.0","id":"x%d","source":"/entities/UNODC","type":"compact.meeting.held","time":"2025-05-05T09:00:00Z","data":{%q:1,"title":"t","start":"2025-05-05","organizers":[{"entity":"UNODC"}],"format":"conference"}}`, "/data/<<<<"},
	} {
		var b strings.Builder
		b.WriteString("[")
		for i := range 1000 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, c.tmpl, i, long)
		}
		b.WriteString("]")
		m, err := nc.Request("compact.ingest.UNODC", []byte(b.String()), 30*time.Second)
		if err != nil {
			t.Fatalf("%s: a %d-byte batch of unknown long names got no answer: %v", c.where, b.Len(), err)
		}
		var r reply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Results) != 1000 {
			t.Fatalf("%s: %d results", c.where, len(r.Results))
		}
		for i, res := range r.Results {
			if res.Error == nil || !strings.HasPrefix(res.Error.Field, c.prefix) || len(res.Error.Field) > 200 || res.Error.Message == "" {
				t.Fatalf("%s: result %d: %+v", c.where, i, res)
			}
		}
	}
	if got := streamMsgs(t, n); got != 0 {
		t.Fatalf("stream holds %d", got)
	}
	if r := natsPublish(t, nc, "UNODC", activity("UNODC", "after-long", "served")); r.Results[0].Error != nil {
		t.Fatal(r.Results[0].Error)
	}
}

// Requests without a reply subject (a plain publish), many at once: each is stored, the
// service answers nobody and stays up. The answer is sent from the goroutine that handled the
// request; micro's Respond, called there, records its failure (no reply subject) in the request
// while micro reads it once the handler returned: a data race (go test -race) on an interface
// value, which a torn read could turn into a crash.
func TestManyRequestsWithoutAReplySubject(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	nc, err := connectAs(n, a)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const count = 200
	for i := range count {
		if err := nc.Publish("compact.ingest.UNODC", []byte(activity("UNODC", fmt.Sprintf("noreply-%d", i), "no reply"))); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	deadline := time.Now().Add(30 * time.Second)
	for streamMsgs(t, n) < count {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d published without a reply subject are stored", streamMsgs(t, n), count)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := natsPublish(t, nc, "UNODC", activity("UNODC", "noreply-0", "no reply")); !r.Results[0].Duplicate {
		t.Fatalf("re-sent with a reply: %+v", r.Results[0])
	}
	if got := streamMsgs(t, n); got != count {
		t.Fatalf("stream holds %d, want %d", got, count)
	}
}

// TestOneEntityCannotTakeEverySlot: an entity that sends requests without waiting for the
// answers has at most MaxInFlightPerEntity of them in flight; the rest are answered at once
// as unavailable, naming the bound, and another entity's request is taken meanwhile. Once
// the held requests are answered, every one taken is stored, and the refused ones were not.
func TestOneEntityCannotTakeEverySlot(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	flooder, err := connectAs(n, addEntity(t, n, dir, "UNODC", ledger.RolePublisher))
	if err != nil {
		t.Fatal(err)
	}
	defer flooder.Close()
	other, err := connectAs(n, addEntity(t, n, dir, "UNOCT", ledger.RolePublisher))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	release := ledger.HoldIngest(n.Service)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()

	const sent = ledger.MaxInFlightPerEntity + 40
	inbox := nats.NewInbox()
	replies, err := flooder.SubscribeSync(inbox + ".*")
	if err != nil {
		t.Fatal(err)
	}
	for i := range sent {
		if err := flooder.PublishRequest("compact.ingest.UNODC", fmt.Sprintf("%s.%d", inbox, i), []byte(activity("UNODC", fmt.Sprintf("flood-%d", i), "flood"))); err != nil {
			t.Fatal(err)
		}
	}
	flooder.Flush()
	// the 40 past the bound are answered while the others are held
	refused := map[string]bool{}
	for len(refused) < sent-ledger.MaxInFlightPerEntity {
		m, err := replies.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("%d refusals while %d requests are held, want %d: %v", len(refused), ledger.MaxInFlightPerEntity, sent-ledger.MaxInFlightPerEntity, err)
		}
		var r reply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Error == nil || !strings.Contains(r.Error.Message, "requests in flight") {
			t.Fatalf("a request past the bound: %s; want unavailable, naming the requests in flight", m.Data)
		}
		refused[m.Subject] = true
	}
	// another entity's request is taken (and held, as every request is): not refused
	msg, err := other.Request("compact.ingest.UNOCT", []byte(activity("UNOCT", "other-1", "other")), 300*time.Millisecond)
	if err == nil {
		t.Fatalf("the other entity's request was answered while every request is held: %s", msg.Data)
	}
	release()
	released = true
	stored := 0
	for stored < ledger.MaxInFlightPerEntity {
		m, err := replies.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("%d of %d held requests answered: %v", stored, ledger.MaxInFlightPerEntity, err)
		}
		if refused[m.Subject] {
			t.Fatalf("a refused request answered twice: %s", m.Data)
		}
		var r reply
		if err := json.Unmarshal(m.Data, &r); err != nil || r.Error != nil || len(r.Results) != 1 || r.Results[0].Seq == 0 {
			t.Fatalf("a held request: %s (%v)", m.Data, err)
		}
		stored++
	}
	// the other entity's request was taken, so it is stored: re-sending it is a duplicate
	if r := natsPublish(t, other, "UNOCT", activity("UNOCT", "other-1", "other")); r.Error != nil || !r.Results[0].Duplicate {
		t.Fatalf("the other entity's request re-sent: %+v; want a duplicate of the one taken while the flood was held", r)
	}
	if got := streamMsgs(t, n); got != ledger.MaxInFlightPerEntity+1 {
		t.Fatalf("the stream holds %d events, want %d (the flood's held requests and the other's)", got, ledger.MaxInFlightPerEntity+1)
	}
}
