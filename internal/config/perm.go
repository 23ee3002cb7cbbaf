package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// PermissionError reports a part of the home that group or others can write.
type PermissionError struct {
	// What names the part: "home", "state file", "keystore", "keystore file", …
	What string
	// Path is its path.
	Path string
	// Owner, when set, is the uid that owns the path: neither this user's
	// nor root's (the mode may be right).
	Owner *uint32
}

// Error implements error; it names the chmod (or chown) that fixes it.
func (e *PermissionError) Error() string {
	if e.Owner != nil {
		if os.Geteuid() == 0 {
			// A daemon's home, run as root: root would act on files that
			// user can change. Its owner runs walletmcp on it.
			return fmt.Sprintf("config: %s %s belongs to uid %d, and root does not act on a home another user can change: run walletmcp as that user (sudo -u '#%d' walletmcp …)",
				e.What, e.Path, *e.Owner, *e.Owner)
		}
		return fmt.Sprintf("config: %s %s belongs to uid %d, not to you (uid %d) or root: whoever owns it can change what walletmcp reads; have root give it to you (chown) only if it is yours to trust",
			e.What, e.Path, *e.Owner, os.Geteuid())
	}
	return fmt.Sprintf("config: %s %s is writable by group or others: run chmod go-w %s", e.What, e.Path, secret.ShellQuote(e.Path))
}

// homeParts are the files and directories of a home that CheckPermissions
// checks (when they exist), with the name its errors give them.
var homeParts = []struct{ name, what string }{
	{HomeFile, "file"},
	{ConfigFile, "file"},
	{PolicyFile, "policy file"},
	{AttestationFile, "file"},
	{AccountsFile, "account registry"},
	{StateFile, "state file"},
	{StateFile + "-wal", "state file"},
	{StateFile + "-shm", "state file"},
	{StateFile + "-journal", "state file"},
	{AuditFile, "audit log"},
	{AuditFile + ".head", "audit log"},
	{DevPasswordFile, "file"},
	{DevChainDir, "dev chain directory"},
	{CallRateFile, "state file"},
	{KeystoreDir, "keystore"},
	{HDDir, "hd wallet directory"},
}

// CheckPermissions refuses a home that group or others can write, or another
// user (not root) owns, or whose state, keys or settings they can, or own: the home directory itself, every file
// of it listed above, the keystore directory and every file in it. The
// error (a *PermissionError) names the path and the chmod to run. Symbolic
// links are followed: what counts is the file they lead to. A home that does
// not exist yet passes (Require refuses it where a home is needed). Every
// command calls this when it opens the home.
func (h *Home) CheckPermissions() error {
	fi, err := os.Stat(h.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config: home: %w", err)
	}
	if err := writableCheck("home", h.Dir, fi); err != nil {
		return err
	}
	for _, p := range homeParts {
		path := h.Path(p.name)
		fi, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("config: %s: %w", p.name, err)
		}
		if err := writableCheck(p.what, path, fi); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(h.Path(KeystoreDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config: %s: %w", KeystoreDir, err)
	}
	for _, e := range entries {
		path := filepath.Join(h.Path(KeystoreDir), e.Name())
		fi, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile, or a dangling link: nothing to read
		}
		if err != nil {
			return fmt.Errorf("config: %s: %w", KeystoreDir, err)
		}
		if err := writableCheck("keystore file", path, fi); err != nil {
			return err
		}
	}
	return nil
}

// writableCheck refuses a part that group or others can write, or that
// another user owns: its owner can change it whatever its mode (a daemon's
// home holding a file of the agent's user, moved in or linked to, let that
// user rewrite config.toml's alert command and run it as the wallet).
func writableCheck(what, path string, fi os.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		return &PermissionError{What: what, Path: path}
	}
	if uid, ok := foreignOwner(fi); ok {
		return &PermissionError{What: what, Path: path, Owner: &uid}
	}
	return nil
}
