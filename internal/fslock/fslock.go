// Package fslock takes advisory file locks (flock(2)) so that processes
// sharing a home exclude each other around a read-modify-write of a file.
// On platforms without flock the locks are no-ops, and only one process
// may write at a time there.
package fslock

import "os"

// WithLock runs fn holding an exclusive lock on the lock file path
// (created 0600 if missing), waiting for another holder to release it.
func WithLock(path string, fn func() error) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := Lock(f, true); err != nil {
		return err
	}
	defer func() { _ = Unlock(f) }()
	return fn()
}
