package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
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
// submitted → confirmed; pending or signed → failed (nothing left the
// process, or the node refused it with a definite error); signed or
// submitted → confirmed, or → failed once the chain shows its nonce taken by
// another transaction (MarkDropped).
const (
	StatusPending   = "pending"   // reserved (its amount counted, its nonce held), not signed yet
	StatusSigned    = "signed"    // signed; RawTx holds the transaction, which may have left
	StatusSubmitted = "submitted" // broadcast, or its broadcast's outcome is unknown: counted until settled
	StatusConfirmed = "confirmed" // mined (success or reverted): counted for good
	StatusFailed    = "failed"    // provably never sent, or dropped: not counted against limits
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
	Seq            int64          // the ledger sequence, contiguous from 1 (set on insert)
	Version        int64          // the ledger version of its last change (set on each change)
	ApprovalID     string         // the approval this transfer executes, "" for an agent's transfer
	IdempotencyKey string         // the agent's key, "" when none; unique when set
	ArgsHash       []byte         // sha256 of the canonical arguments (needed with a key)
	ChainID        uint64         // at most math.MaxInt64
	From, To       common.Address // sender and recipient (for a token: the token's recipient)
	Asset          string         // AssetETH or a lowercase 0x token contract address
	Amount         *big.Int       // base units (wei / token units), not negative; stored as decimal TEXT
	Kind           string         // KindAuto or KindApproved
	Status         string         // one of the Status* values
	Nonce          *uint64        // the nonce it holds: set on insert when reserved, or by MarkSigned
	TxHash         *common.Hash   // set by MarkSigned
	RawTx          []byte         // the signed tx, kept so a crashed send can be re-broadcast, never re-signed
	Error          string         // the reason given to MarkFailed or MarkDropped
	LeaseUntil     time.Time      // a pending reservation is abandoned after this (zero: at once)
	NextCheck      time.Time      // when a broadcast transaction is next checked and re-broadcast
	Checks         int            // how often it was checked
	BlockNumber    *uint64        // set by MarkConfirmed
	CreatedAt      time.Time      // set by CreateTransfer (UTC)
	UpdatedAt      time.Time      // set by CreateTransfer and each transition (UTC)
	// Verified reports that the row's MAC was checked with the state key.
	// Without a key nothing is verified and nothing can be changed.
	Verified bool
}

// Counted reports whether the transfer counts against limits: everything
// but a failed one.
func (t *Transfer) Counted() bool { return t.Status != StatusFailed }

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
// Seq, Version, Status, CreatedAt and UpdatedAt and clearing TxHash, RawTx
// and Error; t.Nonce, when set, is the nonce it reserves (no other live
// transfer of the account may hold it) and t.LeaseUntil how long the
// reservation lasts unsigned. If t.IdempotencyKey (or t.ApprovalID) was
// already used, it changes nothing and returns the first transfer with it
// and false when its ArgsHash equals t's, and ErrConflict when it does not.
// Otherwise it returns t and true. The check and the insert are one
// transaction. The Guard reserves through Ledger instead, so that its
// verdict and the insert are one transaction.
func (s *Store) CreateTransfer(ctx context.Context, t *Transfer) (*Transfer, bool, error) {
	var got *Transfer
	var created bool
	err := s.Ledger(ctx, func(lt *LedgerTx) error {
		var err error
		got, created, err = lt.Insert(t)
		return err
	})
	return got, created, err
}

// SignedGrace is how long a signed transfer is left to the process that
// signed it (to broadcast it and mark it submitted) before settling passes
// (Unsettled) look at it.
const SignedGrace = 2 * time.Second

// MarkSigned records the signed transaction of a pending transfer and moves it
// to "signed", due for settling SignedGrace later. A transfer that reserved a
// nonce must be signed with it.
func (s *Store) MarkSigned(ctx context.Context, id string, nonce uint64, hash common.Hash, raw []byte) error {
	switch {
	case nonce > math.MaxInt64:
		return errors.New("store: nonce out of range")
	case hash == (common.Hash{}):
		return errors.New("store: zero transaction hash")
	case len(raw) == 0:
		return errors.New("store: empty signed transaction")
	}
	return s.transition(ctx, id, StatusSigned, []string{StatusPending}, func(t *Transfer) error {
		if t.Nonce != nil && *t.Nonce != nonce {
			return fmt.Errorf("store: transfer %s reserved nonce %d, not %d", id, *t.Nonce, nonce)
		}
		n, h := nonce, hash
		t.Nonce, t.TxHash, t.RawTx = &n, &h, append([]byte(nil), raw...)
		t.NextCheck = s.now().Add(SignedGrace)
		return nil
	})
}

// MarkSubmitted moves a signed transfer to "submitted": it was broadcast,
// or its broadcast's outcome is unknown. Either way it stays counted until
// MarkConfirmed or MarkDropped; it is first checked at next.
func (s *Store) MarkSubmitted(ctx context.Context, id string, next time.Time) error {
	return s.transition(ctx, id, StatusSubmitted, []string{StatusSigned}, func(t *Transfer) error {
		t.NextCheck = next
		return nil
	})
}

// MarkConfirmed records that a broadcast transfer was mined (successfully or
// reverted) in block: it is settled and stays counted.
func (s *Store) MarkConfirmed(ctx context.Context, id string, block uint64) error {
	if block > math.MaxInt64 {
		return errors.New("store: block number out of range")
	}
	return s.transition(ctx, id, StatusConfirmed, []string{StatusSigned, StatusSubmitted}, func(t *Transfer) error {
		b := block
		t.BlockNumber = &b
		return nil
	})
}

// MarkConfirmedAll is MarkConfirmed for several transfers (id → block) in
// one transaction: a settling pass confirms what it found mined with one
// commit. A transfer no longer signed or submitted is skipped. It returns
// how many it confirmed.
func (s *Store) MarkConfirmedAll(ctx context.Context, blocks map[string]uint64) (int, error) {
	if len(blocks) == 0 {
		return 0, nil
	}
	now, err := s.timestamp()
	if err != nil {
		return 0, err
	}
	n := 0
	err = s.Ledger(ctx, func(lt *LedgerTx) error {
		n = 0
		for id, block := range blocks {
			if block > math.MaxInt64 {
				return errors.New("store: block number out of range")
			}
			t, err := lt.get(qByID, id)
			if err != nil {
				return err
			}
			if t.Status != StatusSigned && t.Status != StatusSubmitted {
				continue
			}
			b := block
			t.Status, t.BlockNumber, t.UpdatedAt = StatusConfirmed, &b, now
			if err := lt.update(t); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// MarkFailed moves a pending or signed transfer to "failed", recording reason
// (truncated to MaxErrorLen bytes). Use it only for a transfer that provably
// never left: refused before signing, or refused by the node with a definite
// error. A failed transfer no longer counts against limits and no longer
// holds its nonce.
func (s *Store) MarkFailed(ctx context.Context, id string, reason string) error {
	return s.transition(ctx, id, StatusFailed, []string{StatusPending, StatusSigned}, func(t *Transfer) error {
		t.Error = truncate(reason, MaxErrorLen)
		return nil
	})
}

// MarkDropped moves a signed or submitted transfer to "failed" once the chain
// shows it can never be mined: its nonce was used by another transaction.
func (s *Store) MarkDropped(ctx context.Context, id string, reason string) error {
	return s.transition(ctx, id, StatusFailed, []string{StatusSigned, StatusSubmitted}, func(t *Transfer) error {
		t.Error = truncate(reason, MaxErrorLen)
		return nil
	})
}

// ScheduleCheck sets when a signed or submitted transfer is next checked,
// and counts the check. It changes nothing that limits depend on.
func (s *Store) ScheduleCheck(ctx context.Context, id string, next time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE transfers SET next_check = ?, checks = checks + 1
			WHERE id = ? AND status IN ('signed', 'submitted')`, unixNano(next), id)
		return wrapNilDBErr("schedule check", err)
	})
}

// transition moves transfer id to status to if its current status is one of
// from, after change edits the other fields; the row gets a new version and
// MAC and the ledger head moves on, all in one transaction.
func (s *Store) transition(ctx context.Context, id, to string, from []string, change func(*Transfer) error) error {
	now, err := s.timestamp()
	if err != nil {
		return err
	}
	return s.Ledger(ctx, func(lt *LedgerTx) error {
		t, err := lt.get(qByID, id)
		if err != nil {
			return err
		}
		if !slices.Contains(from, t.Status) {
			return &TransitionError{ID: id, From: t.Status, To: to}
		}
		if err := change(t); err != nil {
			return err
		}
		t.Status = to
		t.UpdatedAt = now
		return lt.update(t)
	})
}

// Transfer returns the transfer with the given ID, or ErrNotFound. With a
// state key, a row whose MAC does not verify is a *TamperError.
func (s *Store) Transfer(ctx context.Context, id string) (*Transfer, error) {
	return s.readTransfer(s.db.QueryRowContext(ctx, qByID, id))
}

// TransferByKey returns the transfer with the given idempotency key, or
// ErrNotFound.
func (s *Store) TransferByKey(ctx context.Context, key string) (*Transfer, error) {
	if key == "" {
		return nil, ErrNotFound
	}
	return s.readTransfer(s.db.QueryRowContext(ctx, qByKey, key))
}

// TransferByApproval returns the transfer that executes approval id, or
// ErrNotFound.
func (s *Store) TransferByApproval(ctx context.Context, id string) (*Transfer, error) {
	if id == "" {
		return nil, ErrNotFound
	}
	return s.readTransfer(s.db.QueryRowContext(ctx, qByApproval, id))
}

// TransferByHash returns the transfer whose signed transaction has the given
// hash, or ErrNotFound. A live transfer is preferred over a failed one: a
// transfer that failed before broadcast can share its hash with a later one
// (the same intent re-signed with the same nonce is the same transaction).
func (s *Store) TransferByHash(ctx context.Context, hash common.Hash) (*Transfer, error) {
	t, err := s.readTransfer(s.db.QueryRowContext(ctx, qByHash, encodeHash(hash)))
	if errors.Is(err, ErrNotFound) {
		return s.readTransfer(s.db.QueryRowContext(ctx, qByHashFailed, encodeHash(hash)))
	}
	return t, err
}

// Unsettled lists up to limit transfers that are signed or submitted and due
// for a check at now, the most overdue first: broadcasts whose fate the
// chain has not settled.
func (s *Store) Unsettled(ctx context.Context, now time.Time, limit int) ([]*Transfer, error) {
	return s.listTransfers(ctx, "list unsettled", qUnsettled, unixNano(now), limit)
}

// Abandoned lists up to limit pending reservations whose lease ended before
// now: a process reserved them and stopped before signing.
func (s *Store) Abandoned(ctx context.Context, now time.Time, limit int) ([]*Transfer, error) {
	return s.listTransfers(ctx, "list abandoned", qAbandoned, unixNano(now), limit)
}

// Unfinished lists the transfers still "pending" or "signed", oldest first.
func (s *Store) Unfinished(ctx context.Context) ([]*Transfer, error) {
	return s.listTransfers(ctx, "list unfinished", qUnfinished)
}

func (s *Store) listTransfers(ctx context.Context, op, q string, args ...any) ([]*Transfer, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrapDBErr(op, err)
	}
	defer rows.Close()
	var out []*Transfer
	for rows.Next() {
		t, err := s.readTransfer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr(op, err)
	}
	return out, nil
}

// HasPaid reports whether from has a transfer to `to` that is not failed, in
// any asset. The row that says so is verified: a forged one cannot make a
// recipient look known.
func (s *Store) HasPaid(ctx context.Context, from, to common.Address) (bool, error) {
	return hasPaid(ctx, s, s.db, from, to)
}

func hasPaid(ctx context.Context, s *Store, q querier, from, to common.Address) (bool, error) {
	_, err := s.readTransfer(s.queryRow(ctx, q, qPaid, encodeAddr(from), encodeAddr(to)))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// The queries, named so that a test can check that each uses an index.
const (
	selectTransfer = `SELECT id, seq, version, approval_id, idempotency_key, args_hash, chain_id, from_addr, to_addr,
	asset, amount, kind, status, nonce, tx_hash, raw_tx, error, lease_until, next_check, checks, block_number,
	created_at, updated_at, mac FROM transfers`
	qByID         = selectTransfer + ` WHERE id = ?`
	qByKey        = selectTransfer + ` WHERE idempotency_key = ?`
	qByApproval   = selectTransfer + ` WHERE approval_id = ?`
	qBySeq        = selectTransfer + ` WHERE seq = ?`
	qByHash       = selectTransfer + ` WHERE tx_hash = ? AND status <> 'failed'`
	qByHashFailed = selectTransfer + ` WHERE tx_hash = ? AND status = 'failed' LIMIT 1`
	// Pending rows through transfers_reserved, signed ones through
	// transfers_unsettled (named: left alone, the planner walks the whole
	// ledger in seq order to spare a sort of the few unfinished rows).
	qUnfinished = selectTransfer + ` INDEXED BY transfers_reserved WHERE status = 'pending' UNION ALL ` +
		selectTransfer + ` INDEXED BY transfers_unsettled WHERE status IN ('signed', 'submitted') AND status = 'signed' ORDER BY seq`
	qUnsettled = selectTransfer + ` WHERE status IN ('signed', 'submitted') AND next_check <= ? ORDER BY next_check LIMIT ?`
	qAbandoned = selectTransfer + ` WHERE status = 'pending' AND lease_until <= ? ORDER BY lease_until LIMIT ?`
	qPaid      = selectTransfer + ` WHERE from_addr = ? AND to_addr = ? AND status <> 'failed' LIMIT 1`
	qSince     = selectTransfer + ` WHERE seq > ? OR version > ? ORDER BY +seq` // +seq: search both indexes and sort the few changes, not walk the whole ledger
	qWindow    = selectTransfer + ` WHERE seq >= ? ORDER BY seq`
	qNonces    = `SELECT nonce FROM transfers WHERE chain_id = ? AND from_addr = ? AND nonce >= ? AND status <> 'failed' ORDER BY nonce`
	// Two MAX in one SELECT scan the table; one per subquery reads one index entry each.
	qLedgerEnd  = `SELECT (SELECT COALESCE(MAX(seq), 0) FROM transfers), (SELECT COALESCE(MAX(version), 0) FROM transfers)`
	qFirstSince = `SELECT MIN(+seq) FROM transfers WHERE created_at >= ?` // +seq: search the window by time, not walk the history by seq
)

// readTransfer scans one row and, with a state key, verifies its MAC.
func (s *Store) readTransfer(row interface{ Scan(...any) error }) (*Transfer, error) {
	t, mac, err := scanTransfer(row)
	if err != nil {
		return nil, err
	}
	if s.key != nil {
		if !macEqual(mac, transferMAC(s.key, t)) {
			return nil, &TamperError{Table: "transfers", ID: t.ID, What: "MAC does not verify"}
		}
		t.Verified = true
	}
	return t, nil
}

// scanTransfer reads one row of selectTransfer; sql.ErrNoRows becomes
// ErrNotFound. A value that does not decode is an error, never a zero.
func scanTransfer(row interface{ Scan(...any) error }) (*Transfer, []byte, error) {
	var (
		t                    Transfer
		approvalID, key      sql.NullString
		hash                 sql.NullString
		nonce, block         sql.NullInt64
		chainID              int64
		from, to, amount     string
		lease, next          int64
		createdAt, updatedAt int64
		mac                  []byte
	)
	err := row.Scan(&t.ID, &t.Seq, &t.Version, &approvalID, &key, &t.ArgsHash, &chainID, &from, &to,
		&t.Asset, &amount, &t.Kind, &t.Status, &nonce, &hash, &t.RawTx, &t.Error, &lease, &next, &t.Checks, &block,
		&createdAt, &updatedAt, &mac)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, wrapDBErr("read transfer", err)
	}
	t.ApprovalID = approvalID.String
	t.IdempotencyKey = key.String
	t.ChainID = uint64(chainID) // the schema keeps chain_id >= 0
	if t.From, err = decodeAddr(from); err != nil {
		return nil, nil, err
	}
	if t.To, err = decodeAddr(to); err != nil {
		return nil, nil, err
	}
	if t.Amount, err = decodeAmount(amount); err != nil {
		return nil, nil, err
	}
	if nonce.Valid {
		n := uint64(nonce.Int64) // the schema keeps nonce >= 0
		t.Nonce = &n
	}
	if block.Valid {
		b := uint64(block.Int64)
		t.BlockNumber = &b
	}
	if hash.Valid {
		b, err := hexutil.Decode(hash.String)
		if err != nil || len(b) != common.HashLength {
			return nil, nil, fmt.Errorf("store: corrupt tx hash %q", hash.String)
		}
		h := common.Hash(b)
		t.TxHash = &h
	}
	if lease != 0 {
		t.LeaseUntil = time.Unix(0, lease).UTC()
	}
	if next != 0 {
		t.NextCheck = time.Unix(0, next).UTC()
	}
	t.CreatedAt = time.Unix(0, createdAt).UTC()
	t.UpdatedAt = time.Unix(0, updatedAt).UTC()
	return &t, mac, nil
}

// validateTransfer refuses a transfer that the ledger could not count
// correctly or the database could not hold.
func validateTransfer(t *Transfer) error {
	switch {
	case len(t.ID) > MaxKeyLen:
		return errors.New("store: transfer id too long")
	case len(t.IdempotencyKey) > MaxKeyLen:
		return errors.New("store: idempotency key too long")
	case len(t.ApprovalID) > MaxKeyLen:
		return errors.New("store: approval id too long")
	case t.Nonce != nil && *t.Nonce > math.MaxInt64:
		return errors.New("store: nonce out of range")
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

// wrapNilDBErr is wrapDBErr that passes nil through.
func wrapNilDBErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return wrapDBErr(op, err)
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
