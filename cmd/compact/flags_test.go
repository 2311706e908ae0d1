package main

import (
	"errors"
	"flag"
	"io"
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
