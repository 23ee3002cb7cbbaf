package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// KeyLen is the length of the state key (Options.Key).
const KeyLen = 32

// ErrNoKey is returned by a write that must be authenticated (a transfer, an
// approval decision, the ledger head) on a store opened without a key.
var ErrNoKey = errors.New("store: the state key is needed for this change (unlock the home with its passphrase)")

// ErrTampered is matched (errors.Is) by every *TamperError.
var ErrTampered = errors.New("store: state failed authentication")

// TamperError reports a row or the ledger head whose MAC does not verify, a
// ledger row that is missing, or a ledger head that does not match the rows:
// someone changed state.db without the home passphrase. Nothing that depends
// on the row is signed.
type TamperError struct {
	Table string // "transfers", "approvals" or "ledger_head"
	ID    string // the row's id or sequence, "" for the head
	What  string // what failed, in a few words
}

// Error implements error.
func (e *TamperError) Error() string {
	if e.ID == "" {
		return fmt.Sprintf("store: %s: %s (state.db was changed outside walletmcp)", e.Table, e.What)
	}
	return fmt.Sprintf("store: %s %s: %s (state.db was changed outside walletmcp)", e.Table, e.ID, e.What)
}

// Is reports whether target is ErrTampered.
func (e *TamperError) Is(target error) bool { return target == ErrTampered }

// macWriter builds the input of one MAC: a domain label, then each field
// length-prefixed, so that no two field lists encode alike.
type macWriter struct {
	buf []byte
}

func newMAC(label string) *macWriter {
	w := &macWriter{}
	w.bytes([]byte(label))
	return w
}

func (w *macWriter) bytes(b []byte) *macWriter {
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(b)))
	w.buf = append(w.buf, b...)
	return w
}

func (w *macWriter) str(s string) *macWriter { return w.bytes([]byte(s)) }

func (w *macWriter) i64(v int64) *macWriter {
	w.buf = binary.BigEndian.AppendUint32(w.buf, 8)
	w.buf = binary.BigEndian.AppendUint64(w.buf, uint64(v))
	return w
}

func (w *macWriter) addr(a common.Address) *macWriter { return w.bytes(a[:]) }

func (w *macWriter) amount(v *big.Int) *macWriter {
	if v == nil {
		return w.str("")
	}
	return w.str(v.String())
}

func (w *macWriter) time(t time.Time) *macWriter { return w.i64(unixNano(t)) }

func (w *macWriter) optHash(h *common.Hash) *macWriter {
	if h == nil {
		return w.bytes(nil)
	}
	return w.bytes(h[:])
}

func (w *macWriter) optU64(v *uint64) *macWriter {
	if v == nil {
		return w.i64(-1)
	}
	return w.i64(int64(*v))
}

func (w *macWriter) digest(b []byte) *macWriter {
	d := sha256.Sum256(b)
	return w.bytes(d[:])
}

// sum returns HMAC-SHA256(key, input).
func (w *macWriter) sum(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(w.buf)
	return m.Sum(nil)
}

// transferMAC authenticates everything about a transfer that limits,
// idempotency and broadcasting rely on.
func transferMAC(key []byte, t *Transfer) []byte {
	return newMAC("walletmcp/state/transfer/v1").
		str(t.ID).i64(t.Seq).i64(t.Version).str(t.ApprovalID).str(t.IdempotencyKey).bytes(t.ArgsHash).
		i64(int64(t.ChainID)).addr(t.From).addr(t.To).str(t.Asset).amount(t.Amount).str(t.Kind).
		str(t.Status).optU64(t.Nonce).optHash(t.TxHash).digest(t.RawTx).time(t.CreatedAt).
		sum(key)
}

// headMAC authenticates the ledger head: the last sequence and version.
func headMAC(key []byte, seq, version int64) []byte {
	return newMAC("walletmcp/state/ledger-head/v1").i64(seq).i64(version).sum(key)
}

// approvalMAC authenticates what a human is asked to approve: the intent,
// its digest, its summary and its lifetime.
func approvalMAC(key []byte, a *Approval) []byte {
	return newMAC("walletmcp/state/approval/v1").
		str(a.ID).bytes(a.LinkTokenHash).str(a.IdempotencyKey).bytes(a.ArgsHash).bytes(a.Digest).
		i64(int64(a.ChainID)).addr(a.From).addr(a.To).str(a.Asset).amount(a.Amount).amount(a.MaxFee).
		digest(a.Summary).time(a.CreatedAt).time(a.ExpiresAt).
		sum(key)
}

// approvalStateMAC authenticates an approval's status and the decision that
// led to it: who decided, through which channel, with which TOTP step.
func approvalStateMAC(key []byte, a *Approval) []byte {
	var decided int64 = -1
	if a.DecidedAt != nil {
		decided = unixNano(*a.DecidedAt)
	}
	return newMAC("walletmcp/state/approval-state/v1").
		str(a.ID).str(string(a.Status)).str(a.Channel).i64(a.Step).i64(decided).str(a.TransferID).optHash(a.TxHash).
		sum(key)
}

func macEqual(a, b []byte) bool { return len(a) == sha256.Size && hmac.Equal(a, b) }
