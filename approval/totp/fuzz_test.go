package totp

import (
	"bytes"
	"testing"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// FuzzOpen feeds arbitrary blobs to Open: it never panics, and only a blob
// sealed under the key opens, to a valid base32 secret.
func FuzzOpen(f *testing.F) {
	key := secret.NewBytes(bytes.Repeat([]byte{3}, 32))
	good, err := Seal(key, testSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{sealVersion})
	f.Add(append([]byte{2}, good[1:]...))
	f.Fuzz(func(t *testing.T, blob []byte) {
		got, err := Open(key, blob)
		if err != nil {
			return
		}
		if !bytes.Equal(blob, good) && string(got.Reveal()) != testSecret {
			t.Fatalf("a forged blob opened")
		}
	})
}

// FuzzCheck feeds arbitrary codes to Check: it never panics, and accepts only
// the codes of steps t-1..t+1.
func FuzzCheck(f *testing.F) {
	sec := secret.NewBytes([]byte(testSecret))
	valid := map[string]bool{}
	for s := int64(step0 - 1); s <= step0+1; s++ {
		valid[code(f, testSecret, s)] = true
		f.Add(code(f, testSecret, s))
	}
	for _, c := range []string{"", "000000", "12345", "1234567", "abcdef", " 123456", "١٢٣٤٥٦"} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, c string) {
		_, err := Check(sec, c, t0)
		if (err == nil) != valid[c] {
			t.Fatalf("Check(%q) = %v", c, err)
		}
	})
}
