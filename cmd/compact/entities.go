package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"compact/ledger"
	"compact/ledger/backup"
)

func runEntities(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Print(entitiesUsage)
		return nil
	}
	if len(args) > 0 {
		switch args[0] {
		case "reissue":
			return runEntitiesReissue(ctx, args[1:])
		case "revoke":
			return runEntitiesRevoke(ctx, args[1:])
		case "list":
			return runEntitiesList(args[1:])
		}
	}
	if len(args) == 0 || args[0] != "add" {
		return usagef("entities: want 'entities add ACRONYM --name NAME [--role ROLE] [--data DIR] [--json]', 'entities reissue ACRONYM [--data DIR] [--json]', 'entities revoke ACRONYM [--data DIR]' or 'entities list [--data DIR] [--json]'")
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
	if err := backup.CheckNoUnfinishedRestore(*data); err != nil {
		return err // a change written into a restore's directory would be lost or mixed in
	}
	creds, err := ledger.AddEntity(ctx, *data, acronym, *name, ledger.Role(*role))
	if err != nil {
		return err
	}
	return printCredentials(creds, *data, "added to", *asJSON)
}

const entitiesUsage = `Usage:
  compact entities add ACRONYM --name NAME [--role publisher|secretariat|auditor|admin] [--data DIR] [--json]
      register an entity and issue its credentials (an HTTP token and an nkey seed), printed once
  compact entities reissue ACRONYM [--role ROLE] [--data DIR] [--json]
      issue a registered entity new credentials (with --role, for a new role); its old token and nkey stop working
  compact entities revoke ACRONYM [--data DIR]
      take a registered entity's credentials away (its record and events stay); reissue gives new ones
  compact entities list [--data DIR] [--json]
      the registered entities: acronym, role, whether their credentials are live or revoked, since when, name
A running server applies each change within a second, without a restart.
`

// runEntitiesReissue gives a registered entity a new token and nkey in place of its old ones
// (a leaked secret, a revoked entity readmitted).
func runEntitiesReissue(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("entities reissue", flag.ContinueOnError)
	role := fs.String("role", "", "a new role: publisher, secretariat, auditor or admin (default: the one it has)")
	data := fs.String("data", "data", "data directory of the ledger")
	asJSON := fs.Bool("json", false, `print {"entity","role","token","nkey_seed"}`)
	acronym, err := parseWithOneArg(fs, args, "one ACRONYM")
	if err != nil {
		return err
	}
	if acronym == "" {
		return usagef("entities reissue: the entity's acronym is required, e.g. 'compact entities reissue UNOCT'")
	}
	if *role != "" && !ledger.Role(*role).Valid() {
		return usagef("entities reissue: role %q: must be one of publisher, secretariat, auditor, admin", *role)
	}
	if err := backup.CheckNoUnfinishedRestore(*data); err != nil {
		return err // a change written into a restore's directory would be lost or mixed in
	}
	creds, err := ledger.ReissueCredentialsAs(ctx, *data, acronym, ledger.Role(*role))
	if err != nil {
		return err
	}
	return printCredentials(creds, *data, "issued new credentials in", *asJSON)
}

// runEntitiesRevoke takes a registered entity's credentials away.
func runEntitiesRevoke(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("entities revoke", flag.ContinueOnError)
	data := fs.String("data", "data", "data directory of the ledger")
	acronym, err := parseWithOneArg(fs, args, "one ACRONYM")
	if err != nil {
		return err
	}
	if acronym == "" {
		return usagef("entities revoke: the entity's acronym is required, e.g. 'compact entities revoke UNOCT'")
	}
	if err := backup.CheckNoUnfinishedRestore(*data); err != nil {
		return err // a change written into a restore's directory would be lost or mixed in
	}
	at, err := ledger.RevokeCredentials(ctx, *data, acronym)
	if err != nil {
		return err
	}
	fmt.Printf("Entity %s: credentials revoked in %s since %s; its token and nkey no longer work ('compact entities reissue %s' gives new ones).\n",
		acronym, *data, at.Format(time.RFC3339), acronym)
	return nil
}

func printCredentials(creds *ledger.Credentials, data, did string, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(creds)
	}
	fmt.Printf(`Entity %s (%s) `+did+` %s.
These secrets are shown once; the ledger keeps only a hash of the token and the public nkey.

  HTTP token:  %s
  NATS nkey:   %s

`, creds.Entity, creds.Role, data, creds.Token, creds.NKeySeed)
	fmt.Print(roleHints(creds))
	return nil
}

// roleHints says how the new credentials are used: what their role may do, and only that (an
// auditor was shown how to publish, which its token is refused).
func roleHints(creds *ledger.Credentials) string {
	switch creds.Role {
	case ledger.RolePublisher, ledger.RoleSecretariat:
		return fmt.Sprintf(`Publish over HTTP:  COMPACT_TOKEN=%s compact publish events.json
Publish over NATS:  request on compact.ingest.%s with the nkey seed (nats --nkey FILE req ...)
`, creds.Token, creds.Entity)
	case ledger.RoleAuditor:
		return fmt.Sprintf(`Audit:  COMPACT_TOKEN=%s compact replay | compact verify --key "$(compact key)" | compact prove ID
`, creds.Token)
	default:
		return fmt.Sprintf(`Operate:  COMPACT_TOKEN=%s compact status | compact rebuild | compact quarantine VIEW | compact backup -o FILE
`, creds.Token)
	}
}

// listedEntity is a line of 'entities list --json': the record without its token's hash.
type listedEntity struct {
	Entity  string      `json:"entity"`
	Name    string      `json:"name"`
	Role    ledger.Role `json:"role"`
	NKey    string      `json:"nkey,omitempty"`
	Created time.Time   `json:"created"`
	Revoked *time.Time  `json:"revoked,omitempty"`
}

// runEntitiesList prints the registered entities.
func runEntitiesList(args []string) error {
	fs := flag.NewFlagSet("entities list", flag.ContinueOnError)
	data := fs.String("data", "data", "data directory of the ledger")
	asJSON := fs.Bool("json", false, `print one JSON array of {"entity","name","role","nkey","created","revoked"}`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("entities list takes no argument; unexpected %q", fs.Arg(0))
	}
	recs, err := ledger.ListEntities(*data)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]listedEntity, len(recs))
		for i, r := range recs {
			out[i] = listedEntity{r.Entity, r.Name, r.Role, r.NKey, r.Created, r.Revoked}
		}
		return json.NewEncoder(os.Stdout).Encode(out)
	}
	if len(recs) == 0 {
		fmt.Printf("No entities registered in %s ('compact entities add' registers one).\n", *data)
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tROLE\tCREDENTIALS\tSINCE\tNAME")
	for _, r := range recs {
		state, since := "live", r.Created
		if r.Revoked != nil {
			state, since = "revoked", *r.Revoked
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Entity, r.Role, state, since.UTC().Format(time.RFC3339), r.Name)
	}
	return tw.Flush()
}
