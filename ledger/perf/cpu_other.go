//go:build !unix

package perf

import "time"

// CPUTime is not measured here: the CPU figures of a report are 0.
func CPUTime() time.Duration { return 0 }

// minorFaults is not measured here: the fault figures of a report are 0.
func minorFaults() int64 { return 0 }

// pageFaultUs is not measured here.
func pageFaultUs() float64 { return 0 }
