package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"compact/ledger/audit"
	"compact/ledger/backup"
)

func runRestore(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	data := fs.String("data", "", "the new data `directory` (must not exist, or be empty)")
	key := fs.String("key", "", "the ledger's signing key `file` (a copy of its ledger.key), to restore with it")
	file, err := parseWithOneArg(fs, args, "one FILE, the backup to restore (- for stdin)")
	if err != nil {
		return err
	}
	if file == "" {
		return usagef("restore: give the backup FILE (- for stdin)")
	}
	if *data == "" {
		return usagef("restore: give --data DIR, the new data directory (never an existing ledger's)")
	}
	in := os.Stdin
	if file != "-" {
		if in, err = os.Open(file); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer in.Close()
	}
	m, err := backup.Restore(ctx, in, backup.RestoreConfig{DataDir: *data, KeyFile: *key})
	if err != nil {
		return err
	}
	for _, s := range m.Streams {
		fmt.Printf("%s: %d messages, seq %d..%d\n", s.Name, s.Messages, s.FirstSeq, s.LastSeq)
	}
	fmt.Printf("restored the backup of %s into %s; the ledger's verifier key is %s\n", m.Created.Format("2006-01-02 15:04:05Z"), *data, m.VerifierKey)
	if *key == "" {
		fmt.Printf("%s has no signing key: copy the ledger's to %s before serving (serve refuses to start without it)\n",
			*data, filepath.Join(*data, audit.SignerKeyFile))
	}
	fmt.Printf("start it with: compact serve --data %s (the dedup index, the views and the Merkle tree are built again from the stream)\n", *data)
	return nil
}
