//go:build unix

package hsm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// trustModule refuses a module that someone other than root could have
// put in place or changed: the library is loaded into the process that
// holds the keys (and is handed the PIN), so whoever can write it, or a
// directory on the way to it, runs code there. The file, after symbolic
// links, and every directory above it, on the path as given and as
// resolved, must be owned by root and writable by no one else (a sticky
// directory, such as /tmp, protects its entries from other users).
func trustModule(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", real)
	}
	if err := ownedByRoot(real, fi); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, p := range []string{abs, real} {
		for dir := filepath.Dir(p); !seen[dir]; dir = filepath.Dir(dir) {
			seen[dir] = true
			di, err := os.Stat(dir)
			if err != nil {
				return err
			}
			if err := ownedByRoot(dir, di); err != nil {
				return err
			}
		}
	}
	return nil
}

// ownedByRoot checks that fi (of p) is owned by root and writable by
// neither group nor others, unless it is a sticky directory.
func ownedByRoot(p string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("cannot read file ownership")
	}
	if st.Uid != 0 {
		return fmt.Errorf("%s is owned by uid %d, not root", p, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 && !(fi.IsDir() && fi.Mode()&os.ModeSticky != 0) {
		return fmt.Errorf("%s is writable by group or others", p)
	}
	return nil
}
