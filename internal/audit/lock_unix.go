//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package audit

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an advisory lock (flock) on f, exclusive or shared, waiting
// for it as long as another writer holds it. Writers hold it only for one
// commit, so the wait is short. flock locks belong to an open file: two Logs
// of one process exclude each other as two processes do.
func lockFile(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := flock(f, how); err != nil {
		return fmt.Errorf("audit: lock log: %w", err)
	}
	return nil
}

// unlockFile releases the lock taken by lockFile.
func unlockFile(f *os.File) error {
	if err := flock(f, syscall.LOCK_UN); err != nil {
		return fmt.Errorf("audit: unlock log: %w", err)
	}
	return nil
}

// flock calls flock(2) on f, retrying when a signal interrupts it.
func flock(f *os.File, how int) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := conn.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if !errors.Is(ferr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// syncDir fsyncs a directory so that files just created in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
