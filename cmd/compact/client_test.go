package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// --server and COMPACT_SERVER, --token and COMPACT_TOKEN: the flag wins over the variable;
// a server that is not an http(s) URL is a usage error naming where it came from (it used to
// fail at the first request: "first path segment in URL cannot contain colon", with a hint
// to check that serve runs); a token's line end (a token file saved on Windows) is not sent,
// where it used to fail every request with "invalid header field value".
func TestClientFlagsServerAndToken(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
	}))
	t.Cleanup(srv.Close)
	parse := func(args ...string) (*clientFlags, error) {
		fs := flag.NewFlagSet("status", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var c clientFlags
		c.register(fs)
		return &c, parseFlags(fs, args)
	}
	for _, tc := range []struct {
		env, token string // COMPACT_SERVER, COMPACT_TOKEN
		args       []string
		err        string // a usage error holding this, "" for none
		auth       string // the Authorization header sent
	}{
		{env: srv.URL, token: "ctk_env\r\n", auth: "Bearer ctk_env"},
		{env: srv.URL + "/", token: "ctk_env", args: []string{"--token", " ctk_flag\n"}, auth: "Bearer ctk_flag"},
		{env: "http://127.0.0.1:1", args: []string{"--server", srv.URL}, auth: ""},
		{env: "127.0.0.1:8080", err: `COMPACT_SERVER "127.0.0.1:8080": not a server URL`},
		{env: "127.0.0.1:8080", args: []string{"--server", srv.URL}, auth: ""},
		{env: srv.URL, args: []string{"--server", "localhost:8080"}, err: `--server "localhost:8080": not a server URL`},
		{env: srv.URL, args: []string{"--server", "ftp://host"}, err: `--server "ftp://host": not a server URL`},
		{env: srv.URL, args: []string{"--server", "http://"}, err: `--server "http://": not a server URL`},
	} {
		t.Setenv("COMPACT_SERVER", tc.env)
		t.Setenv("COMPACT_TOKEN", tc.token)
		c, err := parse(tc.args...)
		var ue usageError
		switch {
		case tc.err != "":
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("COMPACT_SERVER=%q %q: %v, want a usage error with %q", tc.env, tc.args, err, tc.err)
			}
			continue
		case err != nil:
			t.Errorf("COMPACT_SERVER=%q %q: %v", tc.env, tc.args, err)
			continue
		}
		auth = "unset"
		resp, err := c.get(t.Context(), "/v1/status")
		if err != nil {
			t.Errorf("COMPACT_SERVER=%q COMPACT_TOKEN=%q %q: %v", tc.env, tc.token, tc.args, err)
			continue
		}
		resp.Body.Close()
		if auth != tc.auth {
			t.Errorf("COMPACT_SERVER=%q COMPACT_TOKEN=%q %q: sent Authorization %q, want %q", tc.env, tc.token, tc.args, auth, tc.auth)
		}
	}
}

// A request the command itself ended (Ctrl-C) does not ask whether serve is running.
func TestAnEndedRequestDoesNotBlameTheServer(t *testing.T) {
	c := &clientFlags{server: "http://127.0.0.1:1"}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.get(ctx, "/v1/status")
	if err == nil || strings.Contains(err.Error(), "is compact serve running") {
		t.Errorf("a request whose context ended: %v, want its error without the hint about serve", err)
	}
}
