//go:build unix

package hsm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrustModule: a module and the directories above it must be owned by
// root and writable by no one else (an agent running as the wallet's user
// must not be able to put a library of its own into serve); Debian's
// SoftHSM module passes, through its symbolic link.
func TestTrustModule(t *testing.T) {
	if _, err := os.Stat("/usr/lib/softhsm/libsofthsm2.so"); err == nil {
		if err := trustModule("/usr/lib/softhsm/libsofthsm2.so"); err != nil {
			t.Fatalf("Debian's SoftHSM module refused: %v", err)
		}
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib.so")
	if err := os.WriteFile(lib, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := func(what, path, reason string) {
		t.Helper()
		err := trustModule(path)
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Fatalf("%s: %v, want an error saying %q", what, err, reason)
		}
	}
	if os.Getuid() != 0 {
		want("a module the user owns", lib, "not root")
		return
	}
	// Running as root (CI): the temporary files are root's.
	if err := trustModule(lib); err != nil {
		t.Fatalf("a root-owned module: %v", err)
	}
	if err := os.Chmod(lib, 0o664); err != nil {
		t.Fatal(err)
	}
	want("a group-writable module", lib, "writable by group or others")
	if err := os.Chmod(lib, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	want("a module in a world-writable directory", lib, "writable by group or others")
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := trustModule(lib); err != nil {
		t.Fatalf("a root-owned module in a sticky directory: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link.so")
	if err := os.Symlink(lib, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(lib, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	want("a module another user owns, through a link", link, "owned by uid 65534")
	if _, err := LoadModule(lib); !errors.Is(err, ErrModule) || !strings.Contains(err.Error(), "owned by root") {
		t.Fatalf("LoadModule of another user's module: %v", err)
	}
}
