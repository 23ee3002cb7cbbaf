package audit

import (
	"fmt"
	"os"

	"github.com/walletmcp/walletmcp/internal/fslock"
)

// lockFile takes an advisory lock (flock) on f, exclusive or shared, waiting
// for it as long as another writer holds it. Writers hold it only for one
// commit, so the wait is short. On platforms without flock it is a no-op:
// the caller must make sure that only one Log, in one process, writes a log
// at a time.
func lockFile(f *os.File, exclusive bool) error {
	if err := fslock.Lock(f, exclusive); err != nil {
		return fmt.Errorf("audit: lock log: %w", err)
	}
	return nil
}

// unlockFile releases the lock taken by lockFile.
func unlockFile(f *os.File) error {
	if err := fslock.Unlock(f); err != nil {
		return fmt.Errorf("audit: unlock log: %w", err)
	}
	return nil
}
