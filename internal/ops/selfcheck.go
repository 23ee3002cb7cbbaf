package ops

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// SignsNow reports whether the key is enabled and the wrapped signer signs
// now (signer.Immediate).
func (c *Checked) SignsNow() bool { return !c.disabled.Load() && signer.SignsNow(c.Signer) }

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
// are in address order. When ctx ends first (the server stops), it returns
// ctx's error and disables nothing.
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
		if err != nil && ctx.Err() != nil {
			// Stopped, not failed: no key is disabled for it.
			return nil, ctx.Err()
		}
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

// SelfCheckStore is the state store as the periodic check uses it.
type SelfCheckStore interface {
	SetFrozen(ctx context.Context, account common.Address, frozen bool, rule string) (bool, error)
	SetMark(ctx context.Context, name, value string) error
}

// SelfCheckMark is the store mark of the last key self-check.
const SelfCheckMark = "self_check"

// PeriodicCheck is what serve checks at start and on the [ops] self_check
// schedule: every key signs a challenge (SelfCheck), and the audit chain
// verifies with its head key. It fails closed: a key that fails stays
// disabled in memory even when its freeze cannot be stored, and every
// failure is audited.
type PeriodicCheck struct {
	// Keys are the keys to check.
	Keys []*Checked
	// Store records the freeze of a failed key's account and the mark.
	Store SelfCheckStore
	// Audit records the failures (the Tee, so that they alert).
	Audit Appender
	// VerifyAudit verifies the audit chain with the head key (the running
	// log's keyed verification); nil checks nothing.
	VerifyAudit func() error
	// Rand is the source of challenges. Default crypto/rand.Reader.
	Rand io.Reader
	// Logger gets the failures too. Default slog.Default().
	Logger *slog.Logger
}

// Run runs the checks once.
func (p *PeriodicCheck) Run(ctx context.Context) {
	logger, rnd := p.Logger, p.Rand
	if logger == nil {
		logger = slog.Default()
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	appendSec := func(fields map[string]any) {
		if p.Audit != nil {
			_ = p.Audit.Append(ctx, "security", fields)
		}
	}
	res, err := SelfCheck(ctx, p.Keys, rnd)
	if err != nil && ctx.Err() != nil {
		return // the server is stopping
	}
	if err != nil {
		logger.Error("key self-check could not run", "err", err)
		appendSec(map[string]any{"event": "self_check_failed", "reason": "the self-check could not run"})
	}
	failed := 0
	for _, r := range res {
		if r.Err == nil {
			continue
		}
		failed++
		// SelfCheck disabled the key: it stays disabled whatever the store
		// says.
		logger.Error("key self-check failed: account disabled", "account", r.Account.Hex())
		if _, err := p.Store.SetFrozen(ctx, r.Account, true, SelfCheckMark); err != nil {
			logger.Error("key self-check: the account's freeze could not be stored (the key stays disabled in this process)", "account", r.Account.Hex())
			appendSec(map[string]any{"event": "freeze_failed", "from": r.Account.Hex(), "rule": SelfCheckMark})
		}
		appendSec(map[string]any{"event": "self_check_failed", "from": r.Account.Hex()})
	}
	if err == nil {
		// A pass cut short by the server's stop (ctx done) is no fault.
		if err := p.Store.SetMark(ctx, SelfCheckMark, fmt.Sprintf("%d of %d keys ok", len(res)-failed, len(res))); err != nil && ctx.Err() == nil {
			logger.Error("key self-check: its mark could not be stored", "err", err)
		}
	}
	// The audit chain is checked on the same schedule.
	if p.VerifyAudit != nil {
		if err := p.VerifyAudit(); err != nil {
			logger.Error("the audit chain does not verify", "err", err)
			appendSec(map[string]any{"event": "audit_break"})
		}
	}
}
