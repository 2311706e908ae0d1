// Command compact runs and uses Compact ledger: the event-sourced activity ledger of the
// UN Global Counter-Terrorism Coordination Compact. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `compact — the Compact ledger

Usage: compact <command> [flags]

Server:
  serve        run the ledger (embedded NATS by default; --demo loads the May-June 2025 review)
  entities     add an entity and issue its credentials (entities add ACRONYM --name NAME);
               reissue or revoke them (entities reissue|revoke ACRONYM)

Publishers:
  publish      publish events from a file or stdin (JSON, JSON array or JSON Lines)

Readers:
  counters     the Compact in numbers
  review       the bimonthly review (md, html, json)
  status       stream and view positions

Auditors:
  replay       the history as JSON Lines
  verify       check the history against the signed checkpoints
  prove        an inclusion proof of one event
  verify-proof check a proof offline
  key          the ledger's verifier key

Operations:
  rebuild      rebuild a view beside the live one
  quarantine   the events a view could not apply (quarantine VIEW)
  backup       the ledger into one file, while it runs (backup -o FILE)
  restore      a backup into a new data directory (restore FILE --data DIR --key ledger.key)
  bench        measure the system beside its raw limits

Run 'compact <command> -h' for a command's flags.
`

// usageError is a mistake in the command line; main prints it with a hint and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks the command to stop cleanly; the default action is back for the
	// second, which ends the process at once should the command not stop (a lock it waits
	// for, a server that does not answer).
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:])
	stop()
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp): // the help asked for is printed
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "compact: %v\nRun 'compact -h' for usage.\n", err)
		os.Exit(2)
	case errors.Is(err, errSilentFailure):
		os.Exit(1)
	default:
		fmt.Fprintf(os.Stderr, "compact: %v\n", err)
		os.Exit(1)
	}
}

// errSilentFailure ends the command with exit 1 after it has said all it had to say.
var errSilentFailure = errors.New("failed")

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "help":
		fmt.Print(usage)
		return nil
	case "serve":
		return runServe(ctx, rest)
	case "entities":
		return runEntities(ctx, rest)
	case "publish":
		return runPublish(ctx, rest)
	case "replay":
		return runReplay(ctx, rest)
	case "counters":
		return runCounters(ctx, rest)
	case "status":
		return runStatus(ctx, rest)
	case "review":
		return runReview(ctx, rest)
	case "rebuild":
		return runRebuild(ctx, rest)
	case "quarantine":
		return runQuarantine(ctx, rest)
	case "backup":
		return runBackup(ctx, rest)
	case "restore":
		return runRestore(ctx, rest)
	case "bench":
		return runBench(ctx, rest)
	case "verify":
		return runVerify(ctx, rest)
	case "prove":
		return runProve(ctx, rest)
	case "verify-proof":
		return runVerifyProof(ctx, rest)
	case "key":
		return runKey(ctx, rest)
	default:
		return usagef("unknown command %q", cmd)
	}
}
