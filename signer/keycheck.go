package signer

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// KeyCheck normalises raw (r, s) signatures of one known public key Q, as
// Normalize does, with one public-key recovery per signature instead of
// Normalize's one or two (1.5 on average), for backends that know their
// public key (a PKCS#11 token's CKA_EC_POINT).
//
// # How one recovery gives V and the check
//
// A raw signature (r, s) over e by Q is valid exactly when the point
// P = s⁻¹·e·G + s⁻¹·r·Q has x ≡ r (mod n); P is then the signature's
// nonce point R, and V is the parity of P's y. KeyCheck has the curve
// library compute P through its recovery function, which for a signature
// (r', s', v') over e' returns r'⁻¹·(s'·R' − e'·G) with R' the point of x
// r' and parity v'. With r' = Q.x and v' = parity(Q.y), R' is Q itself, and
// choosing
//
//	s' = Q.x · r · s⁻¹  and  e' = −Q.x · e · s⁻¹   (mod n)
//
// makes the recovered "public key" exactly P. Only scalar arithmetic mod n
// is done here; every curve operation is go-ethereum's (libsecp256k1 under
// cgo).
//
// If P.x = r and V = parity(P.y), recovering (r, s, V) over e yields
// r⁻¹·(s·P − e·G) = r⁻¹·(e·G + r·Q − e·G) = Q: the signature is checked to
// recover to the account by the same computation that found V. Anything
// else (P.x ≠ r, a recovery error, a degenerate scalar, Q.x ≥ n) falls
// back to Normalize, which tries both V by recovery; a signature that is
// not by Q is refused either way (ErrWrongSigner).
type KeyCheck struct {
	addr common.Address
	qx   *big.Int // Q.x, below n on the fast path
	qv   byte     // parity of Q.y
	fast bool
}

// NewKeyCheck returns a KeyCheck for the public key point (65 bytes,
// uncompressed), refusing a point that is not on secp256k1.
func NewKeyCheck(point []byte) (*KeyCheck, error) {
	pub, err := crypto.UnmarshalPubkey(point)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %w", ErrInvalidSignature, err)
	}
	// UnmarshalPubkey checked the point (65 bytes, 0x04 ‖ X ‖ Y, on the
	// curve): its coordinates are read from the encoding.
	k := &KeyCheck{addr: crypto.PubkeyToAddress(*pub), qx: new(big.Int).SetBytes(point[1:33]), qv: point[64] & 1}
	k.fast = k.qx.Sign() > 0 && k.qx.Cmp(secp256k1N) < 0
	return k, nil
}

// Address is the key's address.
func (k *KeyCheck) Address() common.Address { return k.addr }

// Normalize turns a raw (r, s) over digest into the canonical 65-byte
// R‖S‖V signature (low s) by this key, with the contract and errors of the
// package-level Normalize.
func (k *KeyCheck) Normalize(digest, r, s []byte) ([]byte, error) {
	sig, rr, ss, err := lowS(digest, r, s)
	if err != nil {
		return nil, err
	}
	if k.fast {
		if v, ok := k.nonceParity(digest, rr, ss); ok {
			sig[64] = v
			return sig, nil
		}
	}
	return Normalize(digest, r, s, k.addr)
}

// nonceParity computes P = s⁻¹·e·G + s⁻¹·r·Q through one recovery (see
// KeyCheck) and returns P's y parity when P.x = r; ok is false otherwise.
func (k *KeyCheck) nonceParity(digest []byte, r, s *big.Int) (v byte, ok bool) {
	n := secp256k1N
	w := new(big.Int).ModInverse(s, n)
	if w == nil {
		return 0, false
	}
	e := new(big.Int).SetBytes(digest)
	// s' = Q.x · r · w, e' = −Q.x · e · w (mod n).
	s2 := new(big.Int).Mul(k.qx, r)
	s2.Mod(s2.Mul(s2.Mod(s2, n), w), n)
	e2 := new(big.Int).Mul(k.qx, e)
	e2.Mod(e2.Mul(e2.Mod(e2, n), w), n)
	if e2.Sign() != 0 {
		e2.Sub(n, e2)
	}
	if s2.Sign() == 0 {
		return 0, false
	}
	var msg [32]byte
	e2.FillBytes(msg[:])
	var rsig [SignatureLength]byte
	k.qx.FillBytes(rsig[:32])
	s2.FillBytes(rsig[32:64])
	rsig[64] = k.qv
	p, err := crypto.Ecrecover(msg[:], rsig[:])
	if err != nil || len(p) != 65 || p[0] != 4 {
		return 0, false
	}
	if new(big.Int).SetBytes(p[1:33]).Cmp(r) != 0 {
		return 0, false
	}
	return p[64] & 1, true
}
