package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseWithOneArg(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		arg, token string
		verbose    bool
		err        string // a usage error holding this, "" for none
	}{
		{args: nil},
		{args: []string{"review"}, arg: "review"},
		{args: []string{"review", "--token", "T", "-v"}, arg: "review", token: "T", verbose: true},
		{args: []string{"--token=T", "review", "-v"}, arg: "review", token: "T", verbose: true},
		{args: []string{"-v", "--token", "T", "review"}, arg: "review", token: "T", verbose: true},
		{args: []string{"-"}, arg: "-"},
		{args: []string{"review", "counters"}, err: `takes one VIEW; unexpected "counters"`},
		{args: []string{"review", "--token", "T", "counters"}, err: `unexpected "counters"`},
		{args: []string{"review", "--bogus"}, err: "-bogus"},
	} {
		fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		token := fs.String("token", "", "")
		verbose := fs.Bool("v", false, "")
		arg, err := parseWithOneArg(fs, tc.args, "one VIEW")
		var ue usageError
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.err != "" && (!errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want a usage error with %q", tc.args, err, tc.err)
		case tc.err == "" && (arg != tc.arg || *token != tc.token || *verbose != tc.verbose):
			t.Errorf("%q: arg %q token %q verbose %v, want %q %q %v", tc.args, arg, *token, *verbose, tc.arg, tc.token, tc.verbose)
		}
	}
}

// Asking a command for its flags is not a mistake: -h and --help print them on standard
// output and exit 0, where they used to end as a usage error ("flag: help requested", exit 2).
func TestCommandHelpPrintsFlagsAndExitsZero(t *testing.T) {
	bin := compactBinary(t)
	for _, tc := range []struct {
		args []string
		flag string // one of the command's flags, as the help prints it
	}{
		{[]string{"serve", "-h"}, "-nats-url"},
		{[]string{"entities", "add", "--help"}, "-role"},
		{[]string{"entities", "-h"}, "-role"},
		{[]string{"publish", "-h"}, "-batch"},
		{[]string{"publish", "-", "--help"}, "-batch"},
		{[]string{"replay", "-h"}, "-from-seq"},
		{[]string{"counters", "-h"}, "-as-of"},
		{[]string{"review", "-h"}, "-format"},
		{[]string{"status", "--help"}, "-json"},
		{[]string{"rebuild", "-h"}, "-server"},
		{[]string{"bench", "-h"}, "-soak"},
		{[]string{"verify", "-h"}, "-key"},
		{[]string{"prove", "-h"}, "-server"},
		{[]string{"verify-proof", "-h"}, "-key"},
		{[]string{"key", "-h"}, "-data"},
	} {
		stdout, stderr, code := runBin(t, bin, tc.args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage") || !strings.Contains(stdout, tc.flag) {
			t.Errorf("compact %s: exit %d, stderr %q, stdout %q; want exit 0, nothing on stderr and the flags (%s) on stdout",
				strings.Join(tc.args, " "), code, stderr, stdout, tc.flag)
		}
	}
	// A flag that does not exist stays a usage error, with the flags on the error output.
	stdout, stderr, code := runBin(t, bin, "status", "--bogus")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "-json") || !strings.Contains(stderr, "Run 'compact -h'") {
		t.Errorf("compact status --bogus: exit %d, stdout %q, stderr %q; want exit 2, the flags and the hint on stderr", code, stdout, stderr)
	}
}

// A command's help never shows the token: it used to print COMPACT_TOKEN's value as the
// --token flag's default, so a help text pasted into an issue handed the token on.
func TestHelpDoesNotShowTheToken(t *testing.T) {
	bin := compactBinary(t)
	const secret = "ctk_do-not-show-this-token"
	for _, command := range []string{"publish", "replay", "counters", "review", "status", "rebuild", "verify", "prove", "key"} {
		cmd := exec.Command(bin, command, "-h")
		cmd.Env = append(os.Environ(), "COMPACT_TOKEN="+secret)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("compact %s -h: %v\n%s", command, err, out)
		}
		if strings.Contains(string(out), secret) || !strings.Contains(string(out), "-token") {
			t.Errorf("compact %s -h with COMPACT_TOKEN set printed:\n%s\nwant the --token flag without the token", command, out)
		}
	}
}

// review -o writes a file others can read (a page for a web server): it used to be 0600,
// os.CreateTemp's mode, whatever the file had been. A file that exists keeps its mode.
func TestWriteFileAtomicKeepsAReadableMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "review.html")
	if err := writeFileAtomic(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("a new file: %v %v, want mode 0644", fi.Mode(), err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 || string(b) != "two" {
		t.Fatalf("a replaced file: %v %v %q, want mode 0640 and the new content", fi.Mode(), err, b)
	}
}
