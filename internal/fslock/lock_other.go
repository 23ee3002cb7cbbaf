//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package fslock

import "os"

// Lock is a no-op on this platform.
func Lock(*os.File, bool) error { return nil }

// Unlock is a no-op on this platform.
func Unlock(*os.File) error { return nil }
