//go:build linux

package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDevPasswordNeverAddsKeys: a dev home's passphrase sits in its
// dev-password file, and anything running as the user can write one into a
// home (with a home.json of its own making beside it, whose passphrase it
// chose). The commands that add key material then used it without asking,
// and the key or seed the human added was encrypted with the agent's
// passphrase. They now take it only when given explicitly, and imports
// refuse a dev home outright.
func TestDevPasswordNeverAddsKeys(t *testing.T) {
	home, _ := newHome(t, 1337)
	pf := passFile(t, home)
	pass, err := os.ReadFile(pf)
	if err != nil {
		t.Fatal(err)
	}
	devPass := filepath.Join(home, "dev-password")
	if err := os.WriteFile(devPass, pass, 0o600); err != nil {
		t.Fatal(err)
	}
	// No --password-file, no WALLETMCP_PASSWORD_FILE, no terminal.
	bare := func(args ...string) (int, string) {
		cmd := exec.Command(binPath, append([]string{"--home", home}, args...)...)
		cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		var se bytes.Buffer
		cmd.Stderr = &se
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), se.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, se.String()
	}
	for _, args := range [][]string{
		{"account", "new"},
		{"hd", "new", "--words", "12", "--mnemonic-file", filepath.Join(t.TempDir(), "words")},
	} {
		if code, stderr := bare(args...); code == 0 || !strings.Contains(stderr, "is a dev home") || !strings.Contains(stderr, "--password-file "+devPass) {
			t.Fatalf("%v on a home with a dev-password file: exit %d\n%s", args, code, stderr)
		}
	}
	// Given explicitly, the dev home takes a throwaway key.
	if r := walletmcpWith(t, home, devPass, "account", "new", "--label", "throwaway"); r.code != 0 {
		t.Fatalf("account new --password-file dev-password: exit %d\n%s", r.code, r.stderr)
	}
	// Imports refuse a dev home, whatever the passphrase source.
	keyFile := writeSecretFile(t, "key", strings.Repeat("11", 32)+"\n")
	words := writeSecretFile(t, "words", abandonAbout+"\n")
	for _, args := range [][]string{
		{"account", "import", "--key-file", keyFile},
		{"hd", "restore", "--mnemonic-file", words},
	} {
		if r := walletmcp(t, home, args...); r.code == 0 || !strings.Contains(r.stderr, "is a dev home") {
			t.Fatalf("%v into a dev home: exit %d\n%s", args, r.code, r.stderr)
		}
	}
}
