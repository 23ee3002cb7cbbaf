package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walletmcp/walletmcp/internal/secret"
)

func TestCheckPermissions(t *testing.T) {
	for _, c := range []struct {
		name string
		path string // relative to the home; "" is the home itself
		mode os.FileMode
		what string // "" means accepted
	}{
		{"home group-writable", "", 0o770, "home"},
		{"home others-writable", "", 0o703, "home"},
		{"home group-readable only", "", 0o750, ""},
		{"state file group-writable", StateFile, 0o620, "state file"},
		{"state wal others-writable", StateFile + "-wal", 0o602, "state file"},
		{"state file readable by all", StateFile, 0o644, ""},
		{"keystore dir group-writable", KeystoreDir, 0o770, "keystore"},
		{"keystore file others-writable", filepath.Join(KeystoreDir, "UTC--key"), 0o606, "keystore file"},
		{"policy group-writable", PolicyFile, 0o660, "policy file"},
		{"audit log others-writable", AuditFile, 0o646, "audit log"},
		{"call rate state group-writable", CallRateFile, 0o620, "state file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, _ := newHome(t)
			for _, f := range []string{StateFile, StateFile + "-wal", PolicyFile, AuditFile, CallRateFile} {
				if err := os.WriteFile(h.Path(f), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(h.Path(KeystoreDir), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(h.Path(filepath.Join(KeystoreDir, "UTC--key")), []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := h.CheckPermissions(); err != nil {
				t.Fatalf("a fresh home: %v", err)
			}
			target := h.Path(c.path)
			if err := os.Chmod(target, c.mode); err != nil {
				t.Fatal(err)
			}
			err := h.CheckPermissions()
			if c.what == "" {
				if err != nil {
					t.Fatalf("mode %o refused: %v", c.mode, err)
				}
				return
			}
			var pe *PermissionError
			if !errors.As(err, &pe) || pe.What != c.what || pe.Path != target {
				t.Fatalf("mode %o: %v, want a PermissionError for %s %s", c.mode, err, c.what, target)
			}
			if !strings.HasSuffix(err.Error(), "is writable by group or others: run chmod go-w "+target) {
				t.Fatalf("message %q", err)
			}
		})
	}
}

func TestCheckPermissionsFollowsLinksAndSkipsMissing(t *testing.T) {
	missing, err := Open(filepath.Join(t.TempDir(), "nothing-here"))
	if err != nil {
		t.Fatal(err)
	}
	if err := missing.CheckPermissions(); err != nil {
		t.Fatalf("a home that does not exist yet: %v", err)
	}
	h, _ := newHome(t)
	outside := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(outside, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(outside, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, h.Path(StateFile)); err != nil {
		t.Fatal(err)
	}
	var pe *PermissionError
	if err := h.CheckPermissions(); !errors.As(err, &pe) || pe.What != "state file" {
		t.Fatalf("a state file linked to a world-writable file: %v", err)
	}
}

func TestCheckNewPassphrase(t *testing.T) {
	for _, c := range []struct {
		pass string
		ok   bool
	}{
		{"", false},
		{"123456789", false},
		{"1234567890", true},
		{"ééééééééé", false}, // 9 characters, 18 bytes
		{"éééééééééé", true},
	} {
		err := CheckNewPassphrase(secret.CopyBytes([]byte(c.pass)))
		if (err == nil) != c.ok {
			t.Errorf("CheckNewPassphrase(%d runes) = %v", len([]rune(c.pass)), err)
		}
	}
	h, err := Open(filepath.Join(t.TempDir(), "home"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Init(secret.CopyBytes([]byte("short")), true); !errors.Is(err, ErrShortPassphrase) {
		t.Fatalf("Init with a short passphrase: %v", err)
	}
	if h.Initialised() {
		t.Fatal("a refused Init left a home.json")
	}
}

func TestRequireSaysHowToCreateAHome(t *testing.T) {
	h, err := Open(filepath.Join(t.TempDir(), "nothing-here"))
	if err != nil {
		t.Fatal(err)
	}
	err = h.Require()
	if !errors.Is(err, ErrNoHome) || !strings.Contains(err.Error(), h.Dir) || !strings.Contains(err.Error(), "walletmcp init") {
		t.Fatalf("Require: %v", err)
	}
}

// TestCheckPermissionsRefusesForeignOwners: a part of the home that another
// user owns (moved in, or reached through a link) can be changed by that
// user whatever its mode: in a daemon's home, the agent's user rewrote
// config.toml's alert command through a link it kept, and the wallet ran
// it. Only this user and root may own the parts.
func TestCheckPermissionsRefusesForeignOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	h, _ := newHome(t)
	for _, f := range []string{ConfigFile, AccountsFile} {
		if err := os.WriteFile(h.Path(f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(h.Path(KeystoreDir), 0o700); err != nil {
		t.Fatal(err)
	}
	const other = 12345
	for _, name := range []string{ConfigFile, KeystoreDir} {
		target := h.Path(name)
		if err := os.Chown(target, other, other); err != nil {
			t.Fatal(err)
		}
		var pe *PermissionError
		err := h.CheckPermissions()
		// Root is told to run walletmcp as the owner, never to take the
		// file (which would lock a daemon out of its own home).
		if !errors.As(err, &pe) || pe.Path != target || pe.Owner == nil || *pe.Owner != other ||
			!strings.Contains(err.Error(), "belongs to uid 12345") || !strings.Contains(err.Error(), "sudo -u '#12345'") || strings.Contains(err.Error(), "chown") {
			t.Fatalf("%s owned by uid %d: %v", name, other, err)
		}
		if err := os.Chown(target, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Through a link, the file it leads to counts.
	outside := filepath.Join(t.TempDir(), "accounts.json")
	if err := os.WriteFile(outside, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(outside, other, other); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(h.Path(AccountsFile))
	if err := os.Symlink(outside, h.Path(AccountsFile)); err != nil {
		t.Fatal(err)
	}
	var pe *PermissionError
	if err := h.CheckPermissions(); !errors.As(err, &pe) || pe.Owner == nil {
		t.Fatalf("a registry linked to another user's file: %v", err)
	}
}
