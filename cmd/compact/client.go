package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"compact/ledger"
)

// clientFlags are the flags of every command that talks to a running server.
type clientFlags struct {
	server string
	token  string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", cmp.Or(os.Getenv("COMPACT_SERVER"), "http://127.0.0.1:8080"), "server URL (or COMPACT_SERVER)")
	// The token is a secret: it comes from the environment without becoming the flag's
	// default, which -h would print (and a pasted help text would hand on).
	c.token = strings.TrimSpace(os.Getenv("COMPACT_TOKEN"))
	fs.Var(secretValue{&c.token}, "token", "bearer `token` (or COMPACT_TOKEN)")
}

// secretValue is a string flag whose value is never shown: its String is always empty, so
// the usage prints no default. The value is trimmed: a token read from a file keeps its
// line end (a "\r" from one saved on Windows), which no header may carry.
type secretValue struct{ p *string }

func (s secretValue) String() string     { return "" }
func (s secretValue) Set(v string) error { *s.p = strings.TrimSpace(v); return nil }

// checkServerFlag is nil when fs has no --server or it holds an http:// or https:// URL with
// a host, and otherwise a usage error naming the flag (or COMPACT_SERVER, its default):
// "127.0.0.1:8080" would otherwise fail at the first request, as a URL the request could not
// be made of, with a hint to check that serve runs.
func checkServerFlag(fs *flag.FlagSet) error {
	f := fs.Lookup("server")
	if f == nil {
		return nil
	}
	v := f.Value.String()
	if u, err := url.Parse(v); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == "" {
		return nil
	}
	from := "--server"
	if !flagGiven(fs, "server") {
		from = "COMPACT_SERVER"
	}
	return usagef("%s %q: not a server URL: want http:// or https:// and a host, e.g. http://127.0.0.1:8080", from, v)
}

// do sends a request and returns the response; a non-2xx status with a JSON error body is
// turned into an error carrying the server's message.
func (c *clientFlags) do(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.server, "/")+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil && ctx.Err() != nil {
		return nil, err // the command was asked to stop: the server is not in question
	}
	if err != nil {
		return nil, ledger.Unreachable(err, c.server)
	}
	return resp, nil
}

// get fetches path and fails on a non-200 answer, quoting the server's error.
func (c *clientFlags) get(ctx context.Context, path string) (*http.Response, error) {
	resp, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, &statusError{Path: path, Status: resp.Status, Code: resp.StatusCode, Message: serverError(resp.Body)}
	}
	return resp, nil
}

// statusError is a server's answer other than 200 to a GET, with the message it gave.
type statusError struct {
	Path    string
	Status  string // "404 Not Found"
	Code    int
	Message string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: %s: %s", e.Path, e.Status, e.Message)
}

func serverError(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	return strings.TrimSpace(string(b))
}

// getJSON fetches path and decodes its JSON body into v; it also returns the body as sent,
// for --json.
func (c *clientFlags) getJSON(ctx context.Context, path string, v any) ([]byte, error) {
	resp, err := c.get(ctx, path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return body, nil
}
