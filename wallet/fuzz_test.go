package wallet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// FuzzParseKeyFile checks that no input makes the key file parser or
// go-ethereum's decryption behind it panic, that rejections are
// ErrInvalidKeyFile, and that accepted files stay within the KDF bounds.
func FuzzParseKeyFile(f *testing.F) {
	for _, name := range []string{"very-light-scrypt.json", "geth/aaa", "geth/no-address", "geth/garbage", "geth/zero"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "keystore", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":3,"crypto":{"kdf":"pbkdf2","kdfparams":{"c":1,"dklen":32,"prf":"hmac-sha256","salt":"00"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := parseKeyFile(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidKeyFile) {
				t.Fatalf("err = %v, want ErrInvalidKeyFile", err)
			}
			return
		}
		// Decrypt only when the KDF is cheap, so the fuzzer stays fast.
		p := kf.crypto.KDFParams
		n, _ := intParam(p, "n")
		r, _ := intParam(p, "r")
		pp, _ := intParam(p, "p")
		c, _ := intParam(p, "c")
		if n*r*pp > 1<<10 || c > 1<<10 {
			return
		}
		priv, _, err := kf.open(secret.CopyBytes([]byte("fuzz")))
		secret.Wipe(priv)
		if err != nil && !errors.Is(err, ErrWrongPassphrase) && !errors.Is(err, ErrInvalidKeyFile) && !errors.Is(err, ErrKeyMismatch) {
			t.Fatalf("open: unexpected error %v", err)
		}
	})
}

// FuzzParseHexKey checks that the hex key parser never panics, accepts
// exactly 64 hex digits (after trimming and an optional 0x), and never puts
// its input in an error.
func FuzzParseHexKey(f *testing.F) {
	f.Add([]byte(sealTestKeyHex))
	f.Add([]byte(" 0x" + sealTestKeyHex + "\n"))
	f.Add([]byte("0x"))
	f.Add([]byte(strings.Repeat("g", 64)))
	f.Fuzz(func(t *testing.T, in []byte) {
		priv, err := parseHexKey(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("err = %v", err)
			}
			if len(in) >= 4 && strings.Contains(err.Error(), string(in)) {
				t.Fatalf("error %q echoes input", err)
			}
			return
		}
		if len(priv) != PrivateKeyLength {
			t.Fatalf("parsed %d bytes", len(priv))
		}
	})
}
