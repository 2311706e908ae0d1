package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/audit"
	"compact/ledger/natstest"
)

// errAny stands for any error in TestAuditCommands' table.
var errAny = errors.New("any error")

// TestAuditCommands runs key, verify, prove and verify-proof against a real ledger stream
// served by audit.Routes.
func TestAuditCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := natstest.Start(t, natstest.SyncAlways)
	_, js := natstest.Connect(t, ns)
	if err := ledger.EnsureStreams(ctx, js, ledger.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	dataDir, c, vkey := checkpointedDocuments(ctx, t, js, 6, 4)
	mux := http.NewServeMux()
	audit.Routes(mux, c, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	_, otherKey, _ := audit.LoadOrCreateKey(t.TempDir())

	proofFile := filepath.Join(t.TempDir(), "proof.json")
	keptFile := filepath.Join(t.TempDir(), "checkpoint.note")
	for _, tc := range []struct {
		name string
		run  func(context.Context, []string) error
		args []string
		want error // nil, errSilentFailure, or usageError{} (any usage error)
	}{
		{"key from the server", runKey, []string{"--server", srv.URL}, nil},
		{"key from the data dir", runKey, []string{"--data", dataDir}, nil},
		{"verify over HTTP", runVerify, []string{"--server", srv.URL, "--key", vkey, "--save-checkpoint", keptFile}, nil},
		{"verify with a kept checkpoint", runVerify, []string{"--server", srv.URL, "--key", vkey, "--checkpoint", keptFile}, nil},
		{"verify over NATS", runVerify, []string{"--nats-url", ns.ClientURL(), "--key", filepath.Join(dataDir, audit.VerifierKeyFile)}, nil},
		{"verify with another key", runVerify, []string{"--server", srv.URL, "--key", otherKey, "--json"}, errSilentFailure},
		{"verify over NATS with another key", runVerify, []string{"--nats-url", ns.ClientURL(), "--key", otherKey, "--server", srv.URL}, errSilentFailure},
		{"verify over NATS from a stream that is not there", runVerify, []string{"--nats-url", ns.ClientURL(), "--key", vkey, "--stream", "NOSUCH"}, errAny},
		{"verify with a malformed key", runVerify, []string{"--server", srv.URL, "--key", "nonsense"}, usageError{}},
		{"prove", runProve, []string{"--server", srv.URL, "-o", proofFile, "--key", vkey, "cli-5"}, nil},
		{"verify-proof", runVerifyProof, []string{"--key", vkey, proofFile}, nil},
		{"verify-proof without a key", runVerifyProof, []string{proofFile}, usageError{}},
		{"prove without an id", runProve, []string{"--server", srv.URL}, usageError{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("COMPACT_KEY", "")
			err := tc.run(ctx, tc.args)
			var ue usageError
			switch {
			case tc.want == nil && err != nil:
				t.Fatal(err)
			case errors.As(tc.want, &ue) && !errors.As(err, &ue):
				t.Fatalf("want a usage error, got %v", err)
			case tc.want == errSilentFailure && !errors.Is(err, errSilentFailure):
				t.Fatalf("want exit 1, got %v", err)
			case tc.want == errAny && err != nil:
				t.Logf("error, as wanted: %v", err)
			case tc.want == errAny && err == nil:
				t.Fatal("want an error, got none")
			}
		})
	}
	if err := runVerifyProof(ctx, []string{"--key", otherKey, proofFile}); !errors.Is(err, audit.ErrBadProof) {
		t.Fatalf("verify-proof with another key: %v", err)
	}
	// --key names what is wrong with it: a file that cannot be read is not taken for a key
	var ue usageError
	for _, tc := range []struct {
		run        func(context.Context, []string) error
		args       []string
		want       string
		notWanting string
	}{
		{runVerifyProof, []string{"--key", t.TempDir(), proofFile}, "is a directory", "verifier id"},
		{runVerify, []string{"--server", srv.URL, "--key", "nonsense"}, `--key "nonsense": no such file, and not a verifier key`, ""},
		{runProve, []string{"--server", srv.URL, "--entity", "UNODC", "--seq", "3"}, "--entity names an event ID's entity", ""},
		// ledger.key for ledger.pub (side by side in the data directory), as a file or its
		// text: named, and never printed, as it was whole in "verifier key %q: malformed"
		{runVerifyProof, []string{"--key", filepath.Join(dataDir, audit.SignerKeyFile), proofFile}, "that is the ledger's signing key", "PRIVATE+KEY"},
		{runVerifyProof, []string{"--key", signingKeyText(t, dataDir), proofFile}, "that is the ledger's signing key", "PRIVATE+KEY"},
		{runVerify, []string{"--server", srv.URL, "--key", filepath.Join(dataDir, audit.SignerKeyFile)}, "that is the ledger's signing key", "PRIVATE+KEY"},
	} {
		err := tc.run(ctx, tc.args)
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) || (tc.notWanting != "" && strings.Contains(err.Error(), tc.notWanting)) {
			t.Errorf("%v: %v, want a usage error saying %q", tc.args, err, tc.want)
		}
	}
}

func signingKeyText(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, audit.SignerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// verify --nats-url with the credentials of a user the embedded server does not let read the
// streams (an entity's) names the reason and says whose credentials to use; it used to wait
// for its own timeout and say only "context deadline exceeded". An auditor's read.
func TestVerifyOverNATSNamesAUserThatMayNotRead(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	publisher := addEntityCLI(t, bin, dir, "UNODC", "publisher")
	auditor := addEntityCLI(t, bin, dir, "AUDIT", "auditor")
	c := serveChild(t, bin, dir)
	if o, _ := publishHTTP(c.httpURL, publisher.Token, "verify-nats-1"); o != acked {
		t.Fatal("the event was not stored")
	}
	seeds := t.TempDir()
	verify := func(creds ledger.Credentials) (string, int) {
		t.Helper()
		seed := filepath.Join(seeds, creds.Entity+".nk")
		if err := os.WriteFile(seed, []byte(creds.NKeySeed), 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runBin(t, bin, "verify", "--key", filepath.Join(dir, audit.VerifierKeyFile),
			"--nats-url", c.natsURL, "--nats-nkey", seed)
		return stderr, code
	}
	if stderr, code := verify(publisher); code != 1 || !strings.Contains(stderr, "may not read the streams") ||
		!strings.Contains(stderr, "Permissions Violation") || !strings.Contains(stderr, "auditor") {
		t.Errorf("verify over NATS as an entity: exit %d, stderr %q; want exit 1 naming the permissions violation and the auditor's credentials", code, stderr)
	}
	if stderr, code := verify(auditor); code != 0 {
		t.Errorf("verify over NATS as an auditor: exit %d, stderr %q", code, stderr)
	}
}

// verify --nats-url with a user that may read the streams but not delete consumers (an
// operator's cluster, permissions of its own): verify deletes the consumers it read with
// when done, and a refusal of that is no reason to fail the verify, which it became when the
// permissions violation of the delete ended the run as "this NATS user may not read".
func TestVerifyOverNATSWithAUserThatMayNotDeleteConsumers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := natstest.Start(t, natstest.SyncAlways, func(o *server.Options) {
		all := &server.SubjectPermission{Allow: []string{">"}}
		o.Users = []*server.User{
			{Username: "ledger", Password: "ledger-pw", Permissions: &server.Permissions{Publish: all, Subscribe: all}},
			{Username: "reader", Password: "reader-pw", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.CONSUMER.DELETE.>"}},
				Subscribe: all}},
		}
	})
	_, js := natstest.Connect(t, ns, nats.UserInfo("ledger", "ledger-pw"))
	if err := ledger.EnsureStreams(ctx, js, ledger.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, vkey := checkpointedDocuments(ctx, t, js, 3, 2)
	u := strings.Replace(ns.ClientURL(), "nats://", "nats://reader:reader-pw@", 1)
	if err := runVerify(ctx, []string{"--nats-url", u, "--key", vkey}); err != nil {
		t.Fatalf("verify as a user that may read the streams but not delete consumers: %v", err)
	}
}

// checkpointedDocuments publishes n documents shared by UNODC on js and starts a checkpointer
// signing every `every` events, in a data directory of its own, flushed once; it closes at
// the test's end.
func checkpointedDocuments(ctx context.Context, t *testing.T, js jetstream.JetStream, n, every int) (dataDir string, c *audit.Checkpointer, vkey string) {
	t.Helper()
	for i := 1; i <= n; i++ {
		ev := ledger.Event{SpecVersion: "1.0", ID: fmt.Sprintf("cli-%d", i), Source: "/entities/UNODC",
			Type: "compact.document.shared", Time: "2025-05-01T00:00:00Z", Data: json.RawMessage(`{"document":"d","title":"t","shared_by":{"entity":"UNODC"},"date":"2025-05-01"}`)}
		body, _ := json.Marshal(&ev)
		if _, err := js.Publish(ctx, ev.Subject(), body); err != nil {
			t.Fatal(err)
		}
	}
	dataDir = t.TempDir()
	signer, vkey, err := audit.LoadOrCreateKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	c, err = audit.Open(ctx, audit.Config{JetStream: js, Dir: filepath.Join(dataDir, "checkpoints"), Signer: signer, VerifierKey: vkey, Every: every})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	if _, err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return dataDir, c, vkey
}
