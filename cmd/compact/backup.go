package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"compact/ledger/backup"
)

func runBackup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	out := fs.String("o", "", "write the backup to this `file` (- for stdout); it must not exist")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("backup takes no arguments, only flags; unexpected %q", fs.Arg(0))
	}
	if *out == "" {
		return usagef("backup: give -o FILE, the file to write (or -o - for stdout)")
	}
	if *out != "-" {
		if _, err := os.Lstat(*out); err == nil {
			return fmt.Errorf("backup: %s exists: choose another name (a backup never overwrites a file)", *out)
		}
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/admin/backup", "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("backup: %s: %s (an admin token is needed: --token or COMPACT_TOKEN)", resp.Status, serverError(resp.Body))
	default:
		return fmt.Errorf("backup: %s: %s", resp.Status, serverError(resp.Body))
	}
	m, size, err := backup.Save(resp.Body, *out)
	if err != nil && ctx.Err() != nil {
		// The body's read failed because the signal ended the request: the file is not at
		// fault, and "incomplete or damaged" would send the operator looking at the server.
		if *out == "-" {
			return fmt.Errorf("backup: interrupted (%v): what was written to standard output is not a usable backup", context.Cause(ctx))
		}
		return fmt.Errorf("backup: interrupted (%v): %s was not written", context.Cause(ctx), *out)
	}
	if err != nil {
		// A server that failed half-way says why in a trailer, read at the body's end.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<20))
		if why := resp.Trailer.Get(backup.ErrorTrailer); why != "" {
			return fmt.Errorf("backup: %w; the server stopped: %s", err, why)
		}
		return fmt.Errorf("backup: %w", err)
	}
	where := *out
	if where == "-" {
		where = "stdout"
	}
	for _, s := range m.Streams {
		fmt.Fprintf(os.Stderr, "%s: %d messages, seq %d..%d\n", s.Name, s.Messages, s.FirstSeq, s.LastSeq)
	}
	fmt.Fprintf(os.Stderr, "backup of %s written to %s (%d bytes), checked against its manifest.\n"+
		"It holds no signing key: keep %s apart, and give it to 'compact restore --key'.\n",
		m.Created.Format("2006-01-02 15:04:05Z"), where, size, "ledger.key")
	return nil
}
