package main

import (
	"context"
	"errors"
	"testing"
)

// TestBenchUsage: flags that do not go together, and arguments, are usage errors, found before
// anything is measured.
func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--profile", t.TempDir()},   // profiles are of the scaling run
		{"--quick", "extra"},         // no arguments
		{"--rebuild-events", "many"}, // not a number
	} {
		var ue usageError
		if err := runBench(context.Background(), args); !errors.As(err, &ue) {
			t.Errorf("bench %q: %v, want a usage error", args, err)
		}
	}
}
