package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"compact/ledger"
)

func runPublish(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	batch := fs.Int("batch", 500, "events per request")
	retries := fs.Int("retries", 5, "times to send a request again when the server answers 429 or 503 (it is idempotent: events already stored come back as duplicates)")
	file, err := parseWithOneArg(fs, args, "one FILE, or - for standard input")
	if err != nil {
		return err
	}
	if file == "" {
		return usagef("publish: want one FILE, or - for standard input")
	}
	if *batch < 1 || *batch > ledger.MaxBatchEvents {
		return usagef("--batch must be 1..%d", ledger.MaxBatchEvents)
	}
	if *retries < 0 {
		return usagef("--retries must be 0 or more")
	}
	var in io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	events, err := readEvents(in)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return fmt.Errorf("%s holds no events", file)
	}
	rejected := 0
	out := json.NewEncoder(os.Stdout)
	for start := 0; start < len(events); start += *batch {
		chunk := events[start:min(start+*batch, len(events))]
		body := batchBody(chunk)
		resp, raw, err := postWithRetries(ctx, &c, body, *retries)
		if err != nil {
			return err
		}
		var reply ledger.Reply
		if err := json.Unmarshal(raw, &reply); err != nil || (reply.Error == nil && len(reply.Results) != len(chunk)) {
			return fmt.Errorf("POST /v1/events: %s: %s", resp.Status, bytes.TrimSpace(raw))
		}
		if reply.Error != nil {
			return fmt.Errorf("POST /v1/events: %s: %s", resp.Status, reply.Error.Message)
		}
		for _, r := range reply.Results {
			out.Encode(r)
			if r.Error != nil {
				rejected++
			}
		}
	}
	if rejected > 0 {
		fmt.Fprintf(os.Stderr, "compact: %d of %d events rejected\n", rejected, len(events))
		return errSilentFailure
	}
	return nil
}

// batchBody is a request of events: each event's bytes as the publisher wrote them, only the
// white space around it left out, in a JSON array. json.Marshal would compact them and escape
// &, < and > as \u0026...: not what the publisher wrote, and six times the bytes of each such
// character, which can push a request over the server's limit.
func batchBody(events []json.RawMessage) []byte {
	n := 2 + len(events)
	for _, e := range events {
		n += len(e)
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, bytes.Trim(e, " \t\r\n")...)
	}
	return append(b, ']')
}

// readEvents reads one JSON event, a JSON array of events, or JSON Lines.
func readEvents(r io.Reader) ([]json.RawMessage, error) {
	br := bufio.NewReader(r)
	dec := json.NewDecoder(br)
	var out []json.RawMessage
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading events (event %d): %w", len(out)+1, err)
		}
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' {
			var arr []json.RawMessage
			if err := json.Unmarshal(t, &arr); err != nil {
				return nil, err
			}
			out = append(out, arr...)
			continue
		}
		out = append(out, v)
	}
}

// postWithRetries posts one request of events, sending it again while the server answers
// 429 (over the token's rate) or 503 (the ledger unavailable), at most retries times. It
// waits as long as Retry-After says, else 250 ms doubling up to 10 s. Sending again is safe:
// the ledger deduplicates by source and id, so an event stored by an earlier try is
// answered as a duplicate with its sequence. Any other answer is returned as it is.
func postWithRetries(ctx context.Context, c *clientFlags, body []byte, retries int) (*http.Response, []byte, error) {
	backoff := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		resp, err := c.do(ctx, http.MethodPost, "/v1/events", ledger.MediaBatch, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("POST /v1/events: reading the answer: %w", err)
		}
		if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable || attempt == retries {
			return resp, raw, nil
		}
		wait := backoff
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			wait = min(time.Duration(s)*time.Second, maxRetryWait)
		}
		backoff = min(2*backoff, 10*time.Second)
		fmt.Fprintf(os.Stderr, "compact: POST /v1/events: %s; sending again in %v (%d of %d)\n", resp.Status, wait, attempt+1, retries)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// maxRetryWait caps a Retry-After: however long the server asks for, the command waits at
// most this long before its next try.
const maxRetryWait = time.Minute
