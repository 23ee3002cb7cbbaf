package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/walletmcp/walletmcp/internal/release"
)

// verifyRelease is `walletmcp version --verify SUMS SIG PUBKEY`.
func (c *cli) verifyRelease(args []string) error {
	if len(args) != 3 {
		return &exitError{code: 2, err: errors.New("walletmcp version --verify needs SHA256SUMS, its signature and the release public key")}
	}
	read := func(what, p string) ([]byte, error) {
		b, err := release.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("version --verify: reading the %s: %w", what, err)
		}
		return b, nil
	}
	sums, err := read("checksums", args[0])
	if err != nil {
		return err
	}
	sig, err := read("signature", args[1])
	if err != nil {
		return err
	}
	keyText, err := read("public key", args[2])
	if err != nil {
		return err
	}
	pub, err := release.ParsePublicKey(keyText)
	if err != nil {
		return err
	}
	checked, err := release.Check(filepath.Dir(args[0]), sums, sig, pub)
	if err != nil {
		return err
	}
	for _, f := range checked {
		state := "not downloaded"
		if f.Present {
			state = "OK"
		}
		fmt.Fprintf(c.stdout, "%s: %s\n", f.Name, state)
	}
	fmt.Fprintln(c.stdout, "signature: OK (walletmcp-release)")
	return nil
}

// binaryIdentity is what serve records at start: its executable's SHA-256 and
// the module versions it was built from.
func binaryIdentity() map[string]any {
	out := map[string]any{"version": version}
	if exe, err := os.Executable(); err == nil {
		if sum, err := release.FileSHA256(exe); err == nil {
			out["binary_sha256"] = hex.EncodeToString(sum[:])
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		out["go"] = bi.GoVersion
		out["main"] = bi.Main.Path + "@" + bi.Main.Version
		mods := map[string]string{}
		for _, d := range bi.Deps {
			mods[d.Path] = moduleVersion(d)
		}
		out["modules"] = mods
	}
	return out
}
