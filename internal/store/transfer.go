package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"time"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// AssetETH is the Asset of a native ether transfer. Any other asset is a
// token contract address in lowercase 0x hex.
const AssetETH = "ETH"

// Kinds of transfer: how it was allowed.
const (
	KindAuto     = "auto"     // within the auto-approval limits, signed without a human
	KindApproved = "approved" // approved by a human
)

// Statuses of a transfer. The allowed transitions are pending → signed →
// submitted, and pending or signed → failed.
const (
	StatusPending   = "pending"   // recorded (its amount reserved), not signed yet
	StatusSigned    = "signed"    // signed; RawTx holds the transaction, maybe not broadcast
	StatusSubmitted = "submitted" // accepted by the node
	StatusFailed    = "failed"    // given up; not counted against limits
)

// MaxKeyLen is the longest idempotency key (and caller-chosen ID) accepted.
const MaxKeyLen = 128

// MaxErrorLen is the longest failure reason stored; MarkFailed truncates
// longer ones.
const MaxErrorLen = 1024

// Transfer is one transfer intent and what became of it: the spend ledger and
// the idempotency record.
type Transfer struct {
	ID             string         // set by CreateTransfer when empty: 128 random bits, hex
	IdempotencyKey string         // "" when none; unique when set
	ArgsHash       []byte         // sha256 of the canonical arguments (needed with a key)
	ChainID        uint64         // at most math.MaxInt64
	From, To       common.Address // sender and recipient (for a token: the token's recipient)
	Asset          string         // AssetETH or a lowercase 0x token contract address
	Amount         *big.Int       // base units (wei / token units), not negative; stored as decimal TEXT
	Kind           string         // KindAuto or KindApproved
	Status         string         // StatusPending, StatusSigned, StatusSubmitted or StatusFailed
	Nonce          *uint64        // set by MarkSigned
	TxHash         *common.Hash   // set by MarkSigned
	RawTx          []byte         // the signed tx, kept so a crashed send can be re-broadcast, never re-signed
	Error          string         // the reason given to MarkFailed
	CreatedAt      time.Time      // set by CreateTransfer (UTC)
	UpdatedAt      time.Time      // set by CreateTransfer and each transition (UTC)
}

// Spend is one ledger entry counted against limits: a transfer that is not
// failed.
type Spend struct {
	From   common.Address // the sender
	To     common.Address // the recipient
	Asset  string         // AssetETH or a lowercase 0x token contract address
	Amount *big.Int       // base units
	Kind   string         // KindAuto or KindApproved
	At     time.Time      // when the transfer was created (UTC)
}

// TransitionError reports a status change that is not allowed; nothing was
// changed. It matches ErrInvalidTransition.
type TransitionError struct {
	ID   string // the transfer
	From string // its current status
	To   string // the status asked for
}

// Error implements error.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("store: transfer %s is %s and cannot become %s", e.ID, e.From, e.To)
}

// Is reports whether target is ErrInvalidTransition.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }

// CreateTransfer records t with Status "pending", setting its ID (when empty),
// Status, CreatedAt and UpdatedAt and clearing Nonce, TxHash, RawTx and Error.
// If t.IdempotencyKey was already used, it changes nothing and returns the
// first transfer with that key and false when its ArgsHash equals t's, and
// ErrConflict when it does not. Otherwise it returns t and true. The check and
// the insert are one transaction, and the key is unique in the database.
func (s *Store) CreateTransfer(ctx context.Context, t *Transfer) (*Transfer, bool, error) {
	if t == nil {
		return nil, false, errors.New("store: nil transfer")
	}
	if err := validateTransfer(t); err != nil {
		return nil, false, err
	}
	now, err := s.timestamp()
	if err != nil {
		return nil, false, err
	}
	id := t.ID
	if id == "" {
		if id, err = s.newID(); err != nil {
			return nil, false, err
		}
	}
	var existing *Transfer
	err = s.write(ctx, func(tx *sql.Tx) error {
		if t.IdempotencyKey != "" {
			e, err := scanTransfer(tx.QueryRowContext(ctx, qByKey, t.IdempotencyKey))
			if err == nil {
				existing = e
				return nil
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO transfers
			(id, idempotency_key, args_hash, chain_id, from_addr, to_addr, asset, amount, kind, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, nullString(t.IdempotencyKey), t.ArgsHash, int64(t.ChainID), encodeAddr(t.From), encodeAddr(t.To),
			t.Asset, t.Amount.String(), t.Kind, StatusPending, now.UnixNano(), now.UnixNano())
		if err != nil {
			return wrapDBErr("create transfer", err)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if existing != nil {
		if !bytes.Equal(existing.ArgsHash, t.ArgsHash) {
			return nil, false, ErrConflict
		}
		return existing, false, nil
	}
	t.ID = id
	t.Status = StatusPending
	t.Nonce, t.TxHash, t.RawTx, t.Error = nil, nil, nil, ""
	t.CreatedAt, t.UpdatedAt = now, now
	return t, true, nil
}

// MarkSigned records the signed transaction of a pending transfer and moves it
// to "signed".
func (s *Store) MarkSigned(ctx context.Context, id string, nonce uint64, hash common.Hash, raw []byte) error {
	switch {
	case nonce > math.MaxInt64:
		return errors.New("store: nonce out of range")
	case hash == (common.Hash{}):
		return errors.New("store: zero transaction hash")
	case len(raw) == 0:
		return errors.New("store: empty signed transaction")
	}
	return s.transition(ctx, id, StatusSigned, []string{StatusPending},
		`nonce = ?, tx_hash = ?, raw_tx = ?`, int64(nonce), encodeHash(hash), raw)
}

// MarkSubmitted moves a signed transfer to "submitted".
func (s *Store) MarkSubmitted(ctx context.Context, id string) error {
	return s.transition(ctx, id, StatusSubmitted, []string{StatusSigned}, "")
}

// MarkFailed moves a pending or signed transfer to "failed", recording reason
// (truncated to MaxErrorLen bytes). A failed transfer no longer counts against
// limits.
func (s *Store) MarkFailed(ctx context.Context, id string, reason string) error {
	return s.transition(ctx, id, StatusFailed, []string{StatusPending, StatusSigned},
		`error = ?`, truncate(reason, MaxErrorLen))
}

// transition moves transfer id to status to if its current status is one of
// from, also setting the columns in set (a list of "col = ?" with args).
func (s *Store) transition(ctx context.Context, id, to string, from []string, set string, args ...any) error {
	now, err := s.timestamp()
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT status FROM transfers WHERE id = ?`, id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return wrapDBErr("read transfer", err)
		}
		allowed := false
		for _, f := range from {
			allowed = allowed || cur == f
		}
		if !allowed {
			return &TransitionError{ID: id, From: cur, To: to}
		}
		q := `UPDATE transfers SET status = ?, updated_at = ?`
		if set != "" {
			q += ", " + set
		}
		q += ` WHERE id = ?`
		a := append([]any{to, now.UnixNano()}, args...)
		if _, err := tx.ExecContext(ctx, q, append(a, id)...); err != nil {
			return wrapDBErr("update transfer", err)
		}
		return nil
	})
}

// Transfer returns the transfer with the given ID, or ErrNotFound.
func (s *Store) Transfer(ctx context.Context, id string) (*Transfer, error) {
	return scanTransfer(s.db.QueryRowContext(ctx, qByID, id))
}

// TransferByKey returns the transfer with the given idempotency key, or
// ErrNotFound.
func (s *Store) TransferByKey(ctx context.Context, key string) (*Transfer, error) {
	if key == "" {
		return nil, ErrNotFound
	}
	return scanTransfer(s.db.QueryRowContext(ctx, qByKey, key))
}

// TransferByHash returns the transfer whose signed transaction has the given
// hash, or ErrNotFound. A live transfer is preferred over a failed one: a
// transfer that failed before broadcast can share its hash with a later one
// (the same intent re-signed with the same nonce is the same transaction).
func (s *Store) TransferByHash(ctx context.Context, hash common.Hash) (*Transfer, error) {
	t, err := scanTransfer(s.db.QueryRowContext(ctx, qByHash, encodeHash(hash)))
	if errors.Is(err, ErrNotFound) {
		return scanTransfer(s.db.QueryRowContext(ctx, qByHashAny, encodeHash(hash)))
	}
	return t, err
}

// Unfinished lists the transfers still "pending" or "signed", oldest first:
// what a crash may have interrupted.
func (s *Store) Unfinished(ctx context.Context) ([]*Transfer, error) {
	rows, err := s.db.QueryContext(ctx, qUnfinished)
	if err != nil {
		return nil, wrapDBErr("list unfinished", err)
	}
	defer rows.Close()
	var out []*Transfer
	for rows.Next() {
		t, err := scanTransfer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr("list unfinished", err)
	}
	return out, nil
}

// SpendsSince returns the ledger entries (transfers not failed) created at or
// after since, oldest first.
func (s *Store) SpendsSince(ctx context.Context, since time.Time) ([]Spend, error) {
	rows, err := s.db.QueryContext(ctx, qSpendsSince, unixNano(since))
	if err != nil {
		return nil, wrapDBErr("list spends", err)
	}
	defer rows.Close()
	var out []Spend
	for rows.Next() {
		var from, to, amount string
		var sp Spend
		var at int64
		if err := rows.Scan(&from, &to, &sp.Asset, &amount, &sp.Kind, &at); err != nil {
			return nil, wrapDBErr("list spends", err)
		}
		if sp.From, err = decodeAddr(from); err != nil {
			return nil, err
		}
		if sp.To, err = decodeAddr(to); err != nil {
			return nil, err
		}
		if sp.Amount, err = decodeAmount(amount); err != nil {
			return nil, err
		}
		sp.At = time.Unix(0, at).UTC()
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr("list spends", err)
	}
	return out, nil
}

// Spent sums the amounts of from's transfers in asset that are not failed and
// were created at or after since: auto counts the auto-approved ones only,
// total all kinds.
func (s *Store) Spent(ctx context.Context, from common.Address, asset string, since time.Time) (auto, total *big.Int, err error) {
	if !validAsset(asset) {
		return nil, nil, errors.New("store: invalid asset")
	}
	rows, err := s.db.QueryContext(ctx, qSpent, encodeAddr(from), asset, unixNano(since))
	if err != nil {
		return nil, nil, wrapDBErr("sum spends", err)
	}
	defer rows.Close()
	auto, total = new(big.Int), new(big.Int)
	for rows.Next() {
		var kind, amount string
		if err := rows.Scan(&kind, &amount); err != nil {
			return nil, nil, wrapDBErr("sum spends", err)
		}
		a, err := decodeAmount(amount)
		if err != nil {
			return nil, nil, err
		}
		total.Add(total, a)
		if kind == KindAuto {
			auto.Add(auto, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, wrapDBErr("sum spends", err)
	}
	return auto, total, nil
}

// HasPaid reports whether from has a transfer to `to` that is not failed, in
// any asset.
func (s *Store) HasPaid(ctx context.Context, from, to common.Address) (bool, error) {
	var paid bool
	err := s.db.QueryRowContext(ctx, qHasPaid, encodeAddr(from), encodeAddr(to)).Scan(&paid)
	if err != nil {
		return false, wrapDBErr("has paid", err)
	}
	return paid, nil
}

// The queries, named so that a test can check that each uses an index.
const (
	selectTransfer = `SELECT id, idempotency_key, args_hash, chain_id, from_addr, to_addr, asset, amount,
	kind, status, nonce, tx_hash, raw_tx, error, created_at, updated_at FROM transfers`
	qByID        = selectTransfer + ` WHERE id = ?`
	qByKey       = selectTransfer + ` WHERE idempotency_key = ?`
	qByHash      = selectTransfer + ` WHERE tx_hash = ? AND status <> 'failed'`
	qByHashAny   = selectTransfer + ` WHERE tx_hash = ? LIMIT 1`
	qUnfinished  = selectTransfer + ` WHERE status IN ('pending', 'signed') ORDER BY created_at, rowid`
	qSpendsSince = `SELECT from_addr, to_addr, asset, amount, kind, created_at FROM transfers
	WHERE created_at >= ? AND status <> 'failed' ORDER BY created_at, rowid`
	qSpent = `SELECT kind, amount FROM transfers
	WHERE from_addr = ? AND asset = ? AND created_at >= ? AND status <> 'failed'`
	qHasPaid = `SELECT EXISTS (SELECT 1 FROM transfers
	WHERE from_addr = ? AND to_addr = ? AND status <> 'failed')`
)

// scanTransfer reads one row of selectTransfer; sql.ErrNoRows becomes
// ErrNotFound. A value that does not decode is an error, never a zero.
func scanTransfer(row interface{ Scan(...any) error }) (*Transfer, error) {
	var (
		t                    Transfer
		key, hash            sql.NullString
		nonce                sql.NullInt64
		chainID              int64
		from, to, amount     string
		createdAt, updatedAt int64
	)
	err := row.Scan(&t.ID, &key, &t.ArgsHash, &chainID, &from, &to, &t.Asset, &amount,
		&t.Kind, &t.Status, &nonce, &hash, &t.RawTx, &t.Error, &createdAt, &updatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrapDBErr("read transfer", err)
	}
	t.IdempotencyKey = key.String
	t.ChainID = uint64(chainID) // the schema keeps chain_id >= 0
	if t.From, err = decodeAddr(from); err != nil {
		return nil, err
	}
	if t.To, err = decodeAddr(to); err != nil {
		return nil, err
	}
	if t.Amount, err = decodeAmount(amount); err != nil {
		return nil, err
	}
	if nonce.Valid {
		n := uint64(nonce.Int64) // the schema keeps nonce >= 0
		t.Nonce = &n
	}
	if hash.Valid {
		b, err := hexutil.Decode(hash.String)
		if err != nil || len(b) != common.HashLength {
			return nil, fmt.Errorf("store: corrupt tx hash %q", hash.String)
		}
		h := common.Hash(b)
		t.TxHash = &h
	}
	t.CreatedAt = time.Unix(0, createdAt).UTC()
	t.UpdatedAt = time.Unix(0, updatedAt).UTC()
	return &t, nil
}

// validateTransfer refuses a transfer that the ledger could not count
// correctly or the database could not hold.
func validateTransfer(t *Transfer) error {
	switch {
	case len(t.ID) > MaxKeyLen:
		return errors.New("store: transfer id too long")
	case len(t.IdempotencyKey) > MaxKeyLen:
		return errors.New("store: idempotency key too long")
	case t.IdempotencyKey != "" && len(t.ArgsHash) != sha256.Size:
		return errors.New("store: idempotency key without a sha256 arguments hash")
	case t.ChainID > math.MaxInt64:
		return errors.New("store: chain id out of range")
	case !validAsset(t.Asset):
		return errors.New("store: asset is neither ETH nor a lowercase 0x contract address")
	case t.Amount == nil:
		return errors.New("store: missing amount")
	case t.Amount.Sign() < 0:
		return errors.New("store: negative amount")
	case t.Kind != KindAuto && t.Kind != KindApproved:
		return errors.New("store: unknown transfer kind")
	}
	return nil
}

// validAsset reports whether a is AssetETH or a lowercase 0x-prefixed
// 20-byte hex address.
func validAsset(a string) bool {
	if a == AssetETH {
		return true
	}
	if len(a) != 2+2*common.AddressLength || a[:2] != "0x" {
		return false
	}
	for _, c := range a[2:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// newID returns 128 random bits in hex.
func (s *Store) newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("store: random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// timestamp returns the current time in UTC, refusing one that Unix
// nanoseconds cannot hold (a broken clock).
func (s *Store) timestamp() (time.Time, error) {
	now := s.now()
	if now.Before(time.Unix(0, math.MinInt64)) || now.After(time.Unix(0, math.MaxInt64)) {
		return time.Time{}, errors.New("store: clock out of range")
	}
	return time.Unix(0, now.UnixNano()).UTC(), nil
}

// unixNano is t in Unix nanoseconds, clamped to the int64 range.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func encodeAddr(a common.Address) string { return hexutil.Encode(a[:]) }

func encodeHash(h common.Hash) string { return hexutil.Encode(h[:]) }

func decodeAddr(s string) (common.Address, error) {
	b, err := hexutil.Decode(s)
	if err != nil || len(b) != common.AddressLength {
		return common.Address{}, fmt.Errorf("store: corrupt address %q", s)
	}
	return common.BytesToAddress(b), nil
}

// decodeAmount parses a stored amount; anything but a non-negative decimal
// integer is an error, never a zero.
func decodeAmount(s string) (*big.Int, error) {
	a, ok := new(big.Int).SetString(s, 10)
	if !ok || a.Sign() < 0 {
		return nil, fmt.Errorf("store: corrupt amount %q", s)
	}
	return a, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
