package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"compact/ledger"
)

// Adding entities to a running node keeps every other entity's open connection: it is not
// dropped or reconnected by the accounts' reload, and it publishes on as before; the new
// entity publishes at once over NATS and HTTP.
func TestAddingAnEntityKeepsOtherConnections(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	var drops atomic.Int32
	held, err := connectAs(n, a,
		nats.DisconnectErrHandler(func(*nats.Conn, error) { drops.Add(1) }),
		nats.ReconnectHandler(func(*nats.Conn) { drops.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := held.SubscribeSync("compact.views.>"); err != nil {
		t.Fatal(err)
	}
	srv := httpServer(t, n)
	for _, e := range []string{"CTED", "UNOCT", "INTERPOL"} {
		c := addEntity(t, n, dir, e, ledger.RolePublisher)
		// A request that falls into an accounts' reload can get "no responders" (nats-server
		// re-subscribes every account's service imports; a known gap, see the report): the
		// connection itself must stay, and the request succeed once re-sent.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			m, err := held.Request("compact.ingest.UNODC", []byte(activity("UNODC", "held-"+e, "while adding")), 10*time.Second)
			if err == nil {
				if strings.Contains(string(m.Data), `"error"`) {
					t.Fatalf("held connection after adding %s: %s", e, m.Data)
				}
				break
			}
			if !errors.Is(err, nats.ErrNoResponders) || time.Now().After(deadline) {
				t.Fatalf("held connection after adding %s: %v", e, err)
			}
		}
		if status, r := httpPublish(t, srv.URL, c.Token, ledger.MediaEvent, activity(e, "new-1", "new entity")); status != http.StatusCreated {
			t.Fatalf("%s over HTTP right after being added: %d %+v", e, status, r)
		}
		nc, err := connectAs(n, c)
		if err != nil {
			t.Fatal(err)
		}
		if r := natsPublish(t, nc, e, activity(e, "new-2", "new entity")); r.Results[0].Error != nil {
			t.Fatalf("%s over NATS: %+v", e, r.Results[0].Error)
		}
		nc.Close()
	}
	if got := drops.Load(); got != 0 {
		t.Fatalf("UNODC's open connection was dropped or reconnected %d times while entities were added", got)
	}
	if !held.IsConnected() {
		t.Fatal("held connection closed")
	}
}

// An entity's role changed by hand (publisher to auditor) takes effect on the running node:
// its token no longer publishes, its open NATS connection in its old account can no longer
// reach the ingest service.
func TestRoleChangeOnTheRunningNode(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	held, err := connectAs(n, a)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	srv := httpServer(t, n)
	editEntities(t, dir, func(_ map[string]any, r []map[string]any) []map[string]any {
		r[0]["role"] = "auditor"
		return r
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, err := n.Registry.Lookup("UNODC"); err == nil && p.Role == ledger.RoleAuditor {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("role change not picked up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, r := httpPublish(t, srv.URL, a.Token, ledger.MediaEvent, activity("UNODC", "x-1", "as auditor")); status != http.StatusForbidden {
		t.Fatalf("publishing over HTTP as an auditor: %d %+v", status, r)
	}
	for {
		_, err := held.Request("compact.ingest.UNODC", []byte(activity("UNODC", "x-2", "as auditor")), time.Second)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the held publisher connection still reaches the ingest service after the role became auditor")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An auditor demoted to publisher by hand loses the reader's rights over NATS on the running
// node, on a connection it opened before too.
func TestAuditorDemotedLosesReadsOnItsOpenConnection(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	a := addEntity(t, n, dir, "AUDIT", ledger.RoleAuditor)
	held, err := connectAs(n, a)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := held.Request("$JS.API.STREAM.INFO."+ledger.StreamName, nil, 2*time.Second); err != nil {
		t.Fatalf("auditor reading stream info: %v", err)
	}
	editEntities(t, dir, func(_ map[string]any, r []map[string]any) []map[string]any {
		r[0]["role"] = "publisher"
		return r
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := held.Request("$JS.API.STREAM.INFO."+ledger.StreamName, nil, time.Second)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the demoted auditor's open connection still reads the stream")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Over NATS as over HTTP, only the Secretariat opens a counter: a publisher's opening balance
// on its own ingest subject is refused, naming the type, and stores nothing.
func TestSecretariatOnlyTypesOverNATS(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	pub := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	sec := addEntity(t, n, dir, "SECRETARIAT", ledger.RoleSecretariat)
	opening := `{"specversion":"1.0","id":"open-1","source":"/entities/%s","type":"compact.counter.opened","time":"2025-05-01T00:00:00Z","data":{"counter":"documents_shared","value":3,"date":"2025-04-30"}}`
	ncP, err := connectAs(n, pub)
	if err != nil {
		t.Fatal(err)
	}
	defer ncP.Close()
	before := streamMsgs(t, n)
	if r := natsPublishAfterReload(t, ncP, "UNODC", fmt.Sprintf(opening, "UNODC")); r.Results[0].Error == nil || r.Results[0].Error.Field != "/type" {
		t.Fatalf("publisher opening a counter over NATS: %+v", r.Results[0])
	}
	if got := streamMsgs(t, n); got != before {
		t.Fatalf("stream grew from %d to %d", before, got)
	}
	ncS, err := connectAs(n, sec)
	if err != nil {
		t.Fatal(err)
	}
	defer ncS.Close()
	if r := natsPublishAfterReload(t, ncS, "SECRETARIAT", fmt.Sprintf(opening, "SECRETARIAT")); r.Results[0].Error != nil {
		t.Fatalf("secretariat opening a counter over NATS: %+v", r.Results[0].Error)
	}
}

// Correcting or retracting a Secretariat-only event (an opening balance, a curation) is the
// Secretariat's alone, as publishing one is: an entity that was the Secretariat and is a
// publisher now (its role changed) can no longer rewrite the opening balance it published,
// nor withdraw a curation, over HTTP or NATS.
func TestSecretariatOnlyEventsAreCorrectedOnlyByTheSecretariat(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	sec := addEntity(t, n, dir, "SECRETARIAT", ledger.RoleSecretariat)
	pub := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	srv := httpServer(t, n)
	opening := `{"specversion":"1.0","id":"open-1","source":"/entities/SECRETARIAT","type":"compact.counter.opened","time":"2025-05-01T00:00:00Z","data":{"counter":"documents_shared","value":3600,"date":"2025-04-30"}}`
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, opening); status != http.StatusCreated {
		t.Fatalf("opening: %d %+v", status, r)
	}
	httpPublish(t, srv.URL, pub.Token, ledger.MediaEvent, activity("UNODC", "m-1", "x"))
	curate := `{"specversion":"1.0","id":"cur-1","source":"/entities/SECRETARIAT","type":"compact.review.curated","time":"2025-05-01T00:00:00Z","data":{"period":"2025-05","item":{"source":"/entities/UNODC","id":"m-1"},"action":"omit"}}`
	if status, r := httpPublish(t, srv.URL, sec.Token, ledger.MediaEvent, curate); status != http.StatusCreated {
		t.Fatalf("curation: %d %+v", status, r)
	}
	// the Secretariat becomes a publisher
	creds, err := ledger.ReissueCredentialsAs(t.Context(), dir, "SECRETARIAT", ledger.RolePublisher)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if p, err := n.Registry.Authenticate(creds.Token); err == nil && p.Role == ledger.RolePublisher {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("role change not picked up")
		}
	}
	// The accounts' reload that follows the role change briefly leaves even the ledger's own
	// JetStream API without a responder (nats-server re-subscribes every account's service
	// imports on a reload): count the stream's messages through it.
	msgs := func() uint64 {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			st, err := n.JS.Stream(context.Background(), ledger.StreamName)
			if err == nil {
				return st.CachedInfo().State.Msgs
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
	}
	before := msgs()
	correct := `{"specversion":"1.0","id":"fix-1","source":"/entities/SECRETARIAT","type":"compact.event.corrected","time":"2025-05-02T00:00:00Z","data":{"corrects":"open-1","reason":"r","data":{"counter":"documents_shared","value":999999,"date":"2025-04-30"}}}`
	retractOpening := `{"specversion":"1.0","id":"ret-1","source":"/entities/SECRETARIAT","type":"compact.event.retracted","time":"2025-05-02T00:00:00Z","data":{"retracts":"open-1","reason":"r"}}`
	retractCuration := `{"specversion":"1.0","id":"ret-2","source":"/entities/SECRETARIAT","type":"compact.event.retracted","time":"2025-05-02T00:00:00Z","data":{"retracts":"cur-1","reason":"r"}}`
	for _, ev := range []string{correct, retractOpening, retractCuration} {
		if status, r := httpPublish(t, srv.URL, creds.Token, ledger.MediaEvent, ev); status != http.StatusForbidden {
			t.Errorf("a publisher changing a Secretariat-only event over HTTP: %d %+v; want 403", status, r)
		}
	}
	// The registry takes the new key before the server's accounts are reloaded with it: a
	// connection may be refused for that moment.
	var nc *nats.Conn
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if nc, err = connectAs(n, creds); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	defer nc.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := nc.Request("compact.ingest.SECRETARIAT", []byte("[]"), time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new nkey not served")
		}
	}
	var m *nats.Msg
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m, err = nc.Request("compact.ingest.SECRETARIAT", []byte(strings.ReplaceAll(correct, "fix-1", "fix-2")), 10*time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	if !strings.Contains(string(m.Data), "only the Secretariat may correct or retract") {
		t.Errorf("a publisher correcting an opening balance over NATS: %s", m.Data)
	}
	if got := msgs(); got != before {
		t.Fatalf("stream grew from %d to %d", before, got)
	}
}

// natsPublishAfterReload is natsPublish, re-sent while the request finds no responder: an
// accounts' reload (an entity just added) briefly leaves the ingest import without one.
func natsPublishAfterReload(t *testing.T, nc *nats.Conn, entity, body string) reply {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m, err := nc.Request("compact.ingest."+entity, []byte(body), 10*time.Second)
		if err == nil {
			var r reply
			if err := json.Unmarshal(m.Data, &r); err != nil {
				t.Fatalf("reply %q: %v", m.Data, err)
			}
			return r
		}
		if !errors.Is(err, nats.ErrNoResponders) || time.Now().After(deadline) {
			t.Fatalf("request: %v", err)
		}
	}
}
