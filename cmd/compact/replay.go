package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/schollz/progressbar/v3"

	"compact/ledger"
)

func runReplay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	fromSeq := fs.Uint64("from-seq", 0, "first stream sequence")
	since := fs.String("since", "", "first ledger time (RFC 3339)")
	until := fs.String("until", "", "last ledger time (RFC 3339)")
	entity := fs.String("entity", "", "only this entity's events")
	typ := fs.String("type", "", "only events of this type, e.g. compact.meeting.held")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("replay takes no arguments, only flags")
	}
	if err := cmp.Or(checkTimeFlag("since", *since), checkTimeFlag("until", *until)); err != nil {
		return err
	}
	// The server's checks, made before asking it: a malformed entity or type, or an
	// --until before --since, is a mistake in the command line.
	f := ledger.ReplayFilter{Entity: *entity, Type: *typ}
	f.Since, _ = time.Parse(time.RFC3339Nano, *since)
	f.Until, _ = time.Parse(time.RFC3339Nano, *until)
	if err := f.Validate(); err != nil {
		return usagef("replay: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	q := url.Values{}
	if *fromSeq > 0 {
		q.Set("from_seq", strconv.FormatUint(*fromSeq, 10))
	}
	for k, v := range map[string]string{"since": *since, "until": *until, "entity": *entity, "type": *typ} {
		if v != "" {
			q.Set(k, v)
		}
	}
	path := "/v1/events"
	if len(q) > 0 {
		path += "?" + q.Encode() // errors name the request: no stray "?" when nothing is asked
	}
	resp, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	// A progress bar on a terminal only; piped output stays pure JSON Lines.
	if term.IsTerminal(int(os.Stderr.Fd())) && !term.IsTerminal(int(os.Stdout.Fd())) {
		bar := progressbar.DefaultBytes(-1, "replaying")
		defer bar.Finish()
		body = io.TeeReader(body, bar)
	}
	// The writer's error is sticky: a write that failed (a full disk, a closed pipe) fails the
	// final Flush, so a short output never ends with exit status 0.
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 128<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		// The server ends a stream that failed half-way with an error line.
		if bytes.HasPrefix(line, []byte(`{"error":`)) {
			w.Flush()
			return fmt.Errorf("replay stopped: %s", serverError(bytes.NewReader(line)))
		}
		w.Write(line)
		if err := w.WriteByte('\n'); err != nil {
			return fmt.Errorf("replay: write the output: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		w.Flush()
		return fmt.Errorf("replay: read the server's answer: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("replay: write the output: %w", err)
	}
	return nil
}
