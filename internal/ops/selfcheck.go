package ops

import (
	"context"
	"errors"
	"io"
	"sort"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/signer"
)

// ErrKeyDisabled is returned by a Checked signer whose key failed its self-check.
var ErrKeyDisabled = errors.New("ops: this account's key failed its self-check and is disabled")

// Checked wraps a Signer so that a failed self-check disables it: every later
// signature is refused, so nothing is signed with a key that no longer
// answers for its address.
type Checked struct {
	signer.Signer
	// Backend names the key's backend for metrics ("keystore", "hd", "hsm").
	Backend  string
	disabled atomic.Bool
}

var _ signer.Signer = (*Checked)(nil)

// SignDigest signs unless the key was disabled.
func (c *Checked) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	if c.disabled.Load() {
		return nil, ErrKeyDisabled
	}
	return c.Signer.SignDigest(ctx, digest)
}

// Disabled reports whether a self-check disabled the key.
func (c *Checked) Disabled() bool { return c.disabled.Load() }

// challengeDomain separates self-check digests from every transaction and
// message digest: a challenge is keccak256 of it and 32 random bytes.
const challengeDomain = "walletmcp key self-check v1\x00"

// SelfCheckResult is one key's outcome.
type SelfCheckResult struct {
	Account common.Address
	Err     error // nil when the signature recovered to the account
	Took    time.Duration
}

// SelfCheck has every key sign a fresh random challenge and checks that the
// signature recovers to its account. A key that fails is disabled. Results
// are in address order.
func SelfCheck(ctx context.Context, keys []*Checked, rand io.Reader) ([]SelfCheckResult, error) {
	var out []SelfCheckResult
	for _, k := range keys {
		var nonce [32]byte
		if _, err := io.ReadFull(rand, nonce[:]); err != nil {
			return nil, errors.New("ops: self-check: no randomness")
		}
		digest := crypto.Keccak256([]byte(challengeDomain), nonce[:])
		start := time.Now()
		sig, err := k.Signer.SignDigest(ctx, digest)
		took := time.Since(start)
		if err == nil {
			err = signer.VerifySignature(digest, sig, k.Address())
		}
		if err != nil {
			k.disabled.Store(true)
			err = errors.New("ops: self-check: the key's signature does not recover to its address")
		}
		out = append(out, SelfCheckResult{Account: k.Address(), Err: err, Took: took})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Account.Cmp(out[j].Account) < 0 })
	return out, nil
}
