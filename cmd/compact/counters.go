package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"

	"compact/projections"
	"compact/projections/render"
)

func runCounters(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("counters", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	asOf := fs.String("as-of", "", "activity date YYYY-MM-DD (default today)")
	asKnown := fs.String("as-known", "", "ledger time (RFC 3339): the counters as the ledger knew them then (auditor token)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("counters takes no arguments, only flags")
	}
	if err := cmp.Or(checkDateFlag("as-of", *asOf), checkTimeFlag("as-known", *asKnown)); err != nil {
		return err
	}
	q := url.Values{}
	if *asOf != "" {
		q.Set("as_of", *asOf)
	}
	path := "/v1/counters"
	if *asKnown != "" {
		path += "/as-known"
		q.Set("t", *asKnown)
	}
	var cs projections.Counters
	body, err := c.getJSON(ctx, path+"?"+q.Encode(), &cs)
	if err != nil || *asJSON {
		if err == nil {
			_, err = os.Stdout.Write(body)
		}
		return err
	}
	var m map[string]any
	json.Unmarshal(body, &m)
	fmt.Printf("Compact in numbers as of %s (ledger sequence %d)\n\n", cs.AsOf, cs.Seq)
	for _, name := range projections.CounterNames {
		v, _ := m[name].(float64)
		fmt.Printf("%10s  %s\n", thousands(int64(v)), render.CounterLabel(name))
	}
	return nil
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
