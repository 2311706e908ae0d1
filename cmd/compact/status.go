package main

import (
	"context"
	"flag"
	"fmt"
	"os"
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
	fmt.Printf("stream %s: last sequence %d\n\n", st.Stream, st.StreamLastSeq)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VIEW\tVERSION\tGENERATION\tCHECKPOINT\tLAG\tQUARANTINED\tRUNNING")
	for _, v := range st.Views {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%v\n", v.View, v.Version, v.Generation, v.Checkpoint, v.Lag, v.Quarantined, v.Running)
	}
	return tw.Flush()
}
