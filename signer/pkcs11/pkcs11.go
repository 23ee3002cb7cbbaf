// Package pkcs11 implements signer.Signer over a secp256k1 key inside a
// PKCS#11 token (package hsm).
//
// # Security model
//
// The private key never leaves the token: the token signs the digest with
// raw CKM_ECDSA and returns r ‖ s. This package turns that into Ethereum's
// R ‖ S ‖ V: s is normalised to the low half of the group order, the
// recovery id is found by recovering the public key, and a signature that
// does not recover to the Signer's address (a faulty, substituted or
// tampered token) is refused, so nothing unverified is ever returned. The
// recovery id and that check come from one public-key recovery per
// signature (signer.KeyCheck, which knows the key's public point) rather
// than one or two. The address is computed from the public key's CKA_EC_POINT, checked to be on
// the curve, and Load refuses a key whose address is not the registered one.
//
// A Signer signs whatever digest it is given; only approval.Guard may hold one.
package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/hsm"
	"github.com/walletmcp/walletmcp/signer"
)

// ErrAddressMismatch is returned by Load when the token's key has another
// address than the one registered.
var ErrAddressMismatch = errors.New("pkcs11: the token's key has another address than the registered account")

// Signer signs with a key on a PKCS#11 token. It is safe for concurrent use;
// the token's session pool bounds how many signatures run at once.
type Signer struct {
	key   *hsm.Key
	addr  common.Address
	check *signer.KeyCheck
}

var _ signer.Signer = (*Signer)(nil)

// Address returns the Ethereum address of a public point (uncompressed,
// 65 bytes), refusing a point that is not on secp256k1.
func Address(point []byte) (common.Address, error) {
	pub, err := crypto.UnmarshalPubkey(point)
	if err != nil {
		return common.Address{}, fmt.Errorf("pkcs11: the token's public key is not a secp256k1 point: %w", err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// New returns a Signer over k; its address comes from k's public point.
func New(k *hsm.Key) (*Signer, error) {
	if k == nil {
		return nil, errors.New("pkcs11: nil key")
	}
	point := k.Info().Point
	addr, err := Address(point)
	if err != nil {
		return nil, err
	}
	check, err := signer.NewKeyCheck(point)
	if err != nil {
		return nil, err
	}
	return &Signer{key: k, addr: addr, check: check}, nil
}

// Load finds the token's secp256k1 key whose address is want and returns a
// Signer over it. It fails with hsm.ErrKeyNotFound when the token has no
// such key (a registered key that is gone).
func Load(ctx context.Context, tok *hsm.Token, want common.Address) (*Signer, error) {
	keys, err := tok.Keys(ctx)
	if err != nil {
		return nil, err
	}
	return Find(ctx, tok, keys, want)
}

// Find is Load over a listing of the token's keys (tok.Keys), for a caller
// that loads several accounts from one listing.
func Find(ctx context.Context, tok *hsm.Token, keys []hsm.KeyInfo, want common.Address) (*Signer, error) {
	for _, ki := range keys {
		addr, err := Address(ki.Point)
		if err != nil || addr != want {
			continue
		}
		k, err := tok.Key(ctx, ki.ID)
		if err != nil {
			return nil, err
		}
		s, err := New(k)
		if err != nil {
			return nil, err
		}
		if s.addr != want {
			return nil, ErrAddressMismatch
		}
		return s, nil
	}
	return nil, fmt.Errorf("%w: no key for %s", hsm.ErrKeyNotFound, want.Hex())
}

// Address returns the key's address.
func (s *Signer) Address() common.Address { return s.addr }

// SignDigest signs the 32-byte digest on the token and returns the 65-byte
// R‖S‖V signature (V 0 or 1, low S), verified to recover to Address(). It
// fails with ctx.Err() if ctx is done, signer.ErrDigestLength for a digest
// of another length, a token error (hsm.ErrToken, hsm.ErrKeyNotFound, ...),
// or signer.ErrWrongSigner / signer.ErrInvalidSignature when the token's
// signature is not a valid one by this key; on error it returns no signature.
func (s *Signer) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(digest) != signer.DigestLength {
		return nil, signer.ErrDigestLength
	}
	raw, err := s.key.Sign(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: sign: %w", err)
	}
	sig, err := s.check.Normalize(digest, raw[:32], raw[32:])
	if err != nil {
		return nil, fmt.Errorf("pkcs11: the token's signature: %w", err)
	}
	return sig, nil
}

// String describes the signer by its address.
func (s *Signer) String() string { return "pkcs11.Signer(" + s.addr.Hex() + ")" }

// Format implements fmt.Formatter: every verb prints String.
func (s *Signer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer: the signer logs as its address.
func (s *Signer) LogValue() slog.Value { return slog.StringValue(s.addr.Hex()) }
