package main_test

import (
	"os"
	"syscall"
	"testing"
)

// evictFromPageCache drops the file at path from the page cache (after
// writing it back), so that the next process to map it loads it from disk
// as after a reboot. Its resident share of that process (RssFile) then no
// longer depends on how the file came into the cache: on this kernel
// (6.18, ext4 large folios) a binary just written by `go build` is mapped
// in larger pieces than one read back from disk, and looks up to 7 MiB
// bigger.
func evictFromPageCache(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		tb.Fatal(err)
	}
	const fadvDontNeed = 4 // POSIX_FADV_DONTNEED
	if _, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0); errno != 0 {
		tb.Fatalf("fadvise %s: %v", path, errno)
	}
}
