package perf

import (
	"flag"
	"os"
	"testing"

	"compact/ledger"
)

// TestMain runs benchmarks under the garbage collector settings of compact serve and compact
// bench (ledger.TuneGC), tests under Go's defaults.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		ledger.TuneGC()
	}
	os.Exit(m.Run())
}
