package main

import (
	"context"
	"flag"
	"fmt"

	"compact/ledger/audit"
)

// runKey prints the ledger's verifier key: from the data directory when --data is given
// (on the server's host, running or not), else as the server reports it (GET /v1/key).
func runKey(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("key", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	data := fs.String("data", "", "read DIR/"+audit.VerifierKeyFile+" instead of asking the server")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("key takes no arguments, only flags")
	}
	if *data != "" && flagGiven(fs, "server") {
		return usagef("give --data or --server, not both: --data reads the key from DIR, without a server")
	}
	var (
		key string
		err error
	)
	if *data != "" {
		key, err = audit.ReadVerifierKey(*data)
	} else {
		key, err = (&audit.Client{BaseURL: c.server, Token: c.token}).Key(ctx)
	}
	if err != nil {
		return err
	}
	fmt.Println(key)
	return nil
}
