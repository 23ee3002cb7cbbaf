package keystore_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/signer"
	"github.com/walletmcp/walletmcp/signer/keystore"
	"github.com/walletmcp/walletmcp/signer/signertest"
	"github.com/walletmcp/walletmcp/wallet"
)

// testKeyHex is the private key of the EIP-155 example (0x46 repeated).
const testKeyHex = "4646464646464646464646464646464646464646464646464646464646464646"

func sealed(t testing.TB) *wallet.SealedKey {
	t.Helper()
	priv, _ := hex.DecodeString(testKeyHex)
	k, err := wallet.SealKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestConformanceSealKey(t *testing.T) {
	signertest.Run(t, func(t *testing.T) signer.Signer {
		k := sealed(t)
		t.Cleanup(k.Destroy)
		return keystore.New(k)
	})
}

// TestConformanceKeystore runs the suite on a key that went through a V3
// file: ImportHex, then Unlock.
func TestConformanceKeystore(t *testing.T) {
	ks := wallet.NewKeystore(filepath.Join(t.TempDir(), "ks"), &wallet.KeystoreOptions{ScryptN: 1 << 4, ScryptP: 1})
	pass := secret.CopyBytes([]byte("pw"))
	addr, err := ks.ImportHex(secret.CopyBytes([]byte(testKeyHex)), pass)
	if err != nil {
		t.Fatal(err)
	}
	signertest.Run(t, func(t *testing.T) signer.Signer {
		k, err := ks.Unlock(addr, pass)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(k.Destroy)
		return keystore.New(k)
	})
}

// TestEIP155Example signs the example transaction of EIP-155
// (https://eips.ethereum.org/EIPS/eip-155) and compares the result with the
// published signed encoding.
func TestEIP155Example(t *testing.T) {
	s := keystore.New(sealed(t))
	to := common.HexToAddress("0x3535353535353535353535353535353535353535")
	tx := types.NewTx(&types.LegacyTx{Nonce: 9, GasPrice: big.NewInt(20_000_000_000), Gas: 21000, To: &to, Value: big.NewInt(1e18)})
	signed, err := signer.SignTx(context.Background(), s, tx, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := signed.MarshalBinary()
	want := common.FromHex("0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83")
	if !bytes.Equal(raw, want) {
		t.Errorf("signed tx\n%x\nwant\n%x", raw, want)
	}
}

// TestSameAsCryptoSign: the backend's signature equals crypto.Sign's with
// the full key (both use RFC 6979), for every suite digest.
func TestSameAsCryptoSign(t *testing.T) {
	s := keystore.New(sealed(t))
	key, _ := crypto.HexToECDSA(testKeyHex)
	for _, d := range signertest.Digests() {
		got, err := s.SignDigest(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := crypto.Sign(d, key)
		if !bytes.Equal(got, want) {
			t.Errorf("digest %x: signature differs from crypto.Sign", d)
		}
	}
}

// TestNormalizeHighS makes high-s signatures by flipping real ones
// (s → n-s, recovery id flipped, as an HSM may return them) and checks that
// signer.Normalize restores the backend's canonical signature.
func TestNormalizeHighS(t *testing.T) {
	s := keystore.New(sealed(t))
	n := crypto.S256().Params().N
	halfN := new(big.Int).Rsh(n, 1)
	for _, d := range signertest.Digests() {
		sig, err := s.SignDigest(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		high := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:64]))
		if high.Cmp(halfN) <= 0 {
			t.Fatalf("flipped s is not high")
		}
		highSig := append(append(bytes.Clone(sig[:32]), high.FillBytes(make([]byte, 32))...), sig[64]^1)
		// The flipped signature is valid ECDSA (it recovers the same key)
		// but not canonical for Ethereum.
		if pub, err := crypto.SigToPub(d, highSig); err != nil || crypto.PubkeyToAddress(*pub) != s.Address() {
			t.Fatalf("flipped signature does not recover: %v", err)
		}
		if err := signer.VerifySignature(d, highSig, s.Address()); !errors.Is(err, signer.ErrInvalidSignature) {
			t.Errorf("VerifySignature accepted high s: %v", err)
		}
		got, err := signer.Normalize(d, highSig[:32], highSig[32:64], s.Address())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, sig) {
			t.Errorf("Normalize = %x, want %x", got, sig)
		}
	}
}

func TestDestroyedKey(t *testing.T) {
	k := sealed(t)
	s := keystore.New(k)
	addr := s.Address()
	k.Destroy()
	if _, err := s.SignDigest(context.Background(), make([]byte, 32)); !errors.Is(err, wallet.ErrDestroyed) {
		t.Errorf("SignDigest after Destroy: err = %v, want wallet.ErrDestroyed", err)
	}
	if s.Address() != addr {
		t.Error("address changed after Destroy")
	}
	if _, err := keystore.New(nil).SignDigest(context.Background(), make([]byte, 32)); !errors.Is(err, wallet.ErrDestroyed) {
		t.Errorf("nil key: err = %v", err)
	}
}

func TestNoKeyInPrintouts(t *testing.T) {
	s := keystore.New(sealed(t))
	var sb strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		fmt.Fprintf(&sb, verb+"\n", s)
		fmt.Fprintf(&sb, verb+"\n", *s)
	}
	slog.New(slog.NewTextHandler(&sb, nil)).Info("signer", "s", s)
	out := strings.ToLower(sb.String())
	if strings.Contains(out, testKeyHex[:16]) || strings.Contains(out, "\x46\x46\x46\x46") {
		t.Errorf("printout contains the key:\n%s", out)
	}
	if !strings.Contains(out, strings.ToLower(s.Address().Hex())) {
		t.Errorf("printout should name the address:\n%s", out)
	}
}
