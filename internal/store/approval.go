package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// schemaV2Approvals creates the approvals table (one row per transfer parked
// for a human decision) and the totp table (one row: the sealed TOTP secret,
// the last accepted time step and the lockout counter). Conventions as in
// schemaV1Transfers; digests and hashes are BLOBs of exactly 32 bytes.
const schemaV2Approvals = `
CREATE TABLE approvals (
	id              TEXT    NOT NULL PRIMARY KEY,
	link_token_hash BLOB    NOT NULL CHECK (length(link_token_hash) = 32),
	idempotency_key TEXT             CHECK (idempotency_key <> ''),
	args_hash       BLOB,
	digest          BLOB    NOT NULL CHECK (length(digest) = 32),
	chain_id        INTEGER NOT NULL CHECK (chain_id >= 0),
	from_addr       TEXT    NOT NULL,
	to_addr         TEXT    NOT NULL,
	asset           TEXT    NOT NULL,
	amount          TEXT    NOT NULL,
	summary         TEXT    NOT NULL,
	status          TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'executed', 'failed')),
	channel         TEXT    NOT NULL DEFAULT '' CHECK (channel IN ('', 'cli', 'web', 'elicitation')),
	transfer_id     TEXT    NOT NULL DEFAULT '',
	tx_hash         TEXT,
	error           TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL CHECK (expires_at > created_at),
	decided_at      INTEGER,
	updated_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX approvals_idempotency_key ON approvals (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX approvals_status_created ON approvals (status, created_at);
CREATE INDEX approvals_created ON approvals (created_at);
CREATE INDEX approvals_pending_expires ON approvals (expires_at) WHERE status = 'pending';
CREATE TABLE totp (
	id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	sealed       BLOB    NOT NULL CHECK (length(sealed) > 0),
	enrolled_at  INTEGER NOT NULL,
	last_step    INTEGER NOT NULL DEFAULT -1 CHECK (last_step >= -1),
	failures     INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
	locked_until INTEGER NOT NULL DEFAULT 0
) STRICT;
`

// Channels through which a human decides an approval.
const (
	ChannelCLI         = "cli"         // walletmcp approve / reject
	ChannelWeb         = "web"         // the loopback approval page
	ChannelElicitation = "elicitation" // the approval page opened through MCP URL elicitation
)

// MaxSummaryLen is the largest Summary (JSON) CreateApproval accepts.
const MaxSummaryLen = 16 << 10

// MaxListApprovals bounds the approvals ListApprovals returns.
const MaxListApprovals = 500

// ErrExpired is returned by DecideApproval when the approval's time is up.
var ErrExpired = errors.New("store: approval expired")

// ErrTooManyPending is returned by CreateApproval when the sender already
// has as many pending approvals as allowed.
var ErrTooManyPending = errors.New("store: too many pending approvals for this account")

// ErrKeyIsTransfer is returned by CreateApproval when a transfer already
// holds the approval's idempotency key (the same request, decided
// meanwhile by another call, and executed at once): that transfer is the
// key's outcome, and nothing is stored.
var ErrKeyIsTransfer = errors.New("store: the idempotency key is already a transfer's")

// ErrLocked is returned by AcceptTOTPStep while TOTP is locked out.
var ErrLocked = errors.New("store: totp locked after too many wrong codes")

// ErrReplay is returned by AcceptTOTPStep for a time step at or before the
// last accepted one.
var ErrReplay = errors.New("store: totp time step already used")

// Approval is a transfer parked for a human decision, bound to the digest of
// its intent, and what became of it.
type Approval struct {
	ID             string               // set by CreateApproval when empty: 128 random bits, hex
	LinkTokenHash  []byte               // sha256 of the approval page's link token (the token is never stored)
	IdempotencyKey string               // "" or the send_transfer key (unique among approvals)
	ArgsHash       []byte               // sha256 of the canonical arguments (needed with a key)
	Digest         []byte               // the 32-byte intent digest the approval is bound to
	ChainID        uint64               // at most math.MaxInt64
	From, To       common.Address       // the intent's sender and recipient
	Asset          string               // AssetETH or a lowercase 0x token contract address
	Amount         *big.Int             // base units, not negative
	Summary        []byte               // JSON of the clear-signing summary shown to the human
	Status         approvalstate.Status // one of the approvalstate statuses
	Channel        string               // who decided: ChannelCLI, ChannelWeb, ChannelElicitation or ""
	TransferID     string               // set by MarkApprovalExecuted
	TxHash         *common.Hash         // set by MarkApprovalExecuted
	Error          string               // the reason given to MarkApprovalFailed
	CreatedAt      time.Time            // when it was parked (UTC); the store's clock when zero
	ExpiresAt      time.Time            // the decision must come before this (UTC)
	DecidedAt      *time.Time           // when a human decided (UTC)
	// MaxFee is the maximum fee shown to the human (wei): a ceiling on the
	// fee of the transaction that executes the approval.
	MaxFee *big.Int
	// Step is the TOTP time step of the code that decided it; -1 when no code
	// was used (a rejection, an expiry).
	Step int64
	// LeaseOwner and LeaseUntil name the process executing it (ClaimApproval).
	LeaseOwner string
	LeaseUntil time.Time
	// Verified reports that both MACs (the request, and its status with the
	// decision) were checked with the state key. TamperReason says what
	// failed when a list returned a row that did not verify.
	Verified     bool
	TamperReason string

	mac, stateMAC []byte
}

// CreateApproval records a as a pending approval, setting its ID (when
// empty), Status and CreatedAt (when zero) and clearing Channel, TransferID,
// TxHash, Error and DecidedAt. If a.IdempotencyKey was already used by an
// approval, it changes nothing and returns that approval and false when its
// ArgsHash equals a's, and ErrConflict when it does not. Otherwise it returns
// a and true. When maxPending > 0 and a.From already has maxPending
// approvals that are pending and unexpired, it stores nothing and returns
// ErrTooManyPending (an idempotent repeat is answered first). When a
// transfer already holds a.IdempotencyKey, it stores nothing and returns
// ErrKeyIsTransfer: one key is one outcome, a transfer or an approval, never
// both. The checks and the insert are one transaction, so the limit and the
// key hold across processes.
func (s *Store) CreateApproval(ctx context.Context, a *Approval, maxPending int) (*Approval, bool, error) {
	if a == nil {
		return nil, false, errors.New("store: nil approval")
	}
	created := a.CreatedAt
	if created.IsZero() {
		now, err := s.timestamp()
		if err != nil {
			return nil, false, err
		}
		created = now
	}
	created = time.Unix(0, unixNano(created)).UTC()
	expires := time.Unix(0, unixNano(a.ExpiresAt)).UTC()
	if err := validateApproval(a, created, expires); err != nil {
		return nil, false, err
	}
	id := a.ID
	if id == "" {
		var err error
		if id, err = s.newID(); err != nil {
			return nil, false, err
		}
	}
	if s.key == nil {
		return nil, false, ErrNoKey
	}
	n := *a
	n.ID, n.Status, n.CreatedAt, n.ExpiresAt, n.Step = id, approvalstate.Pending, created, expires, -1
	n.Channel, n.TransferID, n.TxHash, n.Error, n.DecidedAt = "", "", nil, "", nil
	maxFee := ""
	if n.MaxFee != nil {
		maxFee = n.MaxFee.String()
	}
	var existing *Approval
	err := s.write(ctx, func(tx *sql.Tx) error {
		if a.IdempotencyKey != "" {
			e, err := s.readApproval(tx.QueryRowContext(ctx, qApprovalByKey, a.IdempotencyKey))
			if err == nil {
				existing = e
				return nil
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
			var held bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM transfers WHERE idempotency_key = ?)`, a.IdempotencyKey).Scan(&held); err != nil {
				return wrapDBErr("create approval", err)
			}
			if held {
				return ErrKeyIsTransfer
			}
		}
		if maxPending > 0 {
			var pendingNow int
			if err := tx.QueryRowContext(ctx, qPendingFrom, encodeAddr(a.From), created.UnixNano()).Scan(&pendingNow); err != nil {
				return wrapDBErr("count pending approvals", err)
			}
			if pendingNow >= maxPending {
				return ErrTooManyPending
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO approvals
			(id, link_token_hash, idempotency_key, args_hash, digest, chain_id, from_addr, to_addr, asset, amount,
			 summary, status, created_at, expires_at, updated_at, max_fee, step, mac, state_mac)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, a.LinkTokenHash, nullString(a.IdempotencyKey), a.ArgsHash, a.Digest, int64(a.ChainID),
			encodeAddr(a.From), encodeAddr(a.To), a.Asset, a.Amount.String(), string(a.Summary),
			string(approvalstate.Pending), created.UnixNano(), expires.UnixNano(), created.UnixNano(), maxFee, -1,
			approvalMAC(s.key, &n), approvalStateMAC(s.key, &n))
		if err != nil {
			return wrapDBErr("create approval", err)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if existing != nil {
		if !bytes.Equal(existing.ArgsHash, a.ArgsHash) {
			return nil, false, ErrConflict
		}
		return existing, false, nil
	}
	n.Verified = true
	*a = n
	return a, true, nil
}

// Approval returns the approval with the given ID, or ErrNotFound.
// With the state key, a row whose MACs do not verify is a *TamperError.
func (s *Store) Approval(ctx context.Context, id string) (*Approval, error) {
	return s.readApproval(s.db.QueryRowContext(ctx, qApprovalByID, id))
}

// ApprovalByKey returns the approval with the given idempotency key, or
// ErrNotFound.
func (s *Store) ApprovalByKey(ctx context.Context, key string) (*Approval, error) {
	if key == "" {
		return nil, ErrNotFound
	}
	return s.readApproval(s.db.QueryRowContext(ctx, qApprovalByKey, key))
}

// ListApprovals returns the approvals with the given status ("" for all),
// newest first, at most MaxListApprovals of them.
func (s *Store) ListApprovals(ctx context.Context, status approvalstate.Status) ([]*Approval, error) {
	if status == "" {
		return s.queryApprovals(ctx, "list approvals", qApprovalsAll, MaxListApprovals)
	}
	if !status.Valid() {
		return nil, errors.New("store: unknown approval status")
	}
	return s.queryApprovals(ctx, "list approvals", qApprovalsByStatus, string(status), MaxListApprovals)
}

// ApprovedToExecute returns the approvals with status "approved", oldest
// first: what the server has to sign and send. A row that does not verify is
// returned with TamperReason set and Verified false: it must never be
// executed.
func (s *Store) ApprovedToExecute(ctx context.Context) ([]*Approval, error) {
	return s.queryApprovals(ctx, "list approved", qApprovedToExecute)
}

func (s *Store) queryApprovals(ctx context.Context, op, q string, args ...any) ([]*Approval, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrapDBErr(op, err)
	}
	defer rows.Close()
	var out []*Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, err
		}
		s.verifyApproval(a)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr(op, err)
	}
	return out, nil
}

// DecideApproval moves a pending approval to "approved" or "rejected" (to),
// recording the channel, the TOTP step of the code that decided it (-1 when
// none was needed, as for a rejection) and at as DecidedAt, provided at is
// before its ExpiresAt; the new status and the decision are MAC'd together.
// A pending approval whose time is up is marked "expired" instead and
// ErrExpired returned; so is one already expired. Any other status is a
// *TransitionError. The read and the update are one transaction.
func (s *Store) DecideApproval(ctx context.Context, id string, to approvalstate.Status, channel string, step int64, at time.Time) error {
	if to != approvalstate.Approved && to != approvalstate.Rejected {
		return fmt.Errorf("store: an approval cannot be decided as %q", to)
	}
	if !validChannel(channel) || channel == "" {
		return errors.New("store: unknown approval channel")
	}
	if to == approvalstate.Approved && step < 0 {
		return errors.New("store: an approval needs the TOTP step that approved it")
	}
	at = time.Unix(0, unixNano(at)).UTC()
	expired := false
	err := s.updateApproval(ctx, id, func(a *Approval) (bool, error) {
		switch {
		case a.Status == approvalstate.Expired:
			return false, ErrExpired
		case a.Status != approvalstate.Pending:
			return false, &TransitionError{ID: id, From: string(a.Status), To: string(to)}
		case !at.Before(a.ExpiresAt):
			expired = true
			a.Status = approvalstate.Expired
		default:
			a.Status, a.Channel, a.Step, a.DecidedAt = to, channel, step, &at
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if expired {
		return ErrExpired
	}
	return nil
}

// updateApproval reads approval id (verified) in a write transaction, lets
// change edit it, and, when change reports a change, writes its status and
// decision with a new state MAC.
func (s *Store) updateApproval(ctx context.Context, id string, change func(*Approval) (bool, error)) error {
	if s.key == nil {
		return ErrNoKey
	}
	now, err := s.timestamp()
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		a, err := s.readApproval(tx.QueryRowContext(ctx, qApprovalByID, id))
		if err != nil {
			return err
		}
		changed, err := change(a)
		if err != nil || !changed {
			return err
		}
		return s.writeApprovalState(ctx, tx, a, now)
	})
}

// writeApprovalState writes a's status, decision and outcome with a new
// state MAC.
func (s *Store) writeApprovalState(ctx context.Context, tx *sql.Tx, a *Approval, now time.Time) error {
	var decided sql.NullInt64
	if a.DecidedAt != nil {
		decided = sql.NullInt64{Int64: unixNano(*a.DecidedAt), Valid: true}
	}
	var hash sql.NullString
	if a.TxHash != nil {
		hash = sql.NullString{String: encodeHash(*a.TxHash), Valid: true}
	}
	_, err := tx.ExecContext(ctx, `UPDATE approvals SET status = ?, channel = ?, step = ?, decided_at = ?,
		transfer_id = ?, tx_hash = ?, error = ?, updated_at = ?, state_mac = ? WHERE id = ?`,
		string(a.Status), a.Channel, a.Step, decided, a.TransferID, hash, a.Error, unixNano(now), approvalStateMAC(s.key, a), a.ID)
	return wrapNilDBErr("update approval", err)
}

// ExpireApprovals marks "expired" every pending approval whose ExpiresAt is at
// or before now, and returns how many it marked. A row that does not verify
// is left alone (it can never be executed).
func (s *Store) ExpireApprovals(ctx context.Context, now time.Time) (int, error) {
	if s.key == nil {
		return 0, ErrNoKey
	}
	n := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, qApprovalsDue, unixNano(now))
		if err != nil {
			return wrapDBErr("expire approvals", err)
		}
		var due []*Approval
		for rows.Next() {
			a, err := scanApproval(rows)
			if err != nil {
				rows.Close()
				return err
			}
			if s.verifyApproval(a); a.Verified {
				due = append(due, a)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrapDBErr("expire approvals", err)
		}
		for _, a := range due {
			a.Status = approvalstate.Expired
			if err := s.writeApprovalState(ctx, tx, a, now); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// MarkApprovalExecuted moves an approved approval to "executed", recording
// the transfer that executed it and its transaction hash.
func (s *Store) MarkApprovalExecuted(ctx context.Context, id, transferID string, hash common.Hash) error {
	switch {
	case transferID == "" || len(transferID) > MaxKeyLen:
		return errors.New("store: invalid transfer id")
	case hash == (common.Hash{}):
		return errors.New("store: zero transaction hash")
	}
	return s.approvalTransition(ctx, id, approvalstate.Executed, func(a *Approval) {
		h := hash
		a.TransferID, a.TxHash = transferID, &h
	})
}

// MarkApprovalFailed moves an approved approval to "failed", recording reason
// (truncated to MaxErrorLen bytes).
func (s *Store) MarkApprovalFailed(ctx context.Context, id, reason string) error {
	return s.approvalTransition(ctx, id, approvalstate.Failed, func(a *Approval) { a.Error = truncate(reason, MaxErrorLen) })
}

// approvalTransition moves approval id from "approved" to status to.
func (s *Store) approvalTransition(ctx context.Context, id string, to approvalstate.Status, set func(*Approval)) error {
	return s.updateApproval(ctx, id, func(a *Approval) (bool, error) {
		if a.Status != approvalstate.Approved {
			return false, &TransitionError{ID: id, From: string(a.Status), To: string(to)}
		}
		a.Status = to
		set(a)
		return true, nil
	})
}

// ClaimApproval gives the approved approval id to owner until until, unless
// another owner's claim is still running at now: of several processes that
// share the database, exactly one executes an approval at a time. It
// reports whether owner holds the claim.
func (s *Store) ClaimApproval(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	if owner == "" || len(owner) > MaxKeyLen {
		return false, errors.New("store: invalid lease owner")
	}
	var claimed bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE approvals SET lease_owner = ?, lease_until = ?
			WHERE id = ? AND status = 'approved' AND (lease_owner = ? OR lease_until <= ?)`,
			owner, unixNano(until), id, owner, unixNano(now))
		if err != nil {
			return wrapDBErr("claim approval", err)
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return wrapNilDBErr("claim approval", err)
	})
	return claimed, err
}

// sealApprovals gives every approval written before approvals were
// authenticated its MACs. One that was approved, and not executed, is not
// trusted (its status could have been written by anyone): it expires.
func (s *Store) sealApprovals(ctx context.Context, tx *sql.Tx) (int, error) {
	rows, err := tx.QueryContext(ctx, selectApproval+` WHERE length(mac) = 0`)
	if err != nil {
		return 0, wrapDBErr("seal approvals", err)
	}
	var list []*Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, wrapDBErr("seal approvals", err)
	}
	for _, a := range list {
		if a.Status == approvalstate.Approved {
			a.Status, a.Error = approvalstate.Failed, "approved before approvals were authenticated: ask again"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE approvals SET mac = ? WHERE id = ?`, approvalMAC(s.key, a), a.ID); err != nil {
			return 0, wrapDBErr("seal approvals", err)
		}
		if err := s.writeApprovalState(ctx, tx, a, a.CreatedAt); err != nil {
			return 0, err
		}
	}
	return len(list), nil
}

// readApproval scans one approval and, with the state key, verifies it: a
// row that does not verify is a *TamperError.
func (s *Store) readApproval(row interface{ Scan(...any) error }) (*Approval, error) {
	a, err := scanApproval(row)
	if err != nil {
		return nil, err
	}
	if s.verifyApproval(a); s.key != nil && !a.Verified {
		return nil, &TamperError{Table: "approvals", ID: a.ID, What: a.TamperReason}
	}
	return a, nil
}

// verifyApproval checks a's MACs when the store has the key, setting
// Verified or TamperReason.
func (s *Store) verifyApproval(a *Approval) {
	a.Verified, a.TamperReason = false, ""
	switch {
	case s.key == nil:
	case !macEqual(a.mac, approvalMAC(s.key, a)):
		a.TamperReason = "the request's MAC does not verify"
	case !macEqual(a.stateMAC, approvalStateMAC(s.key, a)):
		a.TamperReason = "the status's MAC does not verify"
	default:
		a.Verified = true
	}
}

// The approval queries, named so that a test can check that each uses an index.
const (
	selectApproval = `SELECT id, link_token_hash, idempotency_key, args_hash, digest, chain_id, from_addr, to_addr,
	asset, amount, summary, status, channel, transfer_id, tx_hash, error, created_at, expires_at, decided_at,
	max_fee, step, lease_owner, lease_until, mac, state_mac FROM approvals`
	qApprovalByID      = selectApproval + ` WHERE id = ?`
	qApprovalByKey     = selectApproval + ` WHERE idempotency_key = ?`
	qApprovalsAll      = selectApproval + ` ORDER BY created_at DESC, rowid DESC LIMIT ?`
	qApprovalsByStatus = selectApproval + ` WHERE status = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`
	qApprovedToExecute = selectApproval + ` WHERE status = 'approved' ORDER BY created_at, rowid`
	qApprovalsDue      = selectApproval + ` WHERE status = 'pending' AND expires_at <= ?`
	qPendingFrom       = `SELECT COUNT(*) FROM approvals WHERE from_addr = ? AND status = 'pending' AND expires_at > ?`
)

// scanApproval reads one row of selectApproval; sql.ErrNoRows becomes
// ErrNotFound. A value that does not decode is an error, never a zero.
func scanApproval(row interface{ Scan(...any) error }) (*Approval, error) {
	var (
		a                         Approval
		key, hash                 sql.NullString
		decided                   sql.NullInt64
		chainID                   int64
		from, to, amount, summary string
		createdAt, expiresAt      int64
		maxFee                    string
		leaseUntil                int64
	)
	err := row.Scan(&a.ID, &a.LinkTokenHash, &key, &a.ArgsHash, &a.Digest, &chainID, &from, &to,
		&a.Asset, &amount, &summary, &a.Status, &a.Channel, &a.TransferID, &hash, &a.Error, &createdAt, &expiresAt, &decided,
		&maxFee, &a.Step, &a.LeaseOwner, &leaseUntil, &a.mac, &a.stateMAC)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrapDBErr("read approval", err)
	}
	a.IdempotencyKey = key.String
	a.ChainID = uint64(chainID) // the schema keeps chain_id >= 0
	if a.From, err = decodeAddr(from); err != nil {
		return nil, err
	}
	if a.To, err = decodeAddr(to); err != nil {
		return nil, err
	}
	if a.Amount, err = decodeAmount(amount); err != nil {
		return nil, err
	}
	a.Summary = []byte(summary)
	if maxFee != "" {
		if a.MaxFee, err = decodeAmount(maxFee); err != nil {
			return nil, err
		}
	}
	if leaseUntil != 0 {
		a.LeaseUntil = time.Unix(0, leaseUntil).UTC()
	}
	if hash.Valid {
		b, err := hexutil.Decode(hash.String)
		if err != nil || len(b) != common.HashLength {
			return nil, fmt.Errorf("store: corrupt tx hash %q", hash.String)
		}
		h := common.Hash(b)
		a.TxHash = &h
	}
	a.CreatedAt = time.Unix(0, createdAt).UTC()
	a.ExpiresAt = time.Unix(0, expiresAt).UTC()
	if decided.Valid {
		d := time.Unix(0, decided.Int64).UTC()
		a.DecidedAt = &d
	}
	return &a, nil
}

// validateApproval refuses an approval that does not bind a complete intent
// or that the database could not hold.
func validateApproval(a *Approval, created, expires time.Time) error {
	switch {
	case len(a.ID) > MaxKeyLen:
		return errors.New("store: approval id too long")
	case len(a.LinkTokenHash) != sha256.Size:
		return errors.New("store: approval without a sha256 link token hash")
	case len(a.IdempotencyKey) > MaxKeyLen:
		return errors.New("store: idempotency key too long")
	case a.IdempotencyKey != "" && len(a.ArgsHash) != sha256.Size:
		return errors.New("store: idempotency key without a sha256 arguments hash")
	case len(a.Digest) != 32:
		return errors.New("store: approval without a 32-byte intent digest")
	case a.ChainID > math.MaxInt64:
		return errors.New("store: chain id out of range")
	case !validAsset(a.Asset):
		return errors.New("store: asset is neither ETH nor a lowercase 0x contract address")
	case a.Amount == nil:
		return errors.New("store: missing amount")
	case a.Amount.Sign() < 0:
		return errors.New("store: negative amount")
	case len(a.Summary) == 0 || len(a.Summary) > MaxSummaryLen:
		return fmt.Errorf("store: approval summary empty or larger than %d bytes", MaxSummaryLen)
	case !json.Valid(a.Summary):
		return errors.New("store: approval summary is not JSON")
	case a.ExpiresAt.IsZero() || !expires.After(created):
		return errors.New("store: approval expiry not after its creation")
	}
	return nil
}

func validChannel(c string) bool {
	switch c {
	case "", ChannelCLI, ChannelWeb, ChannelElicitation:
		return true
	}
	return false
}
