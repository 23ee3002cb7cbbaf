//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package audit

import "os"

// lockFile is a no-op on this platform: the caller must make sure that only
// one Log, in one process, writes a log at a time.
func lockFile(*os.File, bool) error { return nil }

// unlockFile is a no-op on this platform.
func unlockFile(*os.File) error { return nil }

// syncDir is a no-op on this platform, where directories cannot be fsynced.
func syncDir(string) error { return nil }
