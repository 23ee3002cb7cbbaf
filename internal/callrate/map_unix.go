//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package callrate

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// stateSize is the state file's size: the word, 8-byte aligned at offset 0.
const stateSize = 8

// errNotRegular refuses a state path that is not a regular file.
var errNotRegular = errors.New("not a regular file")

// mapWord opens (or creates, 0600) the state file, makes it stateSize bytes
// long if it is shorter (a new file reads as a full bucket: zero), and maps
// it shared.
func mapWord(path string) (*int64, func() error, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, errNotRegular
	}
	if fi.Size() < stateSize {
		// Extending zero-fills; two processes doing it at once, or one
		// after the other has written, both leave the word as it is.
		if err := f.Truncate(stateSize); err != nil {
			return nil, nil, err
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, stateSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return (*int64)(unsafe.Pointer(&mem[0])), func() error { return syscall.Munmap(mem) }, nil
}
