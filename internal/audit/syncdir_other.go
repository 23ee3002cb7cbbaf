//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package audit

// syncDir is a no-op on this platform, where directories cannot be fsynced.
func syncDir(string) error { return nil }
