//go:build !unix

package perf

import "time"

// cpuTime is not measured here: the CPU figures of a report are 0.
func cpuTime() time.Duration { return 0 }
