package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/audit"
	"compact/ledger/backup"
)

// runVerify replays the whole history and checks it against the signed checkpoints. It
// reads the raw messages from the server (GET /v1/audit/messages), with --nats-url straight
// from JetStream, or with --backup from a backup file restored for the purpose; either way it
// recomputes the tree itself and trusts only the verifier key. Exit status 1 when anything
// differs.
func runVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	keyFlag := fs.String("key", os.Getenv("COMPACT_KEY"), "the ledger's verifier key, or a file holding it (or COMPACT_KEY); get it from the operator out of band")
	natsURL := fs.String("nats-url", "", "read the streams from this NATS server instead of the HTTP server")
	backupFile := fs.String("backup", "", "verify this backup `file` (compact backup) instead of a running ledger: it is restored into a temporary directory ($TMPDIR), replayed and removed")
	creds := fs.String("nats-creds", "", "NATS credentials file (with --nats-url)")
	nkey := fs.String("nats-nkey", "", "file holding an nkey seed (with --nats-url)")
	stream := fs.String("stream", ledger.StreamName, "stream to verify (with --nats-url)")
	hints := fs.Bool("hints", true, "ask the server for its recorded leaf hashes to name the exact message that differs (checked against the signed roots before use)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var kept fileList
	fs.Var(&kept, "checkpoint", "a checkpoint note you kept from an earlier verify (repeatable): catches a history re-signed from scratch")
	save := fs.String("save-checkpoint", "", "after a successful verify, write the latest checkpoint note to this file, for --checkpoint next time")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("verify takes no arguments, only flags")
	}
	if *natsURL == "" && (*creds != "" || *nkey != "") {
		return usagef("--nats-creds and --nats-nkey go with --nats-url")
	}
	if *creds != "" && *nkey != "" {
		return usagef("give --nats-creds or --nats-nkey, not both")
	}
	if *backupFile != "" && *natsURL != "" {
		return usagef("give --backup or --nats-url, not both")
	}
	// Flags the run would not use: said, rather than ignored.
	if *backupFile != "" && flagGiven(fs, "server") {
		return usagef("give --backup or --server, not both: a backup is verified without a server")
	}
	if *natsURL == "" && flagGiven(fs, "stream") {
		return usagef("--stream goes with --nats-url: over HTTP the server's ledger stream is verified")
	}
	if *backupFile != "" && *keyFlag == "" {
		return usagef("--backup needs --key, the ledger's verifier key from its operator (the key in a backup is the backup's word for itself)")
	}
	// A verify can read for hours: a file it could not write at the end is said before.
	if *save != "" {
		if fi, err := os.Stat(filepath.Dir(*save)); err != nil || !fi.IsDir() {
			return usagef("--save-checkpoint %s: no directory %s to write it in", *save, filepath.Dir(*save))
		}
	}
	client := &audit.Client{BaseURL: c.server, Token: c.token}
	key, err := verifierKey(ctx, *keyFlag, client)
	if err != nil {
		return err
	}
	opts := audit.VerifyOptions{Stream: *stream}
	for _, f := range kept {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		opts.Known = append(opts.Known, string(b))
	}
	if *hints && (*natsURL == "" || flagGiven(fs, "server")) {
		opts.Hints = client
	}

	var rep *audit.Report
	if *backupFile != "" {
		opts.Hints = nil // the backup holds no server to ask
		f, ferr := os.Open(*backupFile)
		if ferr != nil {
			return fmt.Errorf("verify: %w", ferr)
		}
		defer f.Close()
		rep, _, err = backup.Verify(ctx, f, key, "", opts)
		if he := (*audit.HistoryError)(nil); err != nil && !errors.As(err, &he) {
			return fmt.Errorf("verify --backup %s: %w", *backupFile, err)
		}
		// A running ledger without a checkpoint is a new one; a file without one proves
		// nothing of the events it holds, which anyone could have written: not a pass.
		if err == nil && rep.Checkpoints == 0 && rep.Messages > 0 {
			fmt.Print(rep)
			return fmt.Errorf("verify --backup %s: no signed checkpoint in the file covers its %d events: nothing in it is proven", *backupFile, rep.Messages)
		}
	} else if *natsURL != "" {
		// A user the server does not let read the streams gets no answer, only an
		// asynchronous permissions violation: it ends the verify at once, named, instead of
		// a timeout later.
		vctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		js, closeConn, cerr := connectNATS(*natsURL, *creds, *nkey, func(err error) {
			// Each read deletes its consumer when done (ledger.DropConsumer), best effort: a
			// user that may not is no reason to stop, its consumers expire on their own.
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), "$JS.API.CONSUMER.DELETE.") {
				return
			}
			if errors.Is(err, nats.ErrPermissionViolation) {
				cancel(err)
				return
			}
			fmt.Fprintf(os.Stderr, "compact: NATS: %v\n", err)
		})
		if cerr != nil {
			return cerr
		}
		defer closeConn()
		rep, err = audit.Verify(vctx, js, key, opts)
		if cause := context.Cause(vctx); err != nil && ctx.Err() == nil && errors.Is(cause, nats.ErrPermissionViolation) {
			return fmt.Errorf("verify: this NATS user may not read the streams (%v): use an auditor's or admin's nkey "+
				"(compact entities add NAME --role auditor) or credentials that may read %s and %s", cause, *stream, ledger.CheckpointStreamName)
		}
	} else {
		rep, err = audit.VerifySource(ctx, client, key, opts)
	}
	var he *audit.HistoryError
	if err != nil && !errors.As(err, &he) {
		if rep != nil && rep.Messages > 0 {
			fmt.Fprintf(os.Stderr, "compact: verify stopped after %d messages\n", rep.Messages)
		}
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("verify: write the report: %w", err)
		}
	} else if _, err := fmt.Print(rep); err != nil {
		return fmt.Errorf("verify: write the report: %w", err)
	}
	if he != nil {
		return errSilentFailure
	}
	if *save != "" {
		if rep.Latest == nil {
			fmt.Fprintf(os.Stderr, "compact: --save-checkpoint: the ledger has no checkpoint yet; %s not written\n", *save)
			return nil
		}
		if err := writeFileAtomic(*save, []byte(rep.Latest.Note)); err != nil {
			return fmt.Errorf("--save-checkpoint: %w", err)
		}
	}
	return nil
}

// fileList is a repeatable file flag.
type fileList []string

func (l *fileList) String() string     { return strings.Join(*l, ",") }
func (l *fileList) Set(v string) error { *l = append(*l, v); return nil }

// verifierKey is --key (a key, or a file holding one); without it, the server's own key,
// with a warning: a server checked against a key it gave proves only that it is
// consistent with itself.
func verifierKey(ctx context.Context, flagValue string, client *audit.Client) (string, error) {
	if flagValue != "" {
		return readVerifierKey(flagValue)
	}
	key, err := client.Key(ctx)
	if err != nil {
		return "", fmt.Errorf("no --key given and the server's key could not be fetched: %w", err)
	}
	fmt.Fprintf(os.Stderr, "compact: warning: no --key: checking against the key the server gives (%s); "+
		"pass --key with the key you got from the operator out of band for an independent check\n", key)
	return key, nil
}

// readVerifierKey reads --key: a file holding the verifier key, or the key itself. A file
// that exists but cannot be read says so, rather than being taken for a malformed key.
func readVerifierKey(flagValue string) (string, error) {
	key := flagValue
	b, err := os.ReadFile(flagValue)
	switch {
	case err == nil:
		key = strings.TrimSpace(string(b))
	case !errors.Is(err, os.ErrNotExist):
		return "", usagef("--key: %v", err)
	}
	if _, err := audit.NewVerifier(key); err != nil {
		if key == flagValue && errors.Is(err, audit.ErrSigningKey) {
			return "", usagef("--key: %v", err) // the flag is the secret: not shown
		}
		if key == flagValue {
			return "", usagef("--key %q: no such file, and not a verifier key: %v", flagValue, err)
		}
		return "", usagef("--key %s: %v", flagValue, err)
	}
	return key, nil
}

// connectNATS connects for verify; onError gets the connection's asynchronous errors (a
// permissions violation among them).
func connectNATS(url, creds, nkeyFile string, onError func(error)) (jetstream.JetStream, func(), error) {
	opts := []nats.Option{nats.Name("compact verify"), nats.Timeout(10 * time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { onError(err) })}
	switch {
	case creds != "":
		opts = append(opts, nats.UserCredentials(creds))
	case nkeyFile != "":
		o, err := nats.NkeyOptionFromSeed(nkeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, o)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s: %w", cmp.Or(url, "(none)"), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}
