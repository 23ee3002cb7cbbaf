//go:build cgo

package pkcs11_test

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/hsm"
	"github.com/walletmcp/walletmcp/hsm/hsmtest"
	"github.com/walletmcp/walletmcp/signer"
	p11 "github.com/walletmcp/walletmcp/signer/pkcs11"
	"github.com/walletmcp/walletmcp/signer/signertest"
)

// setup gives the test a token with one key and a Signer over it.
func setup(t testing.TB, sessions int) (*hsm.Token, *p11.Signer, *hsmtest.Faults) {
	t.Helper()
	tk := hsmtest.New(t, "walletmcp")
	f := &hsmtest.Faults{}
	tok := f.Open(t, tk, sessions)
	ki, err := tok.GenerateKey(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	want, err := p11.Address(ki.Point)
	if err != nil {
		t.Fatal(err)
	}
	s, err := p11.Load(context.Background(), tok, want)
	if err != nil {
		t.Fatal(err)
	}
	if s.Address() != want {
		t.Fatalf("Load: address %v, want %v", s.Address(), want)
	}
	return tok, s, f
}

func TestConformance(t *testing.T) {
	_, s, _ := setup(t, 4)
	signertest.Run(t, func(*testing.T) signer.Signer { return s })
}

// About half of the token's signatures have a high s: every one comes out low.
func TestHighSNormalised(t *testing.T) {
	_, s, f := setup(t, 1)
	halfN := new(big.Int).Rsh(crypto.S256().Params().N, 1)
	high := 0
	f.SetAfterSign(func(sig []byte) []byte {
		if new(big.Int).SetBytes(sig[32:]).Cmp(halfN) > 0 {
			high++
		}
		return sig
	})
	for i := range 40 {
		d := crypto.Keccak256([]byte{byte(i)})
		sig, err := s.SignDigest(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if err := signer.VerifySignature(d, sig, s.Address()); err != nil {
			t.Fatal(err)
		}
	}
	if high == 0 {
		t.Fatal("the token made no high-s signature in 40: the normalisation was not exercised")
	}
}

// A token that returns a signature by another key, or garbage, is caught:
// nothing is returned.
func TestTamperedSignatureRefused(t *testing.T) {
	_, s, f := setup(t, 1)
	other, _ := crypto.GenerateKey()
	d := crypto.Keccak256([]byte("tamper"))
	cases := map[string]func([]byte) []byte{
		"other key": func([]byte) []byte {
			sig, _ := crypto.Sign(d, other)
			return sig[:64]
		},
		"flipped bit": func(sig []byte) []byte { sig[5] ^= 1; return sig },
		"zero r":      func(sig []byte) []byte { clear(sig[:32]); return sig },
	}
	for name, tamper := range cases {
		f.SetAfterSign(tamper)
		sig, err := s.SignDigest(context.Background(), d)
		if err == nil || sig != nil {
			t.Errorf("%s: SignDigest = %x, %v; want an error and no signature", name, sig, err)
		}
		if !errors.Is(err, signer.ErrWrongSigner) && !errors.Is(err, signer.ErrInvalidSignature) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	f.SetAfterSign(nil)
	if _, err := s.SignDigest(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

// A session closed under the server fails that transaction (nothing
// signed) and the next one is signed.
func TestSessionClosedUnderServer(t *testing.T) {
	_, s, f := setup(t, 1)
	to := common.HexToAddress("0x00000000000000000000000000000000c0ffee00")
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Gas: 21000, To: &to, GasFeeCap: big.NewInt(1), Value: big.NewInt(1)})
	f.SetBeforeSign(func(m hsm.Module, sess, _ uint) error { return m.CloseSession(sess) })
	signed, err := signer.SignTx(context.Background(), s, tx, big.NewInt(1337))
	if !errors.Is(err, hsm.ErrToken) || signed != nil {
		t.Fatalf("SignTx with the session closed = %v, %v; want hsm.ErrToken", signed, err)
	}
	f.SetBeforeSign(nil)
	signed, err = signer.SignTx(context.Background(), s, tx, big.NewInt(1337))
	if err != nil {
		t.Fatal(err)
	}
	if from, _ := types.Sender(types.LatestSignerForChainID(big.NewInt(1337)), signed); from != s.Address() {
		t.Fatal("wrong sender")
	}
}

// A registered key that is gone: Load names it, and a Signer whose key is
// deleted signs nothing.
func TestKeyGone(t *testing.T) {
	tok, s, f := setup(t, 2)
	ctx := context.Background()
	if _, err := p11.Load(ctx, tok, common.HexToAddress("0x1234")); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("Load(unknown) = %v, want ErrKeyNotFound", err)
	}
	f.SetBeforeSign(func(_ hsm.Module, _, key uint) error { return f.DeleteObject(key) })
	if sig, err := s.SignDigest(ctx, make([]byte, 32)); err == nil || sig != nil {
		t.Fatalf("SignDigest as the key is deleted = %x, %v", sig, err)
	}
	f.SetBeforeSign(nil)
	if sig, err := s.SignDigest(ctx, make([]byte, 32)); !errors.Is(err, hsm.ErrKeyNotFound) || sig != nil {
		t.Fatalf("SignDigest after deletion = %x, %v; want ErrKeyNotFound", sig, err)
	}
	if f.Signs() != 0 {
		t.Fatal("the token signed")
	}
	if _, err := p11.Load(ctx, tok, s.Address()); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("Load(deleted) = %v, want ErrKeyNotFound", err)
	}
}

func TestAddressRefusesBadPoint(t *testing.T) {
	pt := bytes.Repeat([]byte{1}, 65)
	pt[0] = 4
	if _, err := p11.Address(pt); err == nil {
		t.Fatal("a point off the curve gave an address")
	}
}
