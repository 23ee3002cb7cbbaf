//go:build unix

package store

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used so
// far, and whether it could be read: on a machine shared with other work, a
// benchmark's CPU time per operation varies much less than its wall time.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
