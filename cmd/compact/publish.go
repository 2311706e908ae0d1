package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"compact/ledger"
)

func runPublish(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	batch := fs.Int("batch", 500, "events per request")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() != 1 {
		return usagef("publish: want one FILE, or - for standard input")
	}
	var in io.Reader = os.Stdin
	if fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
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
		return fmt.Errorf("%s holds no events", fs.Arg(0))
	}
	if *batch < 1 || *batch > ledger.MaxBatchEvents {
		return usagef("--batch must be 1..%d", ledger.MaxBatchEvents)
	}
	rejected := 0
	out := json.NewEncoder(os.Stdout)
	for start := 0; start < len(events); start += *batch {
		chunk := events[start:min(start+*batch, len(events))]
		body, _ := json.Marshal(chunk)
		resp, err := c.do(ctx, "POST", "/v1/events", ledger.MediaBatch, bytes.NewReader(body))
		if err != nil {
			return err
		}
		var reply ledger.Reply
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
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
