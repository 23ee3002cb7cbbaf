package main_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A walletmcp built without cgo compiles, and says that PKCS#11 needs cgo
// instead of starting without its hsm accounts.
func TestHSMWithoutCgo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "walletmcp-nocgo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, home, "init", "--light-kdf", "--chain-id", "1337")
	mustCLI(t, home, "policy", "attest")
	pin := home + ".hsmpin"
	if err := os.WriteFile(pin, []byte("pin-canary-nocgo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(home, "config.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("\n[hsm]\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"walletmcp\"\npin_file = \"" + pin + "\"\n")
	f.Close()
	// An hsm account, registered as keygen would have.
	accts := `{"version":1,"accounts":[{"address":"0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf","label":"h","backend":"hsm"}]}`
	if err := os.WriteFile(filepath.Join(home, "accounts.json"), []byte(accts), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"hsm", "list"}, {"hsm", "keygen", "--label", "k"}, {"serve", "--dev"}} {
		cmd := exec.Command(bin, append([]string{"--home", home, "--password-file", passFile(t, home)}, args...)...)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("%v without cgo: %v\n%s%s", args, err, so.String(), se.String())
		}
		if !strings.Contains(se.String(), "PKCS#11 needs a walletmcp built with cgo") {
			t.Fatalf("%v without cgo: stderr does not say PKCS#11 needs cgo:\n%s", args, se.String())
		}
		if strings.Contains(so.String()+se.String(), "pin-canary-nocgo") {
			t.Fatalf("%v printed the PIN", args)
		}
	}
}
