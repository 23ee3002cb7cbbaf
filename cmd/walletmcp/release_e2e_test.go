package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseReproducibleAndVerified runs `make release` twice into two
// directories: the checksums must be identical, the signed SHA256SUMS must
// pass `version --verify`, and one changed byte in a binary must fail it.
func TestReleaseReproducibleAndVerified(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release twice")
	}
	for _, tool := range []string{"make", "ssh-keygen", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	key := filepath.Join(tmp, "release-key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "walletmcp release test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	release := func(dist string) []byte {
		t.Helper()
		cmd := exec.Command("make", "-s", "-C", root, "release", "DIST="+dist, "RELEASE_KEY="+key, "VERSION=v0.0.0-test")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make release: %v\n%s", err, out)
		}
		sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		return sums
	}
	d1, d2 := filepath.Join(tmp, "d1"), filepath.Join(tmp, "d2")
	s1, s2 := release(d1), release(d2)
	if string(s1) != string(s2) || !strings.Contains(string(s1), "walletmcp-") {
		t.Fatalf("two releases differ:\n%s\n%s", s1, s2)
	}
	bin := ""
	for _, line := range strings.Split(strings.TrimSpace(string(s1)), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[1], "walletmcp-") {
			bin = filepath.Join(d1, f[1])
		}
	}
	verify := func(dir string) (string, int) {
		cmd := exec.Command(bin, "version", "--verify", filepath.Join(dir, "SHA256SUMS"), filepath.Join(dir, "SHA256SUMS.sig"), key+".pub")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := verify(d1); code != 0 || !strings.Contains(out, ": OK") {
		t.Fatalf("verify of a good release: exit %d\n%s", code, out)
	}
	// One changed byte in d2's binary: the checksum no longer matches.
	b2 := filepath.Join(d2, filepath.Base(bin))
	data, err := os.ReadFile(b2)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(b2, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, code := verify(d2); code == 0 {
		t.Fatalf("verify passed with a changed byte:\n%s", out)
	}
	// One changed byte in SHA256SUMS: the signature no longer verifies.
	sum := sha256.Sum256(data)
	forged := strings.Replace(string(s1), strings.Fields(string(s1))[0], hex.EncodeToString(sum[:]), 1)
	if err := os.WriteFile(filepath.Join(d2, "SHA256SUMS"), []byte(forged), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := verify(d2); code == 0 || !strings.Contains(out, "signature") {
		t.Fatalf("verify passed with a rewritten SHA256SUMS:\n%s", out)
	}
}
