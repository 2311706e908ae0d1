package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"compact/ledger/natstest"
)

// usageCase is a command line that must end at once as a usage error: exit 2, the mistake
// named (want) and the hint, before the command does anything.
type usageCase struct {
	args []string
	want string
}

func checkUsageErrors(t *testing.T, bin string, cases []usageCase) {
	t.Helper()
	for _, tc := range cases {
		r := startWithOpenStdin(t, bin, tc.args...)
		if !r.ended(60 * time.Second) {
			t.Errorf("compact %s: still running 60 s later, want a usage error", strings.Join(tc.args, " "))
			r.cmd.Process.Kill()
			continue
		}
		if stderr := r.stderr.String(); r.code != 2 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "Run 'compact -h'") {
			t.Errorf("compact %s: exit %d, stderr %q; want exit 2 with %q and the hint", strings.Join(tc.args, " "), r.code, stderr, tc.want)
		}
	}
}

// serve's flag combinations that the node's configuration refuses are usage errors, found
// when the flags are parsed, before the data directory is made: they used to be StartNode's
// errors (exit 1, no hint), and --replicas 0 silently became 1.
func TestServeConfigMistakesAreUsageErrors(t *testing.T) {
	bin := compactBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	serve := func(extra ...string) []string {
		return append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, extra...)
	}
	checkUsageErrors(t, bin, []usageCase{
		{serve("--replicas", "3"), "the embedded server is a single node"},
		{serve("--replicas", "0"), "--replicas 0: must be 1..5"},
		{serve("--replicas", "-1"), "--replicas -1: must be 1..5"},
		{serve("--nats-url", "nats://127.0.0.1:1", "--replicas", "6"), "--replicas 6: must be 1..5"},
		{serve("--nats-creds", "ledger.creds"), "--nats-creds/--nats-nkey need --nats-url"},
		{serve("--nats-nkey", "ledger.nk"), "--nats-creds/--nats-nkey need --nats-url"},
		{serve("--nats-url", "nats://127.0.0.1:1", "--nats-creds", "a.creds", "--nats-nkey", "b.nk"), "not both"},
		{serve("--entity-max-connections", "0"), "--entity-max-connections 0: want a positive number, or -1"},
		{serve("--entity-max-subscriptions", "-2"), "--entity-max-subscriptions -2: want a positive number, or -1"},
	})
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory after usage errors only: %v, want none made", err)
	}
}

// entities add's mistakes in the acronym, the name or the role are usage errors, found
// before the data directory is touched: they used to be AddEntity's errors (exit 1, no
// hint).
func TestEntitiesAddMistakesAreUsageErrors(t *testing.T) {
	bin := compactBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	add := func(extra ...string) []string { return append([]string{"entities", "add", "--data", data}, extra...) }
	checkUsageErrors(t, bin, []usageCase{
		{add("UNOCT"), "--name is required"},
		{add("UNOCT", "--name", "x", "--role", "boss"), `role "boss"`},
		{add("un oct", "--name", "x"), `entity "un oct": must be 2-24 characters`},
		{add("LEDGER", "--name", "x"), "reserved"},
	})
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory after usage errors only: %v, want none made", err)
	}
}

// bench's flags that the chosen run would ignore or change, or out of their range, are
// usage errors: --soak 0 or less used to run the full bench instead, --rate 0 or less
// became 200, --soak over 10m was cut to 10m, and --rate without --soak, --rebuild-events
// with --soak or --scaling, --soak with --scaling (or --quick) were ignored.
func TestBenchContradictoryFlagsAreUsageErrors(t *testing.T) {
	bin := compactBinary(t)
	bench := func(extra ...string) []string {
		return append([]string{"bench", "--dir", t.TempDir()}, extra...)
	}
	checkUsageErrors(t, bin, []usageCase{
		{bench("--soak", "0s"), "--soak must be more than 0"},
		{bench("--soak", "-1s"), "--soak must be more than 0"},
		{bench("--soak", "11m"), "--soak 11m0s: at most 10m0s"},
		{bench("--soak", "1s", "--rate", "0"), "--rate must be 1..1000000"},
		{bench("--soak", "1s", "--rate", "-5"), "--rate must be 1..1000000"},
		{bench("--soak", "1s", "--rate", "2000000000"), "--rate must be 1..1000000"},
		{bench("--rate", "100"), "--rate goes with --soak"},
		{bench("--soak", "1s", "--scaling"), "--soak and --scaling"},
		{bench("--soak", "1s", "--quick"), "--quick"},
		{bench("--soak", "1s", "--rebuild-events", "1000"), "--rebuild-events sizes the full bench"},
		{bench("--scaling", "--rebuild-events", "1000"), "--rebuild-events sizes the full bench"},
		{bench("--rebuild-events", "0"), "--rebuild-events must be 1 or more"},
	})
}

// The readers' dates and times, review's PERIOD, replay's filters and rebuild's VIEW, are checked before the command asks the
// server anything (none listens at --server here): a malformed one used to go to the server,
// and came back as a failure (exit 1), with the server's error as JSON for a date, and
// with "an admin token is needed" for a view that does not exist.
func TestReaderFlagMistakesAreUsageErrors(t *testing.T) {
	bin := compactBinary(t)
	nowhere := "http://127.0.0.1:" + strconv.Itoa(natstest.FreePorts(t, 1)[0])
	cmd := func(args ...string) []string { return append(args, "--server", nowhere, "--token", "T") }
	checkUsageErrors(t, bin, []usageCase{
		{cmd("counters", "--as-of", "2025-13-01"), `--as-of "2025-13-01": not a date YYYY-MM-DD`},
		{cmd("counters", "--as-of", "yesterday"), `--as-of "yesterday": not a date YYYY-MM-DD`},
		{cmd("counters", "--as-known", "2025-07-01"), `--as-known "2025-07-01": not an RFC 3339 time`},
		{cmd("review", "2025-05", "--as-known", "yesterday"), `--as-known "yesterday": not an RFC 3339 time`},
		{cmd("review", "2025-05", "--diff", "2025-07-01"), `--diff "2025-07-01": not an RFC 3339 time`},
		{cmd("review", "2025-05", "--diff", "2025-07-01T00:00:00Z", "--format", "html"), "--format html renders a review, not its changes"},
		{cmd("review", "2025-04"), "2025-04 is not a period start"},
		{cmd("review", "2025-13", "--watch"), `"2025-13" is not a review period`},
		{cmd("review", " 2025-05", "--as-known", "2025-07-01T00:00:00Z"), `" 2025-05" is not a review period`},
		{cmd("replay", "--since", "yesterday"), `--since "yesterday": not an RFC 3339 time`},
		{cmd("replay", "--until", "2025-07-01"), `--until "2025-07-01": not an RFC 3339 time`},
		{cmd("replay", "--since", "2025-07-01T00:00:00Z", "--until", "2025-06-01T00:00:00Z"), "until is before since"},
		{cmd("replay", "--entity", "unoct"), `entity "unoct": must be 2-24 characters`},
		{cmd("replay", "--type", "compact.meeting"), `type "compact.meeting": not an event type`},
		{cmd("rebuild", "bogus"), `no view "bogus": VIEW is one of counters, review, structure`},
		{cmd("quarantine", "bogus"), `VIEW is one of counters, review, structure, got "bogus"`},
		{cmd("backup"), "give -o FILE"},
		{[]string{"verify", "--backup", "b.tar"}, "--backup needs --key"},
		{[]string{"verify", "--backup", "b.tar", "--key", "k", "--nats-url", "nats://127.0.0.1:1"}, "give --backup or --nats-url, not both"},
		{[]string{"verify", "--backup", "b.tar", "--key", "k", "--server", nowhere}, "give --backup or --server, not both"},
		{cmd("verify", "--stream", "OTHER"), "--stream goes with --nats-url"},
		{cmd("verify", "--save-checkpoint", filepath.Join(t.TempDir(), "no", "seen.ckpt")), "no directory"},
		{cmd("key", "--data", t.TempDir()), "give --data or --server, not both"},
		{[]string{"restore", "--data", t.TempDir()}, "give the backup FILE"},
		{[]string{"restore", "backup.tar"}, "give --data DIR"},
		{[]string{"restore", "a.tar", "b.tar", "--data", t.TempDir()}, `unexpected "b.tar"`},
		{cmd("quarantine"), `VIEW is one of counters, review, structure, got ""`},
		{cmd("quarantine", "review", "--limit", "-1"), `--limit -1: give a number of entries, or 0 for all`},
		{cmd("prove", "some-id", "--entity", "unodc"), `--entity "unodc": an entity is 2-24 characters`},
		{cmd("prove", "--seq", "0"), `--seq 0: stream sequences start at 1`},
	})
}
