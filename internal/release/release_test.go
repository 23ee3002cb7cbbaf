package release

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sshKeygen makes an Ed25519 key pair in dir and returns the private key path
// and the public key text; the test is skipped without ssh-keygen.
func sshKeygen(t *testing.T, dir, name string) (string, []byte) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	key := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return key, pub
}

func sign(t *testing.T, key, file, ns string) []byte {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-Y", "sign", "-n", ns, "-f", key, file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	sig, err := os.ReadFile(file + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestCheckSignedRelease(t *testing.T) {
	dir := t.TempDir()
	key, pubText := sshKeygen(t, dir, "k")
	_, otherText := sshKeygen(t, dir, "other")
	bin := []byte("\x7fELF pretend binary")
	if err := os.WriteFile(filepath.Join(dir, "walletmcp-linux-amd64"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := FileSHA256(filepath.Join(dir, "walletmcp-linux-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	sums := []byte(strings.Join([]string{
		hexOf(sum[:]) + "  walletmcp-linux-amd64",
		strings.Repeat("ab", 32) + "  airsign-linux-amd64", // not downloaded: ignored
	}, "\n") + "\n")
	sumsPath := filepath.Join(dir, "SHA256SUMS")
	if err := os.WriteFile(sumsPath, sums, 0o644); err != nil {
		t.Fatal(err)
	}
	sig := sign(t, key, sumsPath, Namespace)
	pub, err := ParsePublicKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Check(dir, sums, sig, pub)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(got) != 2 || !got[0].Present || got[1].Present {
		t.Fatalf("Check = %+v", got)
	}
	// allowed_signers form of the same key.
	if _, err := ParsePublicKey(append([]byte("release@walletmcp "), pubText...)); err != nil {
		t.Fatalf("allowed_signers line: %v", err)
	}

	t.Run("changed binary byte", func(t *testing.T) {
		b := bytes.Clone(bin)
		b[3] ^= 1
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, "walletmcp-linux-amd64"), b, 0o644)
		if _, err := Check(d, sums, sig, pub); !errors.Is(err, ErrMismatch) {
			t.Fatalf("err = %v, want ErrMismatch", err)
		}
	})
	t.Run("changed sums byte", func(t *testing.T) {
		s := bytes.Clone(sums)
		s[len(s)-2] ^= 1
		if _, err := Check(dir, s, sig, pub); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("err = %v, want ErrBadSignature", err)
		}
	})
	t.Run("other key", func(t *testing.T) {
		other, _ := ParsePublicKey(otherText)
		if _, err := Check(dir, sums, sig, other); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("err = %v, want ErrBadSignature", err)
		}
	})
	t.Run("other namespace", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "SHA256SUMS")
		os.WriteFile(p, sums, 0o644)
		s := sign(t, key, p, "file")
		if _, err := Check(dir, sums, s, pub); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("err = %v, want ErrBadSignature", err)
		}
	})
	t.Run("nothing present", func(t *testing.T) {
		if _, err := Check(t.TempDir(), sums, sig, pub); err == nil {
			t.Fatal("Check with no listed file present succeeded")
		}
	})
	t.Run("path in sums", func(t *testing.T) {
		if _, err := ParseSums([]byte(hexOf(sum[:]) + "  ../walletmcp\n")); err == nil {
			t.Fatal("a name with a directory was accepted")
		}
	})
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n"))
	pub, err := ParsePublicKey([]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig []byte) {
		if Verify([]byte("m"), sig, pub) == nil {
			t.Fatal("a fuzzed signature verified")
		}
	})
}

func FuzzParseSums(f *testing.F) {
	f.Add([]byte(strings.Repeat("ab", 32) + "  walletmcp\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := ParseSums(b)
		for _, s := range list {
			if err == nil && (s.Name != filepath.Base(s.Name) || s.Name == "") {
				t.Fatalf("bad name %q accepted", s.Name)
			}
		}
	})
}
