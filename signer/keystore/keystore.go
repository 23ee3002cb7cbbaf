// Package keystore implements signer.Signer over a key held by package
// wallet: a V3 keystore key after wallet.Keystore.Unlock, or any key sealed
// with wallet.SealKey (for instance one derived from an HD seed).
//
// # Security model
//
// The private key stays sealed (AES-256-GCM in memory, see package wallet)
// except inside SignDigest: each signature opens it into a fresh buffer,
// builds an ecdsa.PrivateKey from the scalar alone, signs with go-ethereum's
// crypto.Sign, and zeroes the scalar's big.Int words and the buffer before
// returning, also on error or panic. No public key is computed per signature
// (crypto.ToECDSA would spend a scalar multiplication on it); the address is
// fixed when the key is unlocked, and signer.SignTx checks every transaction
// signature against it. go-ethereum's crypto.Sign copies the scalar into a
// buffer it zeroes itself (cgo build); the pure-Go build also makes a
// big.Int byte copy that it does not zero.
//
// A Signer signs whatever digest it is given; only approval.Guard may hold
// one. It does not own its SealedKey: whoever unlocked the key destroys it.
package keystore

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"log/slog"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/signer"
	"github.com/walletmcp/walletmcp/wallet"
)

// Signer signs with a wallet.SealedKey. It is safe for concurrent use.
type Signer struct {
	key *wallet.SealedKey
}

var _ signer.Signer = (*Signer)(nil)

// New returns a Signer over k. k stays owned by the caller, who destroys it
// when the Signer is no longer used; signing with a destroyed key fails with
// wallet.ErrDestroyed.
func New(k *wallet.SealedKey) *Signer { return &Signer{key: k} }

// Address returns the address of the key.
func (s *Signer) Address() common.Address {
	if s.key == nil {
		return common.Address{}
	}
	return s.key.Address()
}

// SignDigest returns the 65-byte R‖S‖V signature of the 32-byte digest (V is
// 0 or 1, S low), with a deterministic RFC 6979 nonce. It fails with
// ctx.Err() if ctx is done, signer.ErrDigestLength for a digest of another
// length, and wallet.ErrDestroyed after the key was destroyed.
func (s *Signer) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(digest) != signer.DigestLength {
		return nil, signer.ErrDigestLength
	}
	var sig []byte
	err := s.key.Open(func(priv []byte) error {
		// crypto.Sign reads only the curve and D, so the public key is left
		// empty: computing it (crypto.ToECDSA) would cost a scalar
		// multiplication per signature.
		d := new(big.Int).SetBytes(priv)
		defer wipeBig(d)
		k := ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: crypto.S256()}}
		//lint:ignore SA1019 go-ethereum's secp256k1 keys hold their scalar in D; crypto/ecdsa's replacements cover only NIST curves.
		k.D = d
		var err error
		sig, err = crypto.Sign(digest, &k)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: sign: %w", err)
	}
	return sig, nil
}

// SignsNow reports true (signer.Immediate): the key is in memory, and a
// signature is one in-process ECDSA operation.
func (s *Signer) SignsNow() bool { return s.key != nil }

// String describes the signer by its address.
func (s *Signer) String() string { return "keystore.Signer(" + s.Address().Hex() + ")" }

// Format implements fmt.Formatter: every verb prints String.
func (s *Signer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer: the signer logs as its address.
func (s *Signer) LogValue() slog.Value { return slog.StringValue(s.Address().Hex()) }

// wipeBig zeroes the words of x.
func wipeBig(x *big.Int) {
	clear(x.Bits())
	x.SetInt64(0)
}
