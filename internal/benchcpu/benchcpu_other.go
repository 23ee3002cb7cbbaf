//go:build !unix

package benchcpu

import "time"

// Process is not available here: it returns false.
func Process() (time.Duration, bool) { return 0, false }
