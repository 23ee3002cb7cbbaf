package signer_test

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/signer"
	"github.com/walletmcp/walletmcp/signer/signertest"
)

// keyCheckDigests are the conformance digests plus digests at the edges of
// the scalar range (zero, n, above n, all ones).
func keyCheckDigests() [][]byte {
	n := crypto.S256().Params().N.Bytes()
	above := bytes.Clone(n)
	above[31]++
	return append(signertest.Digests(), make([]byte, 32), n, above, bytes.Repeat([]byte{0xff}, 32))
}

// KeyCheck gives the same canonical signature as Normalize for many keys
// and digests, with s low or high on the way in.
func TestKeyCheckAgreesWithNormalize(t *testing.T) {
	keys := []*ecdsa.PrivateKey{newRaw(t).key}
	for range 40 {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	v1 := 0
	for ki, key := range keys {
		kc, err := signer.NewKeyCheck(crypto.FromECDSAPub(&key.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		if kc.Address() != crypto.PubkeyToAddress(key.PublicKey) {
			t.Fatalf("key %d: address %v", ki, kc.Address())
		}
		for di, d := range keyCheckDigests() {
			sig, err := crypto.Sign(d, key)
			if err != nil {
				t.Fatal(err)
			}
			v1 += int(sig[64])
			for _, s := range [][]byte{sig[32:64], flipS(sig)[32:64]} {
				got, err := kc.Normalize(d, sig[:32], s)
				if err != nil {
					t.Fatalf("key %d digest %d: %v", ki, di, err)
				}
				want, err := signer.Normalize(d, sig[:32], s, kc.Address())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) || !bytes.Equal(got, sig) {
					t.Fatalf("key %d digest %d: KeyCheck %x, Normalize %x, crypto.Sign %x", ki, di, got, want, sig)
				}
			}
		}
	}
	if v1 == 0 {
		t.Fatal("no signature had V = 1: the test does not cover both parities")
	}
}

func TestKeyCheckRejects(t *testing.T) {
	s := newRaw(t)
	kc, err := signer.NewKeyCheck(crypto.FromECDSAPub(&s.key.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := crypto.GenerateKey()
	d := crypto.Keccak256([]byte("x"))
	sig, _ := crypto.Sign(d, s.key)
	osig, _ := crypto.Sign(d, other)
	r, sv := sig[:32], sig[32:64]
	n := crypto.S256().Params().N.Bytes()
	bump := func(b []byte) []byte { b = bytes.Clone(b); b[31] ^= 1; return b }
	for _, tc := range []struct {
		name   string
		digest []byte
		r, s   []byte
		want   error
	}{
		{"short digest", d[:31], r, sv, signer.ErrDigestLength},
		{"zero r", d, make([]byte, 32), sv, signer.ErrInvalidSignature},
		{"empty s", d, r, nil, signer.ErrInvalidSignature},
		{"r = n", d, n, sv, signer.ErrInvalidSignature},
		{"s = n", d, r, n, signer.ErrInvalidSignature},
		{"s 33 bytes", d, r, append([]byte{1}, sv...), signer.ErrInvalidSignature},
		{"other key's signature", d, osig[:32], osig[32:64], signer.ErrWrongSigner},
		{"other digest", crypto.Keccak256([]byte("y")), r, sv, signer.ErrWrongSigner},
		{"r changed", d, bump(r), sv, signer.ErrWrongSigner},
		{"s changed", d, r, bump(sv), signer.ErrWrongSigner},
	} {
		got, err := kc.Normalize(tc.digest, tc.r, tc.s)
		if !errors.Is(err, tc.want) || got != nil {
			t.Errorf("%s: Normalize = %x, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := signer.NewKeyCheck(append([]byte{4}, make([]byte, 64)...)); !errors.Is(err, signer.ErrInvalidSignature) {
		t.Errorf("NewKeyCheck accepted a point off the curve: %v", err)
	}
}

// FuzzKeyCheck: whatever KeyCheck accepts is canonical, recovers to the
// key, and is what Normalize gives.
func FuzzKeyCheck(f *testing.F) {
	s := newRaw(f)
	kc, err := signer.NewKeyCheck(crypto.FromECDSAPub(&s.key.PublicKey))
	if err != nil {
		f.Fatal(err)
	}
	for i, d := range keyCheckDigests() {
		sig, _ := crypto.Sign(d, s.key)
		f.Add(d, sig[:32], sig[32:64])
		if i%2 == 0 {
			f.Add(d, sig[:32], flipS(sig)[32:64])
		}
	}
	f.Fuzz(func(t *testing.T, digest, r, sv []byte) {
		got, err := kc.Normalize(digest, r, sv)
		want, werr := signer.Normalize(digest, r, sv, s.addr)
		if !bytes.Equal(got, want) || (err == nil) != (werr == nil) {
			t.Fatalf("KeyCheck %x, %v; Normalize %x, %v", got, err, want, werr)
		}
		if err != nil {
			return
		}
		if err := signer.VerifySignature(digest, got, s.addr); err != nil {
			t.Fatalf("KeyCheck returned a signature VerifySignature rejects: %v", err)
		}
	})
}
