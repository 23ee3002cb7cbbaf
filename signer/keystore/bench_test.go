package keystore_test

import (
	"context"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/signer/keystore"
)

// BenchmarkSignDigest measures one signature by the keystore backend:
// unseal, sign, wipe. Compare with BenchmarkRawCryptoSign.
func BenchmarkSignDigest(b *testing.B) {
	s := keystore.New(sealed(b))
	ctx := context.Background()
	d := crypto.Keccak256([]byte("bench"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignDigest(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawCryptoSign measures go-ethereum's crypto.Sign with a prebuilt
// *ecdsa.PrivateKey: the floor for BenchmarkSignDigest.
func BenchmarkRawCryptoSign(b *testing.B) {
	key, err := crypto.HexToECDSA(testKeyHex)
	if err != nil {
		b.Fatal(err)
	}
	d := crypto.Keccak256([]byte("bench"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := crypto.Sign(d, key); err != nil {
			b.Fatal(err)
		}
	}
}
