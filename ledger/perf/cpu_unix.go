//go:build unix

package perf

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used so far, user and system: the embedded server's
// included, since it runs in the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
