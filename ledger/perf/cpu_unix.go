//go:build unix

package perf

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time the process has used so far, user and system: the embedded server's
// included, since it runs in the process.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// minorFaults is how many minor page faults the process has taken so far: first touches of
// new memory, each a zeroed page from the kernel.
func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Minflt)
}

// pageFaultUs is the time of a first write to a page of new memory, in µs: 64 MiB mapped
// anonymous and private, written a byte a page, unmapped. 0 if it cannot map.
func pageFaultUs() float64 {
	const size = 64 << 20
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return 0
	}
	defer func() { _ = syscall.Munmap(b) }()
	page := syscall.Getpagesize()
	start := time.Now()
	for i := 0; i < size; i += page {
		b[i] = 1
	}
	return time.Since(start).Seconds() * 1e6 / float64(size/page)
}
