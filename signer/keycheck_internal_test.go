package signer

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// The one-recovery path is what answers for valid signatures (no fallback
// to Normalize's two tries), and it refuses what is not by the key.
func TestKeyCheckFastPath(t *testing.T) {
	key, _ := crypto.GenerateKey()
	other, _ := crypto.GenerateKey()
	kc, err := NewKeyCheck(crypto.FromECDSAPub(&key.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if !kc.fast {
		t.Skip("Q.x ≥ n: probability 2^-128")
	}
	for i := range 200 {
		d := crypto.Keccak256([]byte{byte(i), byte(i >> 8)})
		sig, _ := crypto.Sign(d, key)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64])
		v, ok := kc.nonceParity(d, r, s)
		if !ok || v != sig[64] {
			t.Fatalf("digest %d: nonceParity = %d, %v; want %d, true", i, v, ok, sig[64])
		}
		osig, _ := crypto.Sign(d, other)
		if _, ok := kc.nonceParity(d, new(big.Int).SetBytes(osig[:32]), new(big.Int).SetBytes(osig[32:64])); ok {
			t.Fatalf("digest %d: another key's signature passed", i)
		}
		if _, ok := kc.nonceParity(crypto.Keccak256(d), r, s); ok {
			t.Fatalf("digest %d: a signature over another digest passed", i)
		}
	}
}
