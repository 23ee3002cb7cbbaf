//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package fslock

import (
	"errors"
	"os"
	"syscall"
)

// Lock takes an advisory lock (flock) on f, exclusive or shared, waiting
// for it as long as another holder has it. flock locks belong to an open
// file: two opens in one process exclude each other as two processes do.
func Lock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	return flock(f, how)
}

// Unlock releases the lock taken by Lock.
func Unlock(f *os.File) error { return flock(f, syscall.LOCK_UN) }

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
