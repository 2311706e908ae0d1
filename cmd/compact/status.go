package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"compact/projections"
)

func runStatus(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("status takes no arguments, only flags")
	}
	var st projections.Status
	body, err := c.getJSON(ctx, "/v1/status", &st)
	if err != nil || *asJSON {
		if err == nil {
			_, err = os.Stdout.Write(body)
		}
		return err
	}
	return printStatus(os.Stdout, &st)
}

// printStatus writes the table of `compact status`. It prints everything the JSON holds that
// an operator acts on: when the stream could not be read its last sequence and the lags are
// unknown (the JSON's zeros would read as "caught up"), a rebuild in progress is followed with
// `compact rebuild --no-wait`, and a view that keeps failing says why.
func printStatus(w io.Writer, st *projections.Status) error {
	if st.StreamError != "" {
		fmt.Fprintf(w, "stream %s: cannot be read, so the lags are unknown: %s\n\n", st.Stream, st.StreamError)
	} else {
		fmt.Fprintf(w, "stream %s: last sequence %d\n\n", st.Stream, st.StreamLastSeq)
	}
	lag := func(n uint64) string {
		if st.StreamError != "" {
			return "?"
		}
		return strconv.FormatUint(n, 10)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VIEW\tVERSION\tGENERATION\tCHECKPOINT\tLAG\tQUARANTINED\tRUNNING")
	for _, v := range st.Views {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%v\n", v.View, v.Version, v.Generation, v.Checkpoint, lag(v.Lag), v.Quarantined, v.Running)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, v := range st.Views {
		if r := v.Rebuild; r != nil {
			fmt.Fprintf(w, "\n%s: rebuilding as generation %d (version %d): at sequence %d, lag %s", v.View, r.Generation, r.Version, r.Checkpoint, lag(r.Lag))
			if r.LastError != "" {
				fmt.Fprintf(w, "; failing, retried: %s", r.LastError)
			}
		}
	}
	for _, v := range st.Views {
		if v.LastError != "" {
			fmt.Fprintf(w, "\n%s: last error: %s", v.View, v.LastError)
		}
	}
	for _, v := range st.Views {
		if v.Rebuild != nil || v.LastError != "" {
			_, err := fmt.Fprintln(w)
			return err
		}
	}
	return nil
}
