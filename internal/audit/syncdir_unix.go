//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package audit

import "os"

// syncDir fsyncs a directory so that files just created in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
