// Package release checks a walletmcp download: a SHA256SUMS file signed with
// an Ed25519 key in the SSH signature format that `ssh-keygen -Y sign` makes
// (PROTOCOL.sshsig), and the files it lists.
//
// # Security model
//
// The trusted key is the one the user passes (PUBKEY, an authorized_keys line
// or an allowed_signers line); the key embedded in the signature is only
// compared with it, never trusted. Only Ed25519 keys, the namespace
// [Namespace] and the hash sha512 or sha256 are accepted; signature
// verification itself is golang.org/x/crypto/ssh's (crypto/ed25519 below).
// Every input is bounded.
package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Namespace is the SSHSIG namespace release checksums are signed under:
// `ssh-keygen -Y sign -n walletmcp-release -f KEY SHA256SUMS`.
const Namespace = "walletmcp-release"

// MaxSumsSize bounds the SHA256SUMS file, the signature and the key file.
const MaxSumsSize = 1 << 20

// ErrBadSignature is returned when the signature does not verify under the
// trusted key (or is malformed, or made by another key or for another namespace).
var ErrBadSignature = errors.New("release: signature does not verify")

// ErrMismatch is returned when a listed file's SHA-256 differs from SHA256SUMS.
var ErrMismatch = errors.New("release: checksum mismatch")

const (
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	magic      = "SSHSIG"
)

// ParsePublicKey reads the trusted key: an authorized_keys line
// ("ssh-ed25519 AAAA… comment") or an allowed_signers line ("principal
// ssh-ed25519 AAAA…"). Only Ed25519 is accepted.
func ParsePublicKey(text []byte) (ssh.PublicKey, error) {
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			// allowed_signers: principals first, then the key.
			if _, rest, ok := strings.Cut(line, " "); ok {
				k, _, _, _, err = ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(rest)))
			}
		}
		if err != nil {
			return nil, errors.New("release: the public key file holds no SSH public key")
		}
		if k.Type() != ssh.KeyAlgoED25519 {
			return nil, fmt.Errorf("release: the public key is %s, want ssh-ed25519", k.Type())
		}
		return k, nil
	}
	return nil, errors.New("release: the public key file is empty")
}

// sshString reads one SSH wire string (uint32 length, bytes).
func sshString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

func appendString(dst, s []byte) []byte {
	n := len(s)
	dst = append(dst, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(dst, s...)
}

// Verify checks that sig (an armored SSH signature) is trusted's signature
// of message under [Namespace].
func Verify(message, sig []byte, trusted ssh.PublicKey) error {
	text := strings.TrimSpace(string(sig))
	if !strings.HasPrefix(text, armorBegin) || !strings.HasSuffix(text, armorEnd) {
		return fmt.Errorf("%w: not an SSH signature (%s)", ErrBadSignature, armorBegin)
	}
	body := strings.Join(strings.Fields(text[len(armorBegin):len(text)-len(armorEnd)]), "")
	blob, err := base64.StdEncoding.DecodeString(body)
	if err != nil || !bytes.HasPrefix(blob, []byte(magic)) || len(blob) < len(magic)+4 {
		return fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	rest := blob[len(magic):]
	if v := rest[:4]; !bytes.Equal(v, []byte{0, 0, 0, 1}) {
		return fmt.Errorf("%w: unsupported signature version", ErrBadSignature)
	}
	rest = rest[4:]
	var fields [5][]byte // publickey, namespace, reserved, hash_algorithm, signature
	for i := range fields {
		var ok bool
		if fields[i], rest, ok = sshString(rest); !ok {
			return fmt.Errorf("%w: malformed signature", ErrBadSignature)
		}
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: trailing bytes", ErrBadSignature)
	}
	pub, ns, reserved, hashAlg, sigBlob := fields[0], fields[1], fields[2], fields[3], fields[4]
	if subtle.ConstantTimeCompare(pub, trusted.Marshal()) != 1 {
		return fmt.Errorf("%w: signed by another key", ErrBadSignature)
	}
	if string(ns) != Namespace {
		return fmt.Errorf("%w: namespace is not %s", ErrBadSignature, Namespace)
	}
	var digest []byte
	switch string(hashAlg) {
	case "sha512":
		d := sha512.Sum512(message)
		digest = d[:]
	case "sha256":
		d := sha256.Sum256(message)
		digest = d[:]
	default:
		return fmt.Errorf("%w: unsupported hash algorithm", ErrBadSignature)
	}
	var s ssh.Signature
	if err := ssh.Unmarshal(sigBlob, &s); err != nil {
		return fmt.Errorf("%w: malformed signature", ErrBadSignature)
	}
	if s.Format != ssh.KeyAlgoED25519 {
		return fmt.Errorf("%w: signature algorithm is not ssh-ed25519", ErrBadSignature)
	}
	signed := []byte(magic)
	signed = appendString(signed, ns)
	signed = appendString(signed, reserved)
	signed = appendString(signed, hashAlg)
	signed = appendString(signed, digest)
	if err := trusted.Verify(signed, &s); err != nil {
		return ErrBadSignature
	}
	return nil
}

// Sum is one line of SHA256SUMS.
type Sum struct {
	// Name is the file name as listed (no directories).
	Name string
	// SHA256 is the listed digest.
	SHA256 [sha256.Size]byte
}

// ParseSums reads a SHA256SUMS file in sha256sum's format ("HEX  NAME" or
// "HEX *NAME"). A name with a directory part is refused.
func ParseSums(text []byte) ([]Sum, error) {
	var out []Sum
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		h, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimPrefix(name, " "), "*")
		raw, err := hex.DecodeString(h)
		if !ok || err != nil || len(raw) != sha256.Size || name == "" || name != filepath.Base(name) || name == "." || name == ".." {
			return nil, fmt.Errorf("release: SHA256SUMS line %d is not \"SHA256  NAME\"", n)
		}
		var s Sum
		s.Name = name
		copy(s.SHA256[:], raw)
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("release: SHA256SUMS: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("release: SHA256SUMS lists no file")
	}
	return out, nil
}

// FileSHA256 is the SHA-256 of the file at path.
func FileSHA256(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// Checked is the outcome of [Check] for one listed file.
type Checked struct {
	// Name is the listed file name.
	Name string
	// Present says whether the file is next to SHA256SUMS.
	Present bool
}

// Check verifies sig over sums with trusted, then every file sums lists that
// is present in dir against its digest (like `sha256sum -c --ignore-missing`).
// At least one listed file must be present. It returns what it checked.
func Check(dir string, sums, sig []byte, trusted ssh.PublicKey) ([]Checked, error) {
	if err := Verify(sums, sig, trusted); err != nil {
		return nil, err
	}
	list, err := ParseSums(sums)
	if err != nil {
		return nil, err
	}
	var out []Checked
	found := 0
	for _, s := range list {
		got, err := FileSHA256(filepath.Join(dir, s.Name))
		if errors.Is(err, os.ErrNotExist) {
			out = append(out, Checked{Name: s.Name})
			continue
		}
		if err != nil {
			return out, fmt.Errorf("release: reading %s: %w", s.Name, err)
		}
		if subtle.ConstantTimeCompare(got[:], s.SHA256[:]) != 1 {
			return out, fmt.Errorf("%w: %s", ErrMismatch, s.Name)
		}
		found++
		out = append(out, Checked{Name: s.Name, Present: true})
	}
	if found == 0 {
		return out, errors.New("release: none of the files SHA256SUMS lists is next to it")
	}
	return out, nil
}

// ReadFile reads a checksums, signature or key file of at most [MaxSumsSize] bytes.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSumsSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSumsSize {
		return nil, fmt.Errorf("release: %s is larger than %d bytes", filepath.Base(path), MaxSumsSize)
	}
	return b, nil
}
