package ledger_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"compact/ledger"
)

// testNode starts a real node (embedded nats-server with JetStream in t.TempDir(), real
// Pebble index) and registers cleanup.
func testNode(t testing.TB, dir string, mod ...func(*ledger.NodeConfig)) *ledger.Node {
	t.Helper()
	cfg := ledger.NodeConfig{
		DataDir: dir,
		Listen:  "127.0.0.1:-1",
		Ingest:  true,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := ledger.StartNode(ctx, cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	return n
}

// addEntity registers an entity and waits until the running node has picked it up.
func addEntity(t testing.TB, n *ledger.Node, dir, entity string, role ledger.Role) *ledger.Credentials {
	t.Helper()
	creds, err := ledger.AddEntity(t.Context(), dir, entity, entity+" full name", role)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := n.Registry.Lookup(entity); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entity %s not picked up by the running node", entity)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The NATS accounts are applied right after the registry; give the reload a moment by
	// connecting until it succeeds.
	deadline = time.Now().Add(10 * time.Second)
	for {
		nc, err := connectAs(n, creds)
		if err == nil && role.CanPublish() {
			// Connecting works once the account exists; the ingest import a moment later.
			_, err = nc.Request(ledger.IngestSubjectPrefix+entity, []byte("[]"), time.Second)
		}
		if nc != nil {
			nc.Close()
		}
		if err == nil {
			return creds
		}
		if time.Now().After(deadline) {
			t.Fatalf("entity %s cannot connect to NATS: %v", entity, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func connectAs(n *ledger.Node, c *ledger.Credentials, opts ...nats.Option) (*nats.Conn, error) {
	o, err := nkeyOption(c.NKeySeed)
	if err != nil {
		return nil, err
	}
	return nats.Connect(n.ClientURL(), append([]nats.Option{o}, opts...)...)
}

func activity(entity, id, title string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/entities/%s","type":"compact.meeting.held","time":"2025-05-05T09:00:00Z","data":{"title":%q,"start":"2025-05-05","end":"2025-05-08","organizers":[{"entity":%q}],"format":"conference"}}`, id, entity, title, entity)
}

type reply struct {
	Results []struct {
		ID        string `json:"id"`
		Seq       uint64 `json:"seq"`
		Duplicate bool   `json:"duplicate"`
		Error     *struct {
			Field, Message, Reason string
		} `json:"error"`
	} `json:"results"`
	Error *struct{ Field, Message, Reason string } `json:"error"`
}

func natsPublish(t *testing.T, nc *nats.Conn, entity, body string) reply {
	t.Helper()
	m, err := nc.Request("compact.ingest."+entity, []byte(body), 10*time.Second)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	var r reply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("reply %q: %v", m.Data, err)
	}
	return r
}

func httpPublish(t *testing.T, url, token, contentType, body string) (int, reply) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("reply %q: %v", b, err)
	}
	return resp.StatusCode, r
}

func httpServer(t *testing.T, n *ledger.Node) *httptest.Server {
	mux := http.NewServeMux()
	(&ledger.HTTPHandlers{Ingester: n.Ingester, Auth: &ledger.Auth{Registry: n.Registry}, JS: n.JS, Logger: slog.Default()}).Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestPublishOverNATSAndHTTP(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	nc, err := connectAs(n, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	r := natsPublish(t, nc, "UNODC", activity("UNODC", "m-1", "CCPCJ session"))
	if len(r.Results) != 1 || r.Results[0].Error != nil || r.Results[0].Seq != 1 || r.Results[0].Duplicate {
		t.Fatalf("first publish: %+v", r)
	}
	r = natsPublish(t, nc, "UNODC", activity("UNODC", "m-1", "CCPCJ session"))
	if r.Results[0].Seq != 1 || !r.Results[0].Duplicate {
		t.Fatalf("re-publish: want duplicate of seq 1, got %+v", r.Results[0])
	}

	srv := httpServer(t, n)
	batch := "[" + activity("UNODC", "m-2", "two") + "," + activity("UNODC", "m-1", "CCPCJ session") + "," + `{"specversion":"1.0"}` + "]"
	status, hr := httpPublish(t, srv.URL, creds.Token, ledger.MediaBatch, batch)
	if status != http.StatusMultiStatus {
		t.Fatalf("mixed batch: status %d, want 207: %+v", status, hr)
	}
	if hr.Results[0].Seq != 2 || hr.Results[1].Seq != 1 || !hr.Results[1].Duplicate || hr.Results[2].Error == nil {
		t.Fatalf("mixed batch results: %+v", hr.Results)
	}
	if hr.Results[2].Error.Field != "/id" {
		t.Fatalf("missing id: field %q, want /id", hr.Results[2].Error.Field)
	}
	status, _ = httpPublish(t, srv.URL, creds.Token, ledger.MediaEvent, activity("UNODC", "m-3", "three"))
	if status != http.StatusCreated {
		t.Fatalf("new event: status %d, want 201", status)
	}
	status, _ = httpPublish(t, srv.URL, creds.Token, ledger.MediaEvent, activity("UNODC", "m-3", "three"))
	if status != http.StatusOK {
		t.Fatalf("duplicate: status %d, want 200", status)
	}
}

// secondWriter is another Appender on n's stream with an index of its own (a second ingest
// process), behind an Ingester; it is closed with the test.
func secondWriter(t testing.TB, n *ledger.Node, name string, cfg ledger.AppenderConfig) *ledger.Ingester {
	t.Helper()
	ix, err := ledger.OpenIndex(filepath.Join(t.TempDir(), "index-"+name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	nc, err := n.Server.Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cfg.Conn, cfg.Index = nc, ix
	ap, err := ledger.NewAppender(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close(context.Background()) })
	return &ledger.Ingester{Appender: ap, Validator: n.Ingester.Validator}
}

// A started node answers at once: StartNode returns only after the server holds the ingest
// service's subscription. Without that, a publisher quick off the mark got "no responders"
// (seen under -race, right after a restart).
func TestStartedNodeHasTheIngestSubscription(t *testing.T) {
	for i := range 3 {
		n := testNode(t, t.TempDir())
		acc, err := n.Server.NATS().LookupAccount(ledger.LedgerAccount)
		if err != nil {
			t.Fatal(err)
		}
		if !acc.SubscriptionInterest(ledger.IngestSubjectPrefix + "UNODC") {
			t.Fatalf("start %d: the server has no subscription on %sUNODC when StartNode returns", i, ledger.IngestSubjectPrefix)
		}
		n.Close(context.Background())
	}
}

// --listen with port 0 listens on a free port, as net.Listen does, not on NATS's default.
func TestListenPortZeroPicksAFreePort(t *testing.T) {
	n := testNode(t, t.TempDir(), func(c *ledger.NodeConfig) { c.Listen = "127.0.0.1:0" })
	u, err := url.Parse(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if p := u.Port(); p == "" || p == "0" || p == "4222" {
		t.Fatalf("--listen 127.0.0.1:0 listens at %s", n.ClientURL())
	}
	nc, err := nats.Connect(n.ClientURL())
	if err == nil {
		nc.Close() // no user: refused, but the server answered at that address
	}
	if err != nil && !strings.Contains(err.Error(), "uthorization") {
		t.Fatalf("nothing answers at %s: %v", n.ClientURL(), err)
	}
}

// The read side's connection goes over loopback TCP to the embedded server's own port, as the
// ledger (it reads the stream), and is not the writers' in-process one: an address the server
// listens on is used as it is, every address (0.0.0.0) becomes 127.0.0.1.
func TestReadSideConnectsOverLoopback(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		t.Run(listen, func(t *testing.T) {
			n := testNode(t, t.TempDir(), func(c *ledger.NodeConfig) { c.Listen = listen })
			if n.ReadConn == n.Conn || n.ReadJS == n.JS {
				t.Fatal("the read side shares the writers' connection")
			}
			srv, err := url.Parse(n.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			got, err := url.Parse(n.ReadConn.ConnectedUrl())
			if err != nil {
				t.Fatal(err)
			}
			if got.Hostname() != "127.0.0.1" || got.Port() != srv.Port() {
				t.Fatalf("the read side is connected to %s, want 127.0.0.1 at the server's port %s", got, srv.Port())
			}
			info, err := n.ReadJS.Stream(t.Context(), ledger.StreamName)
			if err != nil {
				t.Fatalf("the read side cannot read the ledger stream: %v", err)
			}
			if info.CachedInfo().Config.Name != ledger.StreamName {
				t.Fatalf("stream %q", info.CachedInfo().Config.Name)
			}
		})
	}
}

// A port taken by another program fails the start at once, naming the reason, rather than
// after the 30 s the server is given to get ready.
func TestListenOnATakenPortFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = ledger.StartNode(ctx, ledger.NodeConfig{DataDir: t.TempDir(), Listen: ln.Addr().String(), Ingest: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("StartNode on a taken port: %v, want the server's reason", err)
	}
}

// A batch is a JSON array whatever JSON white space precedes it: the check that the body is
// an array looked at its first 64 bytes only, so an array after 64 bytes of white space (a
// template's blank lines) was refused as not one. A byte order mark is named as such.
func TestBatchAfterWhiteSpace(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	srv := httpServer(t, n)
	body := strings.Repeat("\n", 100) + "[" + activity("UNODC", "ws-1", "x") + "]"
	if status, r := httpPublish(t, srv.URL, creds.Token, ledger.MediaBatch, body); status != http.StatusCreated || len(r.Results) != 1 {
		t.Fatalf("a batch after 100 newlines: %d %+v, want 201 and its result", status, r)
	}
	status, r := httpPublish(t, srv.URL, creds.Token, ledger.MediaBatch, "\ufeff["+activity("UNODC", "ws-2", "x")+"]")
	if status != http.StatusBadRequest || r.Error == nil || !strings.Contains(r.Error.Message, "byte order mark") {
		t.Fatalf("a batch after a byte order mark: %d %+v, want 400 naming the byte order mark", status, r)
	}
}

// The ingest takes bodies as they are: one with a Content-Encoding (gzip, as HTTP clients
// send large bodies) is refused with 415 saying so (RFC 9110 §8.4), not decoded as an event
// and refused as "not valid UTF-8".
func TestEncodedBodyIsRefusedAsSuch(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	srv := httpServer(t, n)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	io.WriteString(w, activity("UNODC", "gz-1", "x"))
	w.Close()
	for _, c := range []struct {
		encoding string
		body     []byte
		status   int
	}{
		{"gzip", gz.Bytes(), http.StatusUnsupportedMediaType},
		{"identity", []byte(activity("UNODC", "gz-2", "x")), http.StatusCreated},
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/events", bytes.NewReader(c.body))
		req.Header.Set("Content-Type", ledger.MediaEvent)
		req.Header.Set("Content-Encoding", c.encoding)
		req.Header.Set("Authorization", "Bearer "+creds.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || (c.status == http.StatusUnsupportedMediaType && !strings.Contains(string(b), "Content-Encoding")) {
			t.Errorf("Content-Encoding %s: %d %s, want %d", c.encoding, resp.StatusCode, b, c.status)
		}
	}
}

// A byte that is not UTF-8 refuses the event that holds it, at the member that holds it, and
// no other: it used to refuse the whole batch ("not valid UTF-8", no event, no field).
func TestInvalidUTF8IsRefusedEventByEvent(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	srv := httpServer(t, n)
	bad := strings.Replace(activity("UNODC", "u-2", "cafe"), "cafe", "caf\xe9", 1) // a Latin-1 é
	batch := "[" + activity("UNODC", "u-1", "one") + "," + bad + "," + activity("UNODC", "u-3", "three") + "]"
	status, r := httpPublish(t, srv.URL, creds.Token, ledger.MediaBatch, batch)
	if status != http.StatusMultiStatus || len(r.Results) != 3 || r.Results[0].Seq == 0 || r.Results[2].Seq == 0 ||
		r.Results[1].ID != "u-2" || r.Results[1].Error == nil || r.Results[1].Error.Field != "/data/title" || !strings.Contains(r.Results[1].Error.Message, "UTF-8") {
		t.Fatalf("a batch with one event not UTF-8: %d %+v %+v, want 207, the others stored and u-2 refused at /data/title", status, r, r.Error)
	}
	status, r = httpPublish(t, srv.URL, creds.Token, ledger.MediaEvent, strings.Replace(bad, `"title"`, "\"ti\xfftle\"", 1))
	if status != http.StatusBadRequest || len(r.Results) != 1 || r.Results[0].Error == nil || !strings.HasPrefix(r.Results[0].Error.Field, "/data/ti") {
		t.Fatalf("a member name not UTF-8: %d %+v, want 400 at that member", status, r)
	}
}

// A second node on a data directory in use is refused before it starts anything there,
// naming the reason; it used to start its embedded NATS server on the running one's
// JetStream store and rewrite its nats.conf, and fail only at the dedup index ("resource
// temporarily unavailable"). Once the first is closed, the directory is free again.
func TestASecondNodeOnADataDirInUseIsRefused(t *testing.T) {
	dir := t.TempDir()
	first := testNode(t, dir)
	conf, err := os.ReadFile(filepath.Join(dir, "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := ledger.NodeConfig{DataDir: dir, Listen: "127.0.0.1:-1", Ingest: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	second, err := ledger.StartNode(ctx, cfg)
	if err == nil {
		second.Close(ctx)
	}
	if !errors.Is(err, ledger.ErrDataDirInUse) || !strings.Contains(err.Error(), "--data of its own") {
		t.Fatalf("a second node on %s: %v, want ErrDataDirInUse", dir, err)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "nats.conf")); string(now) != string(conf) {
		t.Error("the refused node rewrote the running one's nats.conf")
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := ledger.StartNode(ctx, cfg)
	if err != nil {
		t.Fatalf("a node on %s once the first is closed: %v", dir, err)
	}
	again.Close(ctx)
}
