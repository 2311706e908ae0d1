package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"compact/ledger"
	"compact/ledger/perf"
)

// postStatus publishes one event as entity with token and returns the HTTP status.
func postStatus(t *testing.T, url, token, entity, id string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/events", bytes.NewReader(perf.Event(entity, id)))
	req.Header.Set("Content-Type", ledger.MediaEvent)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func connectSeed(url, seed string, opts ...nats.Option) (*nats.Conn, error) {
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	return nats.Connect(url, append([]nats.Option{nats.Nkey(pub, kp.Sign)}, opts...)...)
}

// natsStored reports whether a request as entity on nc stored the event.
func natsStored(nc *nats.Conn, entity, id string) bool {
	o, _ := publishNATSAs(nc, entity, id)
	return o == acked
}

func entitiesCLI(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"entities"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// The credential lifecycle against a running `compact serve`, with the real binary: two
// `entities add` at once (different names: both usable at once over HTTP and NATS; the same
// name: one refused), `entities reissue` (the old token and nkey stop working, the open
// connection with the old nkey too, the new ones work) and `entities revoke`; another
// entity's open connection is never dropped, entities.json stays 0600, and no secret
// reaches the server's log.
func TestEntitiesLifecycleAgainstARunningServer(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	c := serveChild(t, bin, dir)

	// two adds at once, different names, and two of the same name
	var wg sync.WaitGroup
	creds := make([]ledger.Credentials, 2)
	for i, e := range []string{"UNODC", "CTED"} {
		wg.Add(1)
		go func() { defer wg.Done(); creds[i] = addEntityCLI(t, bin, dir, e, "publisher") }()
	}
	var sameOK atomic.Int32
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, code := entitiesCLI(t, bin, "add", "UNOCT", "--name", "x", "--data", dir, "--json"); code == 0 {
				sameOK.Add(1)
			}
		}()
	}
	wg.Wait()
	if sameOK.Load() != 1 {
		t.Fatalf("two concurrent 'entities add UNOCT': %d succeeded, want 1", sameOK.Load())
	}
	unodc, cted := creds[0], creds[1]
	waitFor(t, "UNODC and CTED served over HTTP", func() bool {
		return postStatus(t, c.httpURL, unodc.Token, "UNODC", "h-0") == http.StatusCreated &&
			postStatus(t, c.httpURL, cted.Token, "CTED", "h-0") == http.StatusCreated
	})
	var drops atomic.Int32
	ctedConn, err := connectSeed(c.natsURL, cted.NKeySeed,
		nats.DisconnectErrHandler(func(*nats.Conn, error) { drops.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer ctedConn.Close()
	waitFor(t, "CTED served over NATS", func() bool { return natsStored(ctedConn, "CTED", "n-0") })
	held, err := connectSeed(c.natsURL, unodc.NKeySeed, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	waitFor(t, "UNODC served over NATS", func() bool { return natsStored(held, "UNODC", "n-0") })

	// reissue
	out, stderr, code := entitiesCLI(t, bin, "reissue", "UNODC", "--data", dir, "--json")
	if code != 0 {
		t.Fatalf("entities reissue: exit %d, %s", code, stderr)
	}
	var fresh ledger.Credentials
	if err := json.Unmarshal([]byte(out), &fresh); err != nil || fresh.Entity != "UNODC" || fresh.Role != ledger.RolePublisher || fresh.Token == unodc.Token {
		t.Fatalf("entities reissue --json printed %q: %v", out, err)
	}
	waitFor(t, "the old token refused", func() bool {
		return postStatus(t, c.httpURL, unodc.Token, "UNODC", "h-1") == http.StatusUnauthorized
	})
	if s := postStatus(t, c.httpURL, fresh.Token, "UNODC", "h-2"); s != http.StatusCreated {
		t.Fatalf("the new token: %d", s)
	}
	waitFor(t, "the old nkey's open connection cut off", func() bool { return !natsStored(held, "UNODC", "n-1") })
	if nc, err := connectSeed(c.natsURL, unodc.NKeySeed); err == nil {
		nc.Close()
		t.Fatal("a new connection with the old nkey was accepted")
	}
	nc, err := connectSeed(c.natsURL, fresh.NKeySeed)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, "the new nkey served", func() bool { return natsStored(nc, "UNODC", "n-2") })

	// revoke
	if _, stderr, code := entitiesCLI(t, bin, "revoke", "UNODC", "--data", dir); code != 0 {
		t.Fatalf("entities revoke: exit %d, %s", code, stderr)
	}
	waitFor(t, "the revoked token refused", func() bool {
		return postStatus(t, c.httpURL, fresh.Token, "UNODC", "h-3") == http.StatusUnauthorized
	})
	waitFor(t, "the revoked nkey's open connection cut off", func() bool { return !natsStored(nc, "UNODC", "n-3") })
	waitFor(t, "the revoked nkey refused", func() bool {
		nc, err := connectSeed(c.natsURL, fresh.NKeySeed)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	if _, _, code := entitiesCLI(t, bin, "revoke", "NOSUCH", "--data", dir); code != 1 {
		t.Fatalf("revoking an entity not registered: exit %d, want 1", code)
	}
	// readmitted with new credentials
	out, _, code = entitiesCLI(t, bin, "reissue", "UNODC", "--data", dir, "--json")
	var again ledger.Credentials
	if code != 0 || json.Unmarshal([]byte(out), &again) != nil {
		t.Fatalf("reissue after revoke: exit %d, %q", code, out)
	}
	waitFor(t, "the readmitted entity's token", func() bool {
		return postStatus(t, c.httpURL, again.Token, "UNODC", "h-4") == http.StatusCreated
	})

	// a new role comes with new credentials: the publisher's token does not become an auditor's
	if _, _, code := entitiesCLI(t, bin, "reissue", "UNODC", "--role", "boss", "--data", dir); code != 2 {
		t.Fatalf("reissue --role boss: exit %d, want 2", code)
	}
	out, _, code = entitiesCLI(t, bin, "reissue", "UNODC", "--role", "auditor", "--data", dir, "--json")
	var auditor ledger.Credentials
	if code != 0 || json.Unmarshal([]byte(out), &auditor) != nil || auditor.Role != ledger.RoleAuditor {
		t.Fatalf("reissue --role auditor: exit %d, %q", code, out)
	}
	historyStatus := func(token string) int {
		req, _ := http.NewRequest("GET", c.httpURL+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, "the auditor's token reads the history", func() bool { return historyStatus(auditor.Token) == http.StatusOK })
	if s := historyStatus(again.Token); s != http.StatusUnauthorized {
		t.Fatalf("the publisher's token after the role change: %d, want 401", s)
	}
	if s := postStatus(t, c.httpURL, auditor.Token, "UNODC", "h-5"); s != http.StatusForbidden {
		t.Fatalf("the auditor's token publishing: %d, want 403", s)
	}

	// CTED never noticed, the file is private, and no secret is logged
	waitFor(t, "CTED still publishing", func() bool { return natsStored(ctedConn, "CTED", "n-1") })
	if drops.Load() != 0 {
		t.Fatalf("CTED's connection: dropped %d times", drops.Load())
	}
	st, err := os.Stat(filepath.Join(dir, ledger.EntitiesFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("entities.json: %v, %v; want mode 0600", st.Mode(), err)
	}
	c.logMu.Lock()
	logs := c.logs.String()
	c.logMu.Unlock()
	for _, cr := range []ledger.Credentials{unodc, cted, fresh, again, auditor} {
		if strings.Contains(logs, cr.Token) || strings.Contains(logs, cr.NKeySeed) {
			t.Fatalf("a secret of %s is in the server's log", cr.Entity)
		}
	}
}
