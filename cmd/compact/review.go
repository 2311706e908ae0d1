package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"compact/projections"
	"compact/projections/render"
)

type reviewFlags struct {
	clientFlags
	format  string
	asKnown string
	diff    string
	watch   bool
	out     string
}

func runReview(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("review", flag.ContinueOnError)
	var f reviewFlags
	f.register(fs)
	fs.StringVar(&f.format, "format", "md", "md, html or json")
	fs.StringVar(&f.asKnown, "as-known", "", "ledger time (RFC 3339): the review as the ledger knew it then (auditor token)")
	fs.StringVar(&f.diff, "diff", "", "ledger time (RFC 3339): what changed in the review since then (auditor token)")
	fs.BoolVar(&f.watch, "watch", false, "re-render whenever the period's review changes (driven by the change feed)")
	fs.StringVar(&f.out, "o", "", "write to FILE (replaced atomically) instead of standard output")
	period, err := parseWithOneArg(fs, args, "one PERIOD, e.g. 2025-05 (the first month of a bimonthly period)")
	if err != nil {
		return err
	}
	if period == "" {
		return usagef("review: the PERIOD is required, e.g. 'compact review 2025-05'")
	}
	// The server would refuse it as well, but only once asked: a mistake on the command line
	// is a usage error, found before anything is sent.
	if err := render.CheckPeriod(period); err != nil {
		return usagef("review: %v", err)
	}
	if err := cmp.Or(checkTimeFlag("as-known", f.asKnown), checkTimeFlag("diff", f.diff)); err != nil {
		return err
	}
	switch f.format {
	case "md", "html", "json":
	default:
		return usagef("--format %q: md, html or json", f.format)
	}
	if f.diff != "" {
		if f.asKnown != "" || f.watch {
			return usagef("--diff goes alone: it compares the review as known at T with the review now")
		}
		// The changes are a list, not a review: printed as text (the default, md) or JSON. An
		// HTML page of them does not exist, and printing text under --format html would hand a
		// script that asked for a page something else.
		if f.format == "html" {
			return usagef("--diff prints its list as text, or with --format json as JSON; --format html renders a review, not its changes")
		}
		return reviewDiff(ctx, &f, period)
	}
	if f.watch && f.asKnown != "" {
		return usagef("--watch follows the live review; --as-known is a fixed past")
	}
	if f.watch {
		return watchReview(ctx, &f, period)
	}
	return renderOnce(ctx, &f, period)
}

func reviewPath(period, format, asKnown string) string {
	q := url.Values{"format": {format}}
	p := "/v1/reviews/" + url.PathEscape(period)
	if asKnown != "" {
		p += "/as-known"
		q.Set("t", asKnown)
	}
	return p + "?" + q.Encode()
}

func renderOnce(ctx context.Context, f *reviewFlags, period string) error {
	resp, err := f.get(ctx, reviewPath(period, f.format, f.asKnown))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return f.emit(body)
}

// emit writes b to the -o file (replaced atomically) or, without one, to standard output.
func (f *reviewFlags) emit(b []byte) error {
	if f.out == "" {
		_, err := os.Stdout.Write(b)
		return err
	}
	return writeFileAtomic(f.out, b)
}

// writeFileAtomic replaces path with b so that a process killed or a write cut short on
// the way leaves the old content or the new, never a part: a temporary file beside it,
// synced, renamed over it, and the directory synced. The file keeps the mode it had, and a
// new one is 0644, as a page a web server or a colleague reads must be (os.CreateTemp's
// 0600 used to become the rendered review's mode).
func writeFileAtomic(path string, b []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".compact-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// watchReview re-renders on every change event of the period's review, as the server
// relays them from the change feed (GET /v1/reviews/{period}/changes, Server-Sent Events).
//
// A reporting job outlives the server it watches: once it has watched, a stream the server
// closes (serve stopped or restarted), one silent for watchIdleTimeout or a server it cannot
// reach does not end it. It tries again, 250 ms after, doubling up to 10 s, and renders anew
// when it watches again, so the changes made while it was away are in the file. What a
// server restart does not explain ends it: the server refusing the request (a 4xx: the
// token, the period) or ending the stream with an end event (the token revoked), a file it
// cannot write. It used to end at the first restart, leaving the file as it was.
func watchReview(ctx context.Context, f *reviewFlags, period string) error {
	backoff := watchRetryFirst
	watched := false
	for {
		ok, err := watchOnce(ctx, f, period, watched)
		if ctx.Err() != nil {
			return nil
		}
		watched = watched || ok
		if !watched || !serverGone(err) {
			return err
		}
		if ok {
			backoff = watchRetryFirst
		}
		fmt.Fprintf(os.Stderr, "compact: %v; watching again in %v\n", err, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, watchRetryMax)
	}
}

// The waits of a watcher between its tries to watch again.
const (
	watchRetryFirst = 250 * time.Millisecond
	watchRetryMax   = 10 * time.Second
)

// errStreamClosed is a change stream the server closed.
var errStreamClosed = errors.New("the server closed the change stream")

// errStreamStalled is a change stream that brought nothing, not even the keep-alive the
// server sends every 30 s, for watchIdleTimeout: a server gone without closing the
// connection (its host down, a NAT or proxy that dropped it) would otherwise hold the
// watcher, and the file, as they are for good.
var errStreamStalled = errors.New("the change stream brought nothing, not even a keep-alive")

// watchIdleTimeout is how long a watcher waits for a line of its change stream: three of the
// server's keep-alives. A variable, so that a test need not wait it out.
var watchIdleTimeout = 90 * time.Second

// serverGone says whether err is what a server stopping, restarting or out of reach gives: a
// connection refused, reset or cut short, a stream closed, a 5xx answer.
func serverGone(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.Code >= 500
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, errStreamClosed) || errors.Is(err, errStreamStalled) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET)
}

// watchOnce opens the change stream and re-renders on each change until the stream ends;
// watching says whether it got as far as watching (and rendering).
//
// It renders only once the stream says ": watching": the server sends that line after its
// subscription to the feed is in place, so a change committed before it is in the render and
// one committed after it is announced. Rendering before subscribing would lose a change made
// in between until the next one. Watching again goes through the same order, so it renders
// what changed while it was away.
func watchOnce(ctx context.Context, f *reviewFlags, period string, again bool) (watching bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(watchIdleTimeout, func() {
		cancel(fmt.Errorf("%w for %v", errStreamStalled, watchIdleTimeout))
	})
	defer idle.Stop()
	defer func() {
		if cause := context.Cause(sctx); errors.Is(cause, errStreamStalled) {
			err = cause
		}
	}()
	resp, err := f.get(sctx, "/v1/reviews/"+url.PathEscape(period)+"/changes")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	scan := func() bool {
		ok := sc.Scan()
		idle.Reset(watchIdleTimeout)
		return ok
	}
	for !watching && scan() {
		watching = strings.HasPrefix(sc.Text(), ": watching")
	}
	if !watching {
		if err := sc.Err(); err != nil {
			return false, err
		}
		return false, fmt.Errorf("%w before it was watching", errStreamClosed)
	}
	// The render's time is not the stream's silence.
	idle.Stop()
	if err := renderOnce(ctx, f, period); err != nil {
		return true, err
	}
	idle.Reset(watchIdleTimeout)
	if again {
		fmt.Fprintf(os.Stderr, "compact: watching the %s review again\n", period)
	} else {
		fmt.Fprintf(os.Stderr, "compact: watching the %s review; Ctrl-C to stop\n", period)
	}
	event := ""
	for scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			event = name
			continue
		}
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if event == "end" { // the server ended the watch: its token revoked (README, Entities)
			var end struct{ Error string }
			json.Unmarshal([]byte(data), &end)
			return true, fmt.Errorf("the server ended the change stream: %s", end.Error)
		}
		var ch projections.ReviewChange
		if json.Unmarshal([]byte(data), &ch) == nil {
			fmt.Fprintf(os.Stderr, "compact: review %s changed (version %d, ledger sequence %d)\n", ch.Period, ch.Version, ch.Seq)
		}
		idle.Stop()
		if err := renderOnce(ctx, f, period); err != nil {
			return true, err
		}
		idle.Reset(watchIdleTimeout)
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	return true, errStreamClosed
}

// reviewDiff compares the review as known at f.diff with the review now.
func reviewDiff(ctx context.Context, f *reviewFlags, period string) error {
	fetch := func(asKnown string) (*projections.Review, error) {
		resp, err := f.get(ctx, reviewPath(period, "json", asKnown))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var r projections.Review
		return &r, json.NewDecoder(resp.Body).Decode(&r)
	}
	before, err := fetch(f.diff)
	if err != nil {
		return err
	}
	now, err := fetch("")
	if err != nil {
		return err
	}
	changes := DiffReviews(before, now)
	var b bytes.Buffer
	if f.format == "json" {
		if err := json.NewEncoder(&b).Encode(changes); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(&b, "Changes to the %s review since %s: %d\n", period, f.diff, len(changes))
		for _, c := range changes {
			fmt.Fprintf(&b, "%-9s %s#%s  %s\n", c.Kind, strings.TrimPrefix(c.Source, "/entities/"), c.ID, c.Detail)
		}
	}
	return f.emit(b.Bytes())
}

// ReviewChange is one difference between two versions of a review.
type ReviewChange struct {
	Kind   string `json:"kind"` // added, removed, corrected, moved
	Source string `json:"source"`
	ID     string `json:"id"`
	Detail string `json:"detail"`
}

// DiffReviews lists the items added, removed (retracted or omitted), corrected and moved
// between two reviews of the same period, in the newer review's order.
func DiffReviews(before, now *projections.Review) []ReviewChange {
	type placed struct {
		item    projections.Item
		section string
	}
	index := func(r *projections.Review) (map[string]placed, []string) {
		m := map[string]placed{}
		var order []string
		for _, s := range r.Sections {
			for _, it := range s.Items {
				k := it.Source + "#" + it.ID
				m[k] = placed{it, s.ID}
				order = append(order, k)
			}
		}
		return m, order
	}
	old, oldOrder := index(before)
	cur, curOrder := index(now)
	var out []ReviewChange
	for _, k := range curOrder {
		c := cur[k]
		o, ok := old[k]
		switch {
		case !ok:
			out = append(out, ReviewChange{"added", c.item.Source, c.item.ID, fmt.Sprintf("%s: %s", c.section, c.item.Title)})
		case o.item.CorrectedSeq != c.item.CorrectedSeq || o.item.Title != c.item.Title || o.item.Start != c.item.Start || o.item.End != c.item.End:
			out = append(out, ReviewChange{"corrected", c.item.Source, c.item.ID, fmt.Sprintf("%q → %q", o.item.Title, c.item.Title)})
		case o.section != c.section:
			out = append(out, ReviewChange{"moved", c.item.Source, c.item.ID, fmt.Sprintf("%s → %s", o.section, c.section)})
		}
	}
	for _, k := range oldOrder {
		if _, ok := cur[k]; !ok {
			o := old[k]
			out = append(out, ReviewChange{"removed", o.item.Source, o.item.ID, fmt.Sprintf("%s: %s (retracted or omitted)", o.section, o.item.Title)})
		}
	}
	return out
}
