package main

import (
	"errors"
	"flag"
	"os"
	"time"

	"compact/projections"
)

// parseFlags parses every command's flags. Asking for help (-h, --help) is not a mistake: the
// usage goes to standard output and flag.ErrHelp back to main, which exits 0 without a word.
// Any other parse error is a usage error, the usage printed after it on the error output.
func parseFlags(fs *flag.FlagSet, args []string) error {
	// The flag package calls Usage for -h and for errors alike, before returning: only its
	// answer tells where the usage belongs, so it is printed after.
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		out := fs.Output()
		fs.SetOutput(os.Stdout)
		fs.Usage()
		fs.SetOutput(out)
		return flag.ErrHelp
	case err != nil:
		fs.Usage()
		return usagef("%v", err)
	}
	return checkServerFlag(fs)
}

// parseWithOneArg parses flags before and after at most one positional argument, so that
// 'compact rebuild review --token T' reads as 'compact rebuild --token T review' does (Go's
// flag package alone stops at the first argument that is not a flag). It returns "" when
// there is none. want says what the argument is, for the usage error when there are more.
func parseWithOneArg(fs *flag.FlagSet, args []string, want string) (string, error) {
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	arg := fs.Arg(0)
	if err := parseFlags(fs, fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", usagef("%s takes %s; unexpected %q", fs.Name(), want, fs.Arg(0))
	}
	return arg, nil
}

// flagGiven says whether the command line set the flag name (its default, or an
// environment variable's value, is not given).
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// checkDateFlag is nil for an empty flag or a YYYY-MM-DD date, and otherwise a usage error
// naming the flag: the server would refuse it, but only after the command had started.
func checkDateFlag(name, v string) error {
	if v == "" {
		return nil
	}
	if _, err := projections.ParseDate(v); err != nil {
		return usagef("--%s %q: not a date YYYY-MM-DD, e.g. 2025-06-30", name, v)
	}
	return nil
}

// checkTimeFlag is nil for an empty flag or an RFC 3339 time (as the server parses it), and
// otherwise a usage error naming the flag.
func checkTimeFlag(name, v string) error {
	if v == "" {
		return nil
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
		return usagef("--%s %q: not an RFC 3339 time, e.g. 2025-07-01T00:00:00Z", name, v)
	}
	return nil
}
