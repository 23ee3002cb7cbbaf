package wallet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/internal/secret"
)

const sealTestKeyHex = "4646464646464646464646464646464646464646464646464646464646464646"

func mustSeal(t *testing.T) (*SealedKey, []byte) {
	t.Helper()
	priv, _ := hex.DecodeString(sealTestKeyHex)
	k, err := SealKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k, priv
}

func TestSealKey(t *testing.T) {
	k, priv := mustSeal(t)
	ek, _ := crypto.ToECDSA(priv)
	if want := crypto.PubkeyToAddress(ek.PublicKey); k.Address() != want {
		t.Fatalf("Address = %v, want %v", k.Address(), want)
	}
	if !bytes.Equal(priv, mustHex(sealTestKeyHex)) {
		t.Error("SealKey modified its input")
	}
	if bytes.Contains(k.box, priv) || bytes.Contains(k.key, priv) {
		t.Error("the sealed form contains the plaintext key")
	}
	var got []byte
	if err := k.Open(func(p []byte) error { got = bytes.Clone(p); return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, priv) {
		t.Error("Open returned another key")
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSealKeyRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		priv []byte
	}{
		{"nil", nil},
		{"short", make([]byte, 31)},
		{"zero", make([]byte, 32)},
		{"order", mustHex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")},
		{"long", make([]byte, 33)},
	} {
		if _, err := SealKey(tc.priv); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: err = %v, want ErrInvalidKey", tc.name, err)
		}
	}
}

// TestOpenWipes checks that the buffer handed to fn is zero after Open
// returns, after fn fails and after fn panics. (fn keeping priv is what the
// contract forbids; the test does it only to observe the wipe.)
func TestOpenWipes(t *testing.T) {
	k, _ := mustSeal(t)
	zero := make([]byte, PrivateKeyLength)

	var kept []byte
	if err := k.Open(func(p []byte) error { kept = p; return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kept, zero) {
		t.Error("buffer not wiped after Open")
	}

	boom := errors.New("boom")
	if err := k.Open(func(p []byte) error { kept = p; return boom }); err != boom {
		t.Errorf("Open returned %v, want fn's error", err)
	}
	if !bytes.Equal(kept, zero) {
		t.Error("buffer not wiped after fn failed")
	}

	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic was swallowed")
			}
		}()
		_ = k.Open(func(p []byte) error { kept = p; panic("boom") })
	}()
	if !bytes.Equal(kept, zero) {
		t.Error("buffer not wiped after fn panicked")
	}

	// Each Open gets a fresh buffer.
	var a, b []byte
	_ = k.Open(func(p []byte) error { a = p; return nil })
	_ = k.Open(func(p []byte) error { b = p; return nil })
	if &a[0] == &b[0] {
		t.Error("Open reused a buffer")
	}
}

func TestDestroy(t *testing.T) {
	k, _ := mustSeal(t)
	addr := k.Address()
	key, box := k.key, k.box
	k.Destroy()
	if !bytes.Equal(key, make([]byte, len(key))) || !bytes.Equal(box, make([]byte, len(box))) {
		t.Error("Destroy did not wipe the sealing key and box")
	}
	if err := k.Open(func([]byte) error { t.Error("fn called after Destroy"); return nil }); !errors.Is(err, ErrDestroyed) {
		t.Errorf("Open after Destroy: err = %v", err)
	}
	k.Destroy() // idempotent
	if k.Address() != addr {
		t.Error("Address changed after Destroy")
	}
	var nilKey *SealedKey
	nilKey.Destroy()
	if err := nilKey.Open(func([]byte) error { return nil }); !errors.Is(err, ErrDestroyed) {
		t.Errorf("Open on nil: %v", err)
	}
}

func TestCorruptSealFails(t *testing.T) {
	k, _ := mustSeal(t)
	k.box[0] ^= 1
	if err := k.Open(func([]byte) error { t.Error("fn called on a corrupt seal"); return nil }); err == nil {
		t.Error("Open of a corrupt seal succeeded")
	}
}

// TestOpenDestroyConcurrent is for the race detector: Opens running while
// the key is destroyed either succeed with the right key or see ErrDestroyed.
func TestOpenDestroyConcurrent(t *testing.T) {
	k, priv := mustSeal(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				err := k.Open(func(p []byte) error {
					if !bytes.Equal(p, priv) {
						t.Error("wrong key")
					}
					return nil
				})
				if err != nil && !errors.Is(err, ErrDestroyed) {
					t.Error(err)
				}
			}
		}()
	}
	k.Destroy()
	wg.Wait()
}

func testSecret(s string) *secret.Bytes { return secret.CopyBytes([]byte(s)) }

// BenchmarkOpen measures unsealing alone: the overhead the keystore signer
// adds to each signature.
func BenchmarkOpen(b *testing.B) {
	priv := mustHex(sealTestKeyHex)
	k, err := SealKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := k.Open(func([]byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
