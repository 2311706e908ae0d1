package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"compact/ledger"
	"compact/ledger/audit"
)

// runProve prints the inclusion proof of one event against the latest checkpoint (the
// server publishes a checkpoint first if none covers the event yet).
func runProve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("prove", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	entity := fs.String("entity", "", "the event's entity (needed when several entities used the id)")
	seq := fs.Uint64("seq", 0, "prove the message at this stream sequence instead of an event id")
	out := fs.String("o", "", "write the proof to this file instead of stdout")
	key := fs.String("key", os.Getenv("COMPACT_KEY"), "check the proof with this verifier key (or a file holding it) before writing it")
	wait := fs.Duration("wait", audit.DefaultProofWait, "wait up to this long, as the server asks, for a checkpoint to cover the event (0: no waiting)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: compact prove [flags] ID   (or compact prove --seq N)")
		fs.PrintDefaults()
	}
	id, err := parseWithOneArg(fs, args, "one event ID")
	if err != nil {
		return err
	}
	switch {
	case flagGiven(fs, "seq") && *seq == 0:
		return usagef("--seq 0: stream sequences start at 1")
	case *entity != "" && (ledger.ReplayFilter{Entity: *entity}).Validate() != nil:
		return usagef("--entity %q: an entity is 2-24 characters of A-Z 0-9 -, e.g. UNODC", *entity)
	case id == "" && *seq == 0:
		return usagef("prove needs an event ID (or --seq N)")
	case id != "" && *seq != 0:
		return usagef("give an event ID or --seq, not both")
	case *entity != "" && *seq != 0:
		return usagef("--entity names an event ID's entity: it goes with an ID, not with --seq")
	case *wait < 0:
		return usagef("--wait %v: give a duration of 0 or more, e.g. 30s", *wait)
	}
	client := &audit.Client{BaseURL: c.server, Token: c.token, ProofWait: *wait}
	if *wait == 0 {
		client.ProofWait = -1 // the Client's zero is its default
	}
	doc, err := client.Proof(ctx, *entity, id, *seq)
	if err != nil {
		return err
	}
	if *key != "" {
		k, err := verifierKey(ctx, *key, client)
		if err != nil {
			return err
		}
		if _, _, err := audit.VerifyProof(doc, k); err != nil {
			return fmt.Errorf("the server's proof does not check out: %w", err)
		}
	}
	if *out == "" {
		_, err = os.Stdout.Write(doc)
		return err
	}
	return writeFileAtomic(*out, doc)
}

// runVerifyProof checks a proof file offline, with only the verifier key.
func runVerifyProof(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("verify-proof", flag.ContinueOnError)
	keyFlag := fs.String("key", os.Getenv("COMPACT_KEY"), "the ledger's verifier key, or a file holding it (or COMPACT_KEY)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: compact verify-proof --key KEY FILE|-")
		fs.PrintDefaults()
	}
	file, err := parseWithOneArg(fs, args, "one proof FILE, or - for standard input")
	if err != nil {
		return err
	}
	if file == "" {
		return usagef("verify-proof needs a proof file (or - for stdin)")
	}
	if *keyFlag == "" {
		return usagef("verify-proof needs --key (or COMPACT_KEY): the proof is only as good as the key you check it with")
	}
	key, err := readVerifierKey(*keyFlag)
	if err != nil {
		return err
	}
	var doc []byte
	if file == "-" {
		doc, err = io.ReadAll(io.LimitReader(os.Stdin, 16<<20))
	} else {
		doc, err = os.ReadFile(file)
	}
	if err != nil {
		return err
	}
	p, cp, err := audit.VerifyProof(doc, key)
	if err != nil {
		return err
	}
	src := ""
	if p.Event.Event != nil {
		src = p.Event.Source
	}
	fmt.Printf("OK: event %s of %s (seq %d, subject %s) is in %s at tree size %d\n",
		p.Event.ID, src, p.Event.Seq, p.Subject, cp.Origin, cp.Size)
	return nil
}
