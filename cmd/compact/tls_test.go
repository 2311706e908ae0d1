package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a pool trusting it.
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "compact test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// TestTLS: with --tls-cert and --tls-key, HTTP is HTTPS and NATS requires TLS; an entity
// publishes over both.
func TestTLS(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, t.TempDir())
	pub := addEntityCLI(t, bin, dir, "UNODC", "publisher")
	httpPort, natsPort := httpAndNATSPorts(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command(bin, "serve", "--data", dir, "--listen", fmt.Sprintf("127.0.0.1:%d", natsPort),
		"--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--tls-cert", cert, "--tls-key", key)
	cmd.Stdout, cmd.Stderr = syncWriter{&mu, &logs}, syncWriter{&mu, &logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGKILL); <-exited })

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	base := fmt.Sprintf("https://127.0.0.1:%d", httpPort)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		select {
		case <-exited:
			mu.Lock()
			t.Fatalf("serve exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS healthz: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Plain HTTP is refused.
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort)); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered on the TLS port")
	}
	req, _ := http.NewRequest("POST", base+"/v1/events", bytes.NewReader(perfEvent("UNODC", "tls-1")))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("Authorization", "Bearer "+pub.Token)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish over HTTPS: %v %v", err, resp)
	}
	resp.Body.Close()

	kp, _ := nkeys.FromSeed([]byte(pub.NKeySeed))
	pk, _ := kp.PublicKey()
	url := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	if nc, err := nats.Connect(url, nats.Nkey(pk, kp.Sign)); err == nil {
		nc.Close()
		t.Fatal("a plain NATS connection was accepted")
	}
	nc, err := nats.Connect(url, nats.Nkey(pk, kp.Sign), nats.Secure(&tls.Config{RootCAs: pool}))
	if err != nil {
		t.Fatalf("NATS over TLS: %v", err)
	}
	defer nc.Close()
	o, _ := publishNATSAs(nc, "UNODC", "tls-2")
	if o != acked {
		t.Fatal("publish over NATS with TLS not acknowledged")
	}

	// The commands trust the certificate through SSL_CERT_FILE; one that does not trust it
	// says so, rather than asking whether serve is running (it answered).
	for _, args := range [][]string{{"status"}, {"verify", "--key", filepath.Join(dir, "ledger.pub")}} {
		run := func(env ...string) (string, int) {
			cmd := exec.Command(bin, append(args, "--server", base)...)
			cmd.Env = append(os.Environ(), append(env, "COMPACT_TOKEN="+pub.Token)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			return stderr.String(), code
		}
		if stderr, code := run("SSL_CERT_FILE=" + filepath.Join(t.TempDir(), "none.pem")); code != 1 ||
			!strings.Contains(stderr, "SSL_CERT_FILE") || strings.Contains(stderr, "is compact serve running") {
			t.Errorf("%s with the certificate not trusted: exit %d, stderr %q; want 1, naming SSL_CERT_FILE", args[0], code, stderr)
		}
		if args[0] == "status" {
			if stderr, code := run("SSL_CERT_FILE=" + cert); code != 0 {
				t.Errorf("status trusting the certificate through SSL_CERT_FILE: exit %d, %s", code, stderr)
			}
		}
	}
}
