package main

import "flag"

// parseWithOneArg parses flags before and after at most one positional argument, so that
// 'compact rebuild review --token T' reads as 'compact rebuild --token T review' does (Go's
// flag package alone stops at the first argument that is not a flag). It returns "" when
// there is none. want says what the argument is, for the usage error when there are more.
func parseWithOneArg(fs *flag.FlagSet, args []string, want string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", usagef("%v", err)
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	arg := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return "", usagef("%s takes %s; unexpected %q", fs.Name(), want, fs.Arg(0))
	}
	return arg, nil
}
