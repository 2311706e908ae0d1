package audit

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"compact/ledger"
)

// Client reads the audit endpoints of a running server (see Routes). It implements
// Source and LeafHashSource, so an auditor can run VerifySource over HTTP without
// trusting the server: everything it returns is checked against the signed checkpoints.
type Client struct {
	// BaseURL of the server, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is an auditor's (or admin's) bearer token.
	Token string
	// HTTP client. Default http.DefaultClient.
	HTTP *http.Client
	// IdleTimeout ends a request that receives nothing for that long, its answer's first
	// byte or any later one, with ErrStalled. A read of the whole history takes as long as
	// it takes; a server that stops sending in the middle must not hold an auditor forever.
	// Default 1 minute.
	IdleTimeout time.Duration
	// ProofWait bounds how long Proof waits, as the server's Retry-After asks, for a proof
	// the server cannot give yet: the event is newer than the latest checkpoint (409), or the
	// tree is still folding it in (503). Default 1 minute; negative: no waiting.
	ProofWait time.Duration
}

// Defaults of Client's IdleTimeout and ProofWait.
const (
	DefaultIdleTimeout = time.Minute
	DefaultProofWait   = time.Minute
)

func (c *Client) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	idle := cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(idle, func() {
		cancel(fmt.Errorf("%w: nothing from %s for %v (GET %s)", ErrStalled, c.BaseURL, idle, path))
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		timer.Stop()
		cancel(nil)
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := cmp.Or(c.HTTP, http.DefaultClient).Do(req)
	if err != nil {
		timer.Stop()
		cause := context.Cause(ctx)
		cancel(nil)
		switch {
		case errors.Is(cause, ErrStalled):
			err = cause
		case cause != nil: // the caller ended it (Ctrl-C): the server is not in question
			return nil, err
		}
		return nil, ledger.Unreachable(err, c.BaseURL)
	}
	resp.Body = &idleBody{rc: resp.Body, ctx: ctx, timer: timer, idle: idle, cancel: cancel}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		herr := &HTTPError{Path: path, Status: resp.StatusCode, Message: msg}
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n >= 0 {
			herr.RetryAfter = time.Duration(n) * time.Second
		}
		return nil, herr
	}
	return resp, nil
}

// HTTPError is a non-200 answer of the server.
type HTTPError struct {
	Path    string
	Status  int
	Message string
	// RetryAfter is the server's Retry-After (in seconds): the same request may succeed
	// after it. Zero when the answer had none.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	hint := ""
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		hint = " (give an auditor's token: --token or COMPACT_TOKEN)"
	}
	return fmt.Sprintf("GET %s: %d %s: %s%s", e.Path, e.Status, http.StatusText(e.Status), e.Message, hint)
}

// Key fetches the verifier key the server says it signs with. An auditor should get the
// key from a channel other than the server it audits, and pass it to verify with --key.
func (c *Client) Key(ctx context.Context) (string, error) {
	resp, err := c.get(ctx, "/v1/key", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Checkpoints implements Source, reading GET /v1/checkpoints a line at a time.
func (c *Client) Checkpoints(ctx context.Context, fn func(CheckpointRecord) error) error {
	resp, err := c.get(ctx, "/v1/checkpoints", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var l checkpointLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("GET /v1/checkpoints: %w", err)
		}
		switch {
		case l.Error != "":
			return fmt.Errorf("GET /v1/checkpoints: the server failed: %s", l.Error)
		case l.End:
			return nil
		}
		if err := fn(l.CheckpointRecord); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("GET /v1/checkpoints: %w", err)
	}
	// Without it the records read are perhaps not all, and the checkpoints missing could be
	// the ones that contradict the history.
	return fmt.Errorf("GET /v1/checkpoints: the answer was cut short (no end line)")
}

// checkpointLine is a line of GET /v1/checkpoints: a record, or the line that ends them.
type checkpointLine struct {
	CheckpointRecord
	checkpointsEnd
}

// Messages implements Source.
func (c *Client) Messages(ctx context.Context, from uint64, fn func(Message) error) error {
	resp, err := c.get(ctx, "/v1/audit/messages", url.Values{"from_seq": {fmt.Sprint(from)}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 256<<10), 4<<20)
	for sc.Scan() {
		var l messageLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("GET /v1/audit/messages: %w", err)
		}
		switch {
		case l.Error != "":
			return fmt.Errorf("GET /v1/audit/messages: the server failed: %s", l.Error)
		case l.End && l.StreamLastSeq > max(l.LastSeq, max(from, 1)-1):
			return &UnreadableError{Stream: "the server's ledger stream", From: max(l.LastSeq, max(from, 1)-1) + 1, Last: l.StreamLastSeq}
		case l.End:
			return nil
		}
		m := Message{Seq: l.Seq, Subject: l.Subject, Data: l.Data}
		if l.Time != nil {
			m.Time = *l.Time
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("GET /v1/audit/messages: %w", err)
	}
	return fmt.Errorf("GET /v1/audit/messages: the answer was cut short (no end line)")
}

// LeafHashes implements LeafHashSource.
func (c *Client) LeafHashes(ctx context.Context, from, to uint64) ([]tlog.Hash, error) {
	var out []tlog.Hash
	for lo := from; lo <= to; lo += MaxLeavesPerRequest {
		hi := min(to, lo+MaxLeavesPerRequest-1)
		resp, err := c.get(ctx, "/v1/audit/leaves", url.Values{"from_seq": {fmt.Sprint(lo)}, "to_seq": {fmt.Sprint(hi)}})
		if err != nil {
			return nil, err
		}
		var lr leavesResponse
		err = json.NewDecoder(resp.Body).Decode(&lr)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("GET /v1/audit/leaves: %w", err)
		}
		if lr.FromSeq != lo || uint64(len(lr.Hashes)) != hi-lo+1 {
			return nil, fmt.Errorf("GET /v1/audit/leaves: asked for %d..%d, got %d hashes from %d", lo, hi, len(lr.Hashes), lr.FromSeq)
		}
		out = append(out, lr.Hashes...)
	}
	return out, nil
}

// Proof fetches the inclusion proof of the event id of entity (of any entity when entity
// is ""), or of the message at seq when id is "". The result is the proof document as the server sent it; check it with
// VerifyProof. A proof the server cannot give yet (it answers with a Retry-After) is asked
// for again after the time it gives, for up to ProofWait.
func (c *Client) Proof(ctx context.Context, entity, id string, seq uint64) ([]byte, error) {
	path, q := "/v1/proofs", url.Values{}
	switch {
	case id != "" && entity != "":
		path = "/v1/proofs/" + url.PathEscape(entity) + "/" + url.PathEscape(id)
	case id != "":
		q.Set("id", id)
	default:
		q.Set("seq", fmt.Sprint(seq))
	}
	wait := cmp.Or(c.ProofWait, DefaultProofWait)
	deadline := time.Now().Add(wait)
	for {
		resp, err := c.get(ctx, path, q)
		var herr *HTTPError
		if errors.As(err, &herr) && herr.RetryAfter > 0 && wait > 0 {
			// not yet: the event is newer than the latest checkpoint, or being folded in
			pause := min(herr.RetryAfter, time.Until(deadline))
			if pause <= 0 {
				return nil, fmt.Errorf("%w (waited %v for it)", err, wait)
			}
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(pause):
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	}
}

// idleBody is a response body whose request ends when no byte arrives for idle: each read
// that returns data pushes the deadline back. Its errors say the server stalled, not
// "context canceled".
type idleBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	timer  *time.Timer
	idle   time.Duration
	cancel context.CancelCauseFunc
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); errors.Is(cause, ErrStalled) {
			err = cause
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}
