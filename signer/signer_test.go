package signer_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/walletmcp/walletmcp/signer"
	"github.com/walletmcp/walletmcp/signer/signertest"
)

// eip155Key is the private key of the EIP-155 example (0x46 repeated).
const eip155Key = "4646464646464646464646464646464646464646464646464646464646464646"

// rawSigner signs with a plain *ecdsa.PrivateKey; mangle, if set, alters
// each signature to imitate a faulty backend.
type rawSigner struct {
	key    *ecdsa.PrivateKey
	addr   common.Address
	mangle func(sig []byte) []byte
	err    error
}

func (s *rawSigner) Address() common.Address { return s.addr }

func (s *rawSigner) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(digest) != signer.DigestLength {
		return nil, signer.ErrDigestLength
	}
	if s.err != nil {
		return nil, s.err
	}
	sig, err := crypto.Sign(digest, s.key)
	if err != nil {
		return nil, err
	}
	if s.mangle != nil {
		sig = s.mangle(sig)
	}
	return sig, nil
}

func newRaw(t testing.TB) *rawSigner {
	key, err := crypto.HexToECDSA(eip155Key)
	if err != nil {
		t.Fatal(err)
	}
	return &rawSigner{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
}

func TestRawSignerConforms(t *testing.T) {
	signertest.Run(t, func(t *testing.T) signer.Signer { return newRaw(t) })
}

// TestEIP155Example signs the example transaction of EIP-155
// (https://eips.ethereum.org/EIPS/eip-155, "Example") and compares the
// signing hash and the signed encoding with the published ones. RFC 6979
// nonces make the signature deterministic.
func TestEIP155Example(t *testing.T) {
	to := common.HexToAddress("0x3535353535353535353535353535353535353535")
	tx := types.NewTx(&types.LegacyTx{
		Nonce:    9,
		GasPrice: big.NewInt(20_000_000_000),
		Gas:      21000,
		To:       &to,
		Value:    big.NewInt(1_000_000_000_000_000_000),
	})
	chainID := big.NewInt(1)
	wantHash := common.HexToHash("0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53")
	if h := types.LatestSignerForChainID(chainID).Hash(tx); h != wantHash {
		t.Fatalf("signing hash %v, want %v", h, wantHash)
	}
	signed, err := signer.SignTx(context.Background(), newRaw(t), tx, chainID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signed.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := common.FromHex("0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83")
	if !bytes.Equal(raw, want) {
		t.Errorf("signed tx\n%x\nwant\n%x", raw, want)
	}
}

func TestSignTxRefuses(t *testing.T) {
	ctx := context.Background()
	s := newRaw(t)
	to := common.HexToAddress("0x3535353535353535353535353535353535353535")
	dyn := func(chainID *big.Int) *types.Transaction {
		return types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Gas: 21000, To: &to, GasFeeCap: big.NewInt(1), GasTipCap: big.NewInt(1)})
	}
	legacy := types.NewTx(&types.LegacyTx{Gas: 21000, To: &to, GasPrice: big.NewInt(1)})
	signedOther, err := signer.SignTx(ctx, s, legacy, big.NewInt(5))
	if err != nil {
		t.Fatal(err)
	}
	unprotected, err := types.SignTx(legacy, types.HomesteadSigner{}, s.key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		s       signer.Signer
		tx      *types.Transaction
		chainID *big.Int
		want    error
	}{
		{"nil chain id", s, dyn(big.NewInt(1)), nil, signer.ErrChainID},
		{"zero chain id", s, dyn(big.NewInt(0)), big.NewInt(0), signer.ErrChainID},
		{"negative chain id", s, dyn(big.NewInt(-1)), big.NewInt(-1), signer.ErrChainID},
		{"legacy zero chain id", s, legacy, new(big.Int), signer.ErrChainID},
		{"dynamic fee other chain", s, dyn(big.NewInt(1)), big.NewInt(1337), signer.ErrChainID},
		{"dynamic fee without chain id", s, dyn(nil), big.NewInt(1337), signer.ErrChainID},
		{"legacy signed for other chain", s, signedOther, big.NewInt(1337), signer.ErrChainID},
		{"legacy unprotected", s, unprotected, big.NewInt(1337), signer.ErrChainID},
		{"access list tx", s, types.NewTx(&types.AccessListTx{ChainID: big.NewInt(1337), Gas: 21000}), big.NewInt(1337), signer.ErrUnsupportedTx},
		{"blob tx", s, types.NewTx(&types.BlobTx{ChainID: uint256.NewInt(1337), Gas: 21000}), big.NewInt(1337), signer.ErrUnsupportedTx},
		{"set code tx", s, types.NewTx(&types.SetCodeTx{ChainID: uint256.NewInt(1337), Gas: 21000}), big.NewInt(1337), signer.ErrUnsupportedTx},
		{"lying address", &rawSigner{key: s.key, addr: common.Address{1}}, dyn(big.NewInt(1337)), big.NewInt(1337), signer.ErrWrongSigner},
		{"high s", &rawSigner{key: s.key, addr: s.addr, mangle: flipS}, dyn(big.NewInt(1337)), big.NewInt(1337), signer.ErrInvalidSignature},
		{"short signature", &rawSigner{key: s.key, addr: s.addr, mangle: func(b []byte) []byte { return b[:64] }}, dyn(big.NewInt(1337)), big.NewInt(1337), signer.ErrInvalidSignature},
		{"V 27", &rawSigner{key: s.key, addr: s.addr, mangle: func(b []byte) []byte { b[64] += 27; return b }}, dyn(big.NewInt(1337)), big.NewInt(1337), signer.ErrInvalidSignature},
		{"wrong V", &rawSigner{key: s.key, addr: s.addr, mangle: func(b []byte) []byte { b[64] ^= 1; return b }}, dyn(big.NewInt(1337)), big.NewInt(1337), signer.ErrWrongSigner},
		{"backend error", &rawSigner{key: s.key, addr: s.addr, err: errBackend}, dyn(big.NewInt(1337)), big.NewInt(1337), errBackend},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := signer.SignTx(ctx, tc.s, tc.tx, tc.chainID)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if out != nil {
				t.Error("a transaction was returned with the error")
			}
		})
	}
	if _, err := signer.SignTx(ctx, nil, legacy, big.NewInt(1)); err == nil {
		t.Error("nil signer accepted")
	}
	if _, err := signer.SignTx(ctx, s, nil, big.NewInt(1)); err == nil {
		t.Error("nil tx accepted")
	}
	// Re-signing a legacy tx already signed for the same chain is allowed.
	if _, err := signer.SignTx(ctx, s, signedOther, big.NewInt(5)); err != nil {
		t.Errorf("re-sign for the same chain: %v", err)
	}
}

var errBackend = errors.New("backend failed")

// flipS turns a low-s signature into the equivalent high-s one: s → n-s,
// recovery id flipped.
func flipS(sig []byte) []byte {
	out := bytes.Clone(sig)
	n := crypto.S256().Params().N
	s := new(big.Int).SetBytes(out[32:64])
	s.Sub(n, s).FillBytes(out[32:64])
	out[64] ^= 1
	return out
}

func TestNormalize(t *testing.T) {
	s := newRaw(t)
	for i, d := range signertest.Digests() {
		sig, err := crypto.Sign(d, s.key)
		if err != nil {
			t.Fatal(err)
		}
		r, sv := sig[:32], sig[32:64]
		high := flipS(sig)
		for _, tc := range []struct {
			name string
			r, s []byte
		}{
			{"low s", r, sv},
			{"high s", r, high[32:64]},
			{"padded r", append([]byte{0}, r...), sv},
			{"trimmed", bytes.TrimLeft(r, "\x00"), bytes.TrimLeft(high[32:64], "\x00")},
		} {
			got, err := signer.Normalize(d, tc.r, tc.s, s.addr)
			if err != nil {
				t.Errorf("digest %d %s: %v", i, tc.name, err)
				continue
			}
			if !bytes.Equal(got, sig) {
				t.Errorf("digest %d %s: Normalize = %x, want %x", i, tc.name, got, sig)
			}
			if err := signer.VerifySignature(d, got, s.addr); err != nil {
				t.Errorf("digest %d %s: VerifySignature: %v", i, tc.name, err)
			}
		}
		if err := signer.VerifySignature(d, high, s.addr); !errors.Is(err, signer.ErrInvalidSignature) {
			t.Errorf("VerifySignature accepted a high-s signature: %v", err)
		}
	}
}

func TestNormalizeRejects(t *testing.T) {
	s := newRaw(t)
	d := crypto.Keccak256([]byte("x"))
	sig, _ := crypto.Sign(d, s.key)
	r, sv := sig[:32], sig[32:64]
	n := crypto.S256().Params().N.Bytes()
	for _, tc := range []struct {
		name      string
		digest    []byte
		r, s      []byte
		addr      common.Address
		want      error
		wantSigOK bool
	}{
		{"short digest", d[:31], r, sv, s.addr, signer.ErrDigestLength, false},
		{"zero r", d, make([]byte, 32), sv, s.addr, signer.ErrInvalidSignature, false},
		{"empty s", d, r, nil, s.addr, signer.ErrInvalidSignature, false},
		{"r = n", d, n, sv, s.addr, signer.ErrInvalidSignature, false},
		{"s = n", d, r, n, s.addr, signer.ErrInvalidSignature, false},
		{"s 33 bytes", d, r, append([]byte{1}, sv...), s.addr, signer.ErrInvalidSignature, false},
		{"other address", d, r, sv, common.Address{1}, signer.ErrWrongSigner, false},
		{"other digest", crypto.Keccak256([]byte("y")), r, sv, s.addr, signer.ErrWrongSigner, false},
	} {
		got, err := signer.Normalize(tc.digest, tc.r, tc.s, tc.addr)
		if !errors.Is(err, tc.want) || got != nil {
			t.Errorf("%s: Normalize = %x, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	s := newRaw(t)
	d := crypto.Keccak256([]byte("verify"))
	sig, _ := crypto.Sign(d, s.key)
	if err := signer.VerifySignature(d, sig, s.addr); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(sig)) }
	for _, tc := range []struct {
		name   string
		digest []byte
		sig    []byte
		addr   common.Address
		want   error
	}{
		{"digest 33", append(bytes.Clone(d), 0), sig, s.addr, signer.ErrDigestLength},
		{"sig 64", d, sig[:64], s.addr, signer.ErrInvalidSignature},
		{"sig 66", d, append(bytes.Clone(sig), 0), s.addr, signer.ErrInvalidSignature},
		{"V 27", d, mod(func(b []byte) []byte { b[64] += 27; return b }), s.addr, signer.ErrInvalidSignature},
		{"V flipped", d, mod(func(b []byte) []byte { b[64] ^= 1; return b }), s.addr, signer.ErrWrongSigner},
		{"high s", d, flipS(sig), s.addr, signer.ErrInvalidSignature},
		{"zero r", d, mod(func(b []byte) []byte { clear(b[:32]); return b }), s.addr, signer.ErrInvalidSignature},
		{"other addr", d, sig, common.Address{1}, signer.ErrWrongSigner},
	} {
		if err := signer.VerifySignature(tc.digest, tc.sig, tc.addr); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzNormalize checks that Normalize never panics and that whatever it
// accepts is a canonical signature recovering to the address.
func FuzzNormalize(f *testing.F) {
	s := newRaw(f)
	d := crypto.Keccak256([]byte("fuzz"))
	sig, _ := crypto.Sign(d, s.key)
	f.Add(d, sig[:32], sig[32:64])
	f.Add(d, sig[:32], flipS(sig)[32:64])
	f.Add(d[:5], []byte{1}, []byte{1})
	f.Fuzz(func(t *testing.T, digest, r, sv []byte) {
		got, err := signer.Normalize(digest, r, sv, s.addr)
		if err != nil {
			return
		}
		if err := signer.VerifySignature(digest, got, s.addr); err != nil {
			t.Fatalf("Normalize returned a signature VerifySignature rejects: %v", err)
		}
	})
}
