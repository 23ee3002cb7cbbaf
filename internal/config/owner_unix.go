//go:build unix

package config

import (
	"os"
	"syscall"
)

// foreignOwner returns the owner of fi when it is neither this process's
// effective user nor root.
func foreignOwner(fi os.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	if st.Uid == 0 || int(st.Uid) == os.Geteuid() {
		return 0, false
	}
	return st.Uid, true
}
