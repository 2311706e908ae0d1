package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"compact/ledger"
)

func runEntities(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		args = []string{"add", "-h"} // add is the one subcommand: its flags are the help
	}
	if len(args) == 0 || args[0] != "add" {
		return usagef("entities: want 'entities add ACRONYM --name NAME [--role ROLE] [--data DIR] [--json]'")
	}
	fs := flag.NewFlagSet("entities add", flag.ContinueOnError)
	name := fs.String("name", "", "the entity's full name (required)")
	role := fs.String("role", "publisher", "publisher, secretariat, auditor or admin")
	data := fs.String("data", "data", "data directory of the ledger")
	asJSON := fs.Bool("json", false, `print {"entity","role","token","nkey_seed"}`)
	acronym, err := parseWithOneArg(fs, args[1:], "one ACRONYM")
	if err != nil {
		return err
	}
	if acronym == "" {
		return usagef("entities add: the entity's acronym is required, e.g. 'compact entities add UNOCT --name \"UN Office of Counter-Terrorism\"'")
	}
	if err := ledger.CheckNewEntity(acronym, *name, ledger.Role(*role)); err != nil {
		return usagef("entities add: %v", err)
	}
	creds, err := ledger.AddEntity(ctx, *data, acronym, *name, ledger.Role(*role))
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(creds)
	}
	fmt.Printf(`Entity %s (%s) added to %s.
These secrets are shown once; the ledger keeps only a hash of the token and the public nkey.

  HTTP token:  %s
  NATS nkey:   %s

Publish over HTTP:  COMPACT_TOKEN=%s compact publish events.json
Publish over NATS:  request on compact.ingest.%s with the nkey seed (nats --nkey FILE req ...)
`, creds.Entity, creds.Role, *data, creds.Token, creds.NKeySeed, creds.Token, creds.Entity)
	return nil
}
