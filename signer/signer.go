// Package signer is where Ethereum payloads become digests and 65-byte
// signatures: the Signer interface every key backend implements (keystore,
// HD, PKCS#11), transaction signing for EIP-1559 and EIP-155 legacy
// transactions, and the canonical R‖S‖V form (low s, recovery id 0 or 1).
//
// # Security model
//
// A Signer signs any 32-byte digest it is given: it makes no policy decision.
// Deciding what may be signed is the job of approval.Guard, which is the only
// path from a request to a Signer; nothing reachable by an agent holds a
// Signer directly.
//
// SignTx does not trust the backend. It refuses a missing or non-positive
// chain id and a transaction whose own chain id differs, so a transaction is
// never signed for a chain other than the one it names (EIP-155 replay
// protection is always on: unprotected legacy signatures are never made). It
// computes the digest itself with types.LatestSignerForChainID and, before
// returning, recovers the sender from the signed transaction and refuses a
// signature that is malformed, has high s, or does not recover to the
// Signer's address, so a faulty or substituted backend cannot produce a
// transaction from another account. Normalize and VerifySignature apply the
// same checks to raw signatures from devices and air-gapped signers.
package signer

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// DigestLength is the length in bytes of a digest passed to SignDigest.
const DigestLength = 32

// SignatureLength is the length in bytes of an R‖S‖V signature.
const SignatureLength = 65

// Errors returned by this package and, for ErrDigestLength, by every
// Signer. Callers branch on them with errors.Is.
var (
	// ErrDigestLength is returned for a digest that is not 32 bytes long.
	ErrDigestLength = errors.New("signer: digest must be 32 bytes")
	// ErrWrongSigner is returned when a signature does not recover to the
	// expected address.
	ErrWrongSigner = errors.New("signer: signature does not recover to the signer's address")
	// ErrInvalidSignature is returned for a signature that is not 65 bytes,
	// has V other than 0 or 1, R or S out of range, or a high S.
	ErrInvalidSignature = errors.New("signer: invalid signature")
	// ErrChainID is returned by SignTx for a nil, zero or negative chain id,
	// or a transaction whose own chain id differs from it.
	ErrChainID = errors.New("signer: missing or mismatched chain id")
	// ErrUnsupportedTx is returned by SignTx for a transaction type other than
	// legacy (EIP-155) and dynamic fee (EIP-1559).
	ErrUnsupportedTx = errors.New("signer: unsupported transaction type")
)

// Signer signs 32-byte digests with one secp256k1 key.
type Signer interface {
	// Address returns the Ethereum address of the signing key.
	Address() common.Address
	// SignDigest returns the 65-byte R‖S‖V signature (V is 0 or 1), with low S (S <= n/2).
	SignDigest(ctx context.Context, digest []byte) ([]byte, error)
}

// Immediate is implemented by a Signer that can tell whether SignDigest
// would sign at once, in this process, without waiting for anything: a key
// held unlocked in memory (keystore, HD). A key still being unlocked, one
// whose self-check has not run or failed, and an HSM (a device round trip,
// under the token's session lock) are not immediate. approval.Guard signs
// the transaction of an immediate key inside the store transaction that
// reserves it, so that the reservation and the signed bytes are one
// durable write; any other key signs after the reservation is committed.
type Immediate interface {
	Signer
	// SignsNow reports whether SignDigest, called now, would sign without
	// waiting for a key, a check or a device.
	SignsNow() bool
}

// SignsNow reports whether s is Immediate and would sign now.
func SignsNow(s Signer) bool {
	i, ok := s.(Immediate)
	return ok && i.SignsNow()
}

var (
	secp256k1N     = crypto.S256().Params().N
	secp256k1HalfN = new(big.Int).Rsh(secp256k1N, 1)
)

// SignTx signs an EIP-1559 (DynamicFeeTx) or EIP-155 legacy tx for chainID with types.LatestSignerForChainID;
// refuses a nil/zero chainID or a tx whose own chain id differs; checks the produced signature recovers to s.Address() before returning.
//
// An unsigned legacy transaction carries no chain id and is signed for
// chainID with EIP-155 replay protection; a legacy transaction that is
// already signed must have been signed for chainID. Other transaction types
// (access list, blob, set code) are refused with ErrUnsupportedTx.
func SignTx(ctx context.Context, s Signer, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	if s == nil || tx == nil {
		return nil, errors.New("signer: nil signer or transaction")
	}
	if chainID == nil || chainID.Sign() <= 0 {
		return nil, ErrChainID
	}
	switch tx.Type() {
	case types.LegacyTxType:
		if v, r, ss := tx.RawSignatureValues(); v.Sign() != 0 || r.Sign() != 0 || ss.Sign() != 0 {
			if !tx.Protected() || tx.ChainId().Cmp(chainID) != 0 {
				return nil, ErrChainID
			}
		}
	case types.DynamicFeeTxType:
		if tx.ChainId().Cmp(chainID) != 0 {
			return nil, ErrChainID
		}
	default:
		return nil, fmt.Errorf("%w: type %d", ErrUnsupportedTx, tx.Type())
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	txSigner := types.LatestSignerForChainID(chainID)
	h := txSigner.Hash(tx)
	sig, err := s.SignDigest(ctx, h[:])
	if err != nil {
		return nil, err
	}
	if err := checkFormat(sig); err != nil {
		return nil, err
	}
	signed, err := tx.WithSignature(txSigner, sig)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	from, err := types.Sender(txSigner, signed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	if from != s.Address() {
		return nil, ErrWrongSigner
	}
	if !signed.Protected() || signed.ChainId().Cmp(chainID) != 0 {
		return nil, ErrChainID
	}
	return signed, nil
}

// checkFormat checks length, V and the ranges of R and S (low S).
func checkFormat(sig []byte) error {
	if len(sig) != SignatureLength {
		return fmt.Errorf("%w: length %d, want %d", ErrInvalidSignature, len(sig), SignatureLength)
	}
	v := sig[64]
	if v > 1 {
		return fmt.Errorf("%w: recovery id %d, want 0 or 1", ErrInvalidSignature, v)
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:64])
	if r.Sign() == 0 || s.Sign() == 0 || r.Cmp(secp256k1N) >= 0 || s.Cmp(secp256k1N) >= 0 {
		return fmt.Errorf("%w: r or s out of range", ErrInvalidSignature)
	}
	if s.Cmp(secp256k1HalfN) > 0 {
		return fmt.Errorf("%w: high s", ErrInvalidSignature)
	}
	return nil
}

// recovers reports whether the 65-byte sig over digest recovers to addr.
func recovers(digest, sig []byte, addr common.Address) bool {
	pub, err := crypto.Ecrecover(digest, sig)
	if err != nil || len(pub) != 65 {
		return false
	}
	return common.BytesToAddress(crypto.Keccak256(pub[1:])[12:]) == addr
}

// VerifySignature checks that sig is a canonical 65-byte R‖S‖V signature
// (V 0 or 1, low S) over the 32-byte digest that recovers to addr. It returns
// ErrDigestLength, ErrInvalidSignature or ErrWrongSigner.
func VerifySignature(digest, sig []byte, addr common.Address) error {
	if len(digest) != DigestLength {
		return ErrDigestLength
	}
	if err := checkFormat(sig); err != nil {
		return err
	}
	if !recovers(digest, sig, addr) {
		return ErrWrongSigner
	}
	return nil
}

// Normalize turns a raw (r, s) over digest into a canonical 65-byte R‖S‖V for addr: flips high s to n-s, finds V by recovery; error if neither V recovers addr. (Later HSM backends use it.)
//
// r and s are big-endian integers of at most 32 significant bytes (leading
// zeros allowed, as in a DER-decoded or fixed-width r‖s); each must be in
// [1, n-1]. Errors are ErrDigestLength, ErrInvalidSignature and
// ErrWrongSigner.
func Normalize(digest, r, s []byte, addr common.Address) ([]byte, error) {
	sig, _, _, err := lowS(digest, r, s)
	if err != nil {
		return nil, err
	}
	for v := byte(0); v <= 1; v++ {
		sig[64] = v
		if recovers(digest, sig, addr) {
			return sig, nil
		}
	}
	return nil, ErrWrongSigner
}

// lowS checks the digest's length and r, s (each in [1, n-1]), flips a
// high s to n-s, and returns r‖s‖0 with r and s as integers.
func lowS(digest, r, s []byte) (sig []byte, rr, ss *big.Int, err error) {
	if len(digest) != DigestLength {
		return nil, nil, nil, ErrDigestLength
	}
	if rr, err = scalar(r); err != nil {
		return nil, nil, nil, err
	}
	if ss, err = scalar(s); err != nil {
		return nil, nil, nil, err
	}
	if ss.Cmp(secp256k1HalfN) > 0 {
		ss.Sub(secp256k1N, ss)
	}
	sig = make([]byte, SignatureLength)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:64])
	return sig, rr, ss, nil
}

// scalar parses a big-endian integer in [1, n-1].
func scalar(b []byte) (*big.Int, error) {
	i := 0
	for i < len(b) && b[i] == 0 {
		i++
	}
	if len(b)-i > 32 {
		return nil, fmt.Errorf("%w: r or s longer than 32 bytes", ErrInvalidSignature)
	}
	x := new(big.Int).SetBytes(b[i:])
	if x.Sign() == 0 || x.Cmp(secp256k1N) >= 0 {
		return nil, fmt.Errorf("%w: r or s out of range", ErrInvalidSignature)
	}
	return x, nil
}
