package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"compact/projections"
)

// quarantinePageSize is how many entries one request asks for; tests make it small.
var quarantinePageSize = 1000

func runQuarantine(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("quarantine", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	asJSON := fs.Bool("json", false, "print JSON Lines, one entry per line")
	after := fs.Uint64("after", 0, "list the entries after this stream `seq` (the last one seen)")
	limit := fs.Int("limit", 0, "list at most this many entries (0: all)")
	view, err := parseWithOneArg(fs, args, "one VIEW (counters, review, structure)")
	if err != nil {
		return err
	}
	if view == "" || !slices.Contains(projections.ViewNames, view) {
		return usagef("quarantine: VIEW is one of %s, got %q", strings.Join(projections.ViewNames, ", "), view)
	}
	if *limit < 0 {
		return usagef("quarantine: --limit %d: give a number of entries, or 0 for all", *limit)
	}
	return listQuarantine(ctx, &c, os.Stdout, view, *after, *limit, *asJSON)
}

// listQuarantine prints a view's quarantine, oldest first, reading it a page at a time
// (GET /v1/admin/quarantine/{view} and its Link headers): a view that quarantined every
// event of a faulty kind is listed without either side holding it whole.
func listQuarantine(ctx context.Context, c *clientFlags, w io.Writer, view string, after uint64, limit int, asJSON bool) error {
	var tw *tabwriter.Writer
	if !asJSON {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tLEDGER TIME\tSOURCE\tID\tTYPE\tERROR")
	}
	enc := json.NewEncoder(w)
	listed := 0
	for {
		size := quarantinePageSize
		if limit > 0 {
			size = min(size, limit-listed)
		}
		q := url.Values{"limit": {strconv.Itoa(size)}}
		if after > 0 {
			q.Set("after_seq", strconv.FormatUint(after, 10))
		}
		page, more, err := quarantinePage(ctx, c, view, q)
		if err != nil {
			return err
		}
		for _, e := range page {
			if asJSON {
				if err := enc.Encode(e); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.LedgerTime, e.Source, e.ID, e.Type, e.Error)
			}
		}
		listed += len(page)
		if len(page) > 0 {
			after = page[len(page)-1].Seq
			// A page at a time: a tabwriter holds every line until it is flushed, which at
			// the end would be the whole quarantine, and nothing shown until then. The
			// columns line up within a page.
			if tw != nil {
				if err := tw.Flush(); err != nil {
					return err
				}
			}
		}
		if !more || len(page) == 0 || (limit > 0 && listed >= limit) {
			break
		}
	}
	switch {
	case tw == nil:
		return nil
	case listed == 0: // the header, still in tw, is not written
		_, err := fmt.Fprintf(w, "the %s view has quarantined nothing%s\n", view, map[bool]string{true: " after that seq"}[after > 0])
		return err
	}
	return tw.Flush()
}

// quarantinePage reads one page; more says the server named a next one.
func quarantinePage(ctx context.Context, c *clientFlags, view string, q url.Values) ([]projections.QuarantineEntry, bool, error) {
	path := "/v1/admin/quarantine/" + url.PathEscape(view) + "?" + q.Encode()
	resp, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, false, fmt.Errorf("quarantine %s: %s: %s (an admin token is needed: --token or COMPACT_TOKEN)", view, resp.Status, serverError(resp.Body))
	default:
		return nil, false, fmt.Errorf("quarantine %s: %s: %s", view, resp.Status, serverError(resp.Body))
	}
	var page []projections.QuarantineEntry
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, false, fmt.Errorf("GET %s: %w", path, err)
	}
	return page, strings.Contains(resp.Header.Get("Link"), `rel="next"`), nil
}
