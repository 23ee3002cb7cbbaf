package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// schemaV6OfflineRequests creates the offline_requests table: one row per
// eth-sign-request handed out for an offline account (create_offline_request).
// A row never changes: it is the exact request (its CBOR), what it transfers,
// the nonce it fixes, its summary and its lifetime, MAC'd. Whether it was
// used is not a column: the transfer that submits it carries its id
// (OfflineApprovalID) in transfers.approval_id, whose unique index makes
// "used once" hold across processes.
const schemaV6OfflineRequests = `
CREATE TABLE offline_requests (
	id          TEXT    NOT NULL PRIMARY KEY,
	chain_id    INTEGER NOT NULL CHECK (chain_id >= 0),
	from_addr   TEXT    NOT NULL,
	to_addr     TEXT    NOT NULL,
	asset       TEXT    NOT NULL,
	amount      TEXT    NOT NULL,
	nonce       INTEGER NOT NULL CHECK (nonce >= 0),
	request     BLOB    NOT NULL,
	summary     BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	mac         BLOB    NOT NULL
) STRICT;
CREATE INDEX offline_requests_from_expires ON offline_requests (from_addr, expires_at);
CREATE INDEX offline_requests_expires ON offline_requests (expires_at);
`

// OfflineRequest is an unsigned transaction handed to an offline signer.
type OfflineRequest struct {
	ID        string         // the request id: a UUID in canonical text form
	ChainID   uint64         // at most math.MaxInt64
	From, To  common.Address // sender and recipient (for a token: the token's recipient)
	Asset     string         // AssetETH or a lowercase 0x token contract address
	Amount    *big.Int       // base units, not negative
	Nonce     uint64         // the nonce the transaction fixes
	Request   []byte         // the eth-sign-request CBOR, exactly as handed out
	Summary   []byte         // the clear-signing summary (JSON)
	CreatedAt time.Time      // set by CreateOfflineRequest (UTC)
	ExpiresAt time.Time      // after this the request is refused
}

// OfflineApprovalID is the transfers.approval_id of the transfer that
// submits offline request id: a namespace no approval id or agent key reaches.
func OfflineApprovalID(id string) string { return "offline:" + id }

// ErrTooManyOffline is returned by CreateOfflineRequest when the account
// already has as many unexpired requests as allowed.
var ErrTooManyOffline = errors.New("store: too many open offline requests for this account")

// offlineRetention is how long an expired request is kept (so that it is
// reported "expired", not "not found") before a later insert removes it. A
// request the wallet never sent is kept longer, for as long as its
// transaction could still be mined: its signature does not expire (see
// qForgettable).
const offlineRetention = 24 * time.Hour

// offlineMAC authenticates everything about an offline request.
func offlineMAC(key []byte, r *OfflineRequest) []byte {
	return newMAC("walletmcp/state/offline-request/v1").
		str(r.ID).i64(int64(r.ChainID)).addr(r.From).addr(r.To).str(r.Asset).amount(r.Amount).i64(int64(r.Nonce)).
		bytes(r.Request).digest(r.Summary).time(r.CreatedAt).time(r.ExpiresAt).
		sum(key)
}

// CreateOfflineRequest stores r, setting CreatedAt. It refuses (with
// ErrTooManyOffline) when r.From already has maxOpen unexpired requests
// (maxOpen ≤ 0: no bound), and removes requests that expired more than a day
// ago and are settled (qForgettable). It needs the state key.
func (s *Store) CreateOfflineRequest(ctx context.Context, r *OfflineRequest, maxOpen int) error {
	if err := s.checkOfflineRequest(r); err != nil {
		return err
	}
	now, err := s.timestamp()
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error { return s.insertOfflineRequest(ctx, tx, r, maxOpen, now) })
}

// CreateOfflineRequest is Store.CreateOfflineRequest inside the ledger
// transaction: the request is stored with the decision that allowed it, so
// that no other reservation or request, of this process or another, is
// decided between the two without seeing it (OfflineOutstanding).
func (lt *LedgerTx) CreateOfflineRequest(r *OfflineRequest, maxOpen int) error {
	if err := lt.s.checkOfflineRequest(r); err != nil {
		return err
	}
	return lt.s.insertOfflineRequest(lt.ctx, lt.tx, r, maxOpen, lt.now)
}

func (s *Store) checkOfflineRequest(r *OfflineRequest) error {
	if s.key == nil {
		return ErrNoKey
	}
	switch {
	case r == nil || r.ID == "" || len(r.ID) > MaxKeyLen:
		return errors.New("store: offline request id missing or too long")
	case r.ChainID > math.MaxInt64 || r.Nonce > math.MaxInt64:
		return errors.New("store: offline request chain id or nonce out of range")
	case !validAsset(r.Asset):
		return errors.New("store: asset is neither ETH nor a lowercase 0x contract address")
	case r.Amount == nil || r.Amount.Sign() < 0:
		return errors.New("store: offline request amount missing or negative")
	case len(r.Request) == 0:
		return errors.New("store: offline request without a request")
	}
	return nil
}

func (s *Store) insertOfflineRequest(ctx context.Context, tx *sql.Tx, r *OfflineRequest, maxOpen int, now time.Time) error {
	inserted, deleted, err := s.offlineHead(ctx, tx)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM offline_requests AS r WHERE r.expires_at < ? AND `+qForgettable, unixNano(now.Add(-offlineRetention)))
	if err != nil {
		return wrapDBErr("create offline request", err)
	}
	removed, err := res.RowsAffected()
	if err != nil {
		return wrapDBErr("create offline request", err)
	}
	if maxOpen > 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM offline_requests WHERE from_addr = ? AND expires_at > ?`,
			encodeAddr(r.From), unixNano(now)).Scan(&n); err != nil {
			return wrapDBErr("create offline request", err)
		}
		if n >= maxOpen {
			return ErrTooManyOffline
		}
	}
	r.CreatedAt = now
	r.ExpiresAt = time.Unix(0, unixNano(r.ExpiresAt)).UTC()
	_, err = tx.ExecContext(ctx, `INSERT INTO offline_requests
		(id, chain_id, from_addr, to_addr, asset, amount, nonce, request, summary, created_at, expires_at, mac)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, int64(r.ChainID), encodeAddr(r.From), encodeAddr(r.To), r.Asset, r.Amount.String(), int64(r.Nonce),
		r.Request, r.Summary, unixNano(r.CreatedAt), unixNano(r.ExpiresAt), offlineMAC(s.key, r))
	if err != nil {
		return wrapDBErr("create offline request", err)
	}
	return s.writeOfflineHead(ctx, tx, inserted+1, deleted+removed)
}

// OfflineRequestByID returns the offline request id, or ErrNotFound. Its MAC
// must verify with the state key (a *TamperError otherwise); without the key
// nothing is returned.
func (s *Store) OfflineRequestByID(ctx context.Context, id string) (*OfflineRequest, error) {
	if s.key == nil {
		return nil, ErrNoKey
	}
	r, err := s.scanOffline(s.db.QueryRowContext(ctx, `SELECT `+offlineColumns+` FROM offline_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

const offlineColumns = `id, chain_id, from_addr, to_addr, asset, amount, nonce, request, summary, created_at, expires_at, mac`

// scanOffline reads one offline request (offlineColumns) and verifies its
// MAC: a *TamperError if it does not verify.
func (s *Store) scanOffline(row interface{ Scan(...any) error }) (*OfflineRequest, error) {
	var r OfflineRequest
	var chainID, nonce, created, expires int64
	var from, to, amount string
	var mac []byte
	err := row.Scan(&r.ID, &chainID, &from, &to, &r.Asset, &amount, &nonce, &r.Request, &r.Summary, &created, &expires, &mac)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err != nil {
		return nil, wrapDBErr("read offline request", err)
	}
	bad := &TamperError{Table: "offline_requests", ID: r.ID, What: "row does not verify"}
	if chainID < 0 || nonce < 0 {
		return nil, bad
	}
	r.ChainID, r.Nonce = uint64(chainID), uint64(nonce)
	if r.From, err = decodeAddr(from); err != nil {
		return nil, bad
	}
	if r.To, err = decodeAddr(to); err != nil {
		return nil, bad
	}
	if r.Amount, err = decodeAmount(amount); err != nil {
		return nil, bad
	}
	r.CreatedAt, r.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	if !macEqual(mac, offlineMAC(s.key, &r)) {
		return nil, bad
	}
	return &r, nil
}

// OfflineOutstanding returns, verified (the rows and their count:
// offlineHead), the offline requests of from on chainID that may still
// become a spend the wallet does not count: never
// submitted (or whose submission failed: qNotSent), not recorded as spent
// outside, and whose nonce no confirmed transfer the wallet knows of used
// (not qForgettable), however long ago they expired: the human may have
// signed them, and a signed transaction does not expire. Lowest nonce first.
func (lt *LedgerTx) OfflineOutstanding(chainID uint64, from common.Address) ([]*OfflineRequest, error) {
	if lt.s.key == nil {
		return nil, ErrNoKey
	}
	if chainID > math.MaxInt64 {
		return nil, nil
	}
	// A request removed without the key would be one the window no longer
	// counts: the table must hold what its head counts.
	if _, _, err := lt.s.offlineHead(lt.ctx, lt.tx); err != nil {
		return nil, err
	}
	rows, err := lt.s.queryRows(lt.ctx, lt.tx, `SELECT `+offlineColumns+` FROM offline_requests AS r
		WHERE r.from_addr = ? AND r.chain_id = ? AND NOT `+qForgettable+` ORDER BY r.nonce, r.id`, encodeAddr(from), int64(chainID))
	if err != nil {
		return nil, wrapDBErr("list offline requests", err)
	}
	defer rows.Close()
	var out []*OfflineRequest
	for rows.Next() {
		r, err := lt.s.scanOffline(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr("list offline requests", err)
	}
	return out, nil
}

// offlineOutsidePrefix namespaces the idempotency key of a spend recorded
// from the chain rather than made by this wallet (RecordOutside): an agent's
// key cannot contain ':', so no agent reaches it.
const offlineOutsidePrefix = "offline-outside:"

// OfflineOutsideKey is the idempotency key of the spend RecordOutside records
// for offline request id: its signed transaction was broadcast outside
// walletmcp (the agent assembled it itself), or its nonce was used while the
// wallet sent nothing at it. The key is in the row's MAC, so the mark cannot
// be added or removed without the state key.
func OfflineOutsideKey(id string) string { return offlineOutsidePrefix + id }

// OutsideBroadcast reports whether the transfer is a spend recorded from the
// chain for an offline request broadcast outside walletmcp (RecordOutside).
func (t *Transfer) OutsideBroadcast() bool {
	return len(t.IdempotencyKey) > len(offlineOutsidePrefix) && t.IdempotencyKey[:len(offlineOutsidePrefix)] == offlineOutsidePrefix
}

// IsOfflineApprovalID reports whether a transfer's approval id is an offline
// request's (OfflineApprovalID).
func IsOfflineApprovalID(id string) bool {
	return len(id) > len("offline:") && id[:len("offline:")] == "offline:"
}

// qLiveAtNonce finds the live transfer holding a nonce (transfers_nonce).
const qLiveAtNonce = selectTransfer + ` WHERE chain_id = ? AND from_addr = ? AND nonce = ? AND status <> 'failed'`

// LiveAtNonce returns the transfer of from on chainID that holds nonce and is
// not failed (at most one does), or ErrNotFound.
func (lt *LedgerTx) LiveAtNonce(chainID uint64, from common.Address, nonce uint64) (*Transfer, error) {
	if chainID > math.MaxInt64 || nonce > math.MaxInt64 {
		return nil, ErrNotFound
	}
	return lt.get(qLiveAtNonce, int64(chainID), encodeAddr(from), int64(nonce))
}

// RecordOutside records, counted, a spend the wallet did not broadcast: t
// carries what is known (an IdempotencyKey from OfflineOutsideKey, the
// ArgsHash, the transfer and Kind; ApprovalID is the request's
// OfflineApprovalID, or empty when a transfer that failed before the wallet
// broadcast anything holds it), and optionally its Nonce (which no live
// transfer may hold), TxHash with RawTx, and BlockNumber. With a block, or
// without a transaction (the request's nonce was used and the signed bytes
// are unknown: counted for good), the row is "confirmed"; with a transaction
// not yet mined it is "signed", due for settling at once, and the settling
// loop follows it like any other. The insert and the status are one change
// of the ledger transaction.
func (lt *LedgerTx) RecordOutside(t *Transfer) (*Transfer, error) {
	switch {
	case t == nil || !t.OutsideBroadcast() || (t.ApprovalID != "" && !IsOfflineApprovalID(t.ApprovalID)):
		return nil, errors.New("store: an outside spend needs its offline request's key")
	case (t.TxHash == nil) != (len(t.RawTx) == 0):
		return nil, errors.New("store: an outside spend's transaction needs both its hash and its bytes")
	case t.BlockNumber != nil && (*t.BlockNumber > math.MaxInt64 || t.TxHash == nil):
		return nil, errors.New("store: an outside spend's block needs its transaction")
	}
	hash, raw, block := t.TxHash, t.RawTx, t.BlockNumber
	got, created, err := lt.Insert(t)
	if err != nil {
		return nil, err
	}
	if !created {
		return nil, ErrConflict
	}
	got.Status = StatusConfirmed
	if hash != nil {
		h := *hash
		got.TxHash, got.RawTx = &h, append([]byte(nil), raw...)
		if block == nil {
			got.Status, got.NextCheck = StatusSigned, lt.now
		}
	}
	if block != nil {
		b := *block
		got.BlockNumber = &b
	}
	got.UpdatedAt = lt.now
	if err := lt.update(got); err != nil {
		return nil, err
	}
	return got, nil
}

// qNotSent is the condition on an offline request r that the wallet does
// not count it: no transfer submits it but a failed one, and no outside
// spend records it. A failed submission leaves the request watched, whether
// it failed before the wallet signed anything (a crash, the audit log down)
// or after (the node refused it, or its nonce was used by another
// transaction): the agent holds the device's signature all the same, and the
// device may have signed the request twice (a signature with a random nonce
// is another transaction), so what used the nonce may be this request.
const qNotSent = `NOT EXISTS (SELECT 1 FROM transfers t WHERE t.approval_id = 'offline:' || r.id
		AND t.status <> 'failed')
	AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.idempotency_key = 'offline-outside:' || r.id)`

// qForgettable is the condition on an offline request r that it can be
// forgotten once expired: the wallet counts it (not qNotSent), or its nonce
// was used by a transaction the wallet knows mined (a confirmed transfer of
// the account at that nonce, its own or a recorded outside spend), so that
// no transaction of it can be mined any more. A request the wallet never
// sent whose nonce is still free is kept however long ago it expired: its
// signed transaction does not expire, and the offline sweep must still see
// it when the nonce is used.
const qForgettable = `(NOT (` + qNotSent + `)
	OR EXISTS (SELECT 1 FROM transfers t WHERE t.chain_id = r.chain_id AND t.from_addr = r.from_addr
		AND t.nonce = r.nonce AND t.status = 'confirmed'))`

// qOutsideCandidates lists an account's offline requests that fix a nonce
// below a bound, were never sent (qNotSent), however long ago they expired,
// and whose nonce no live transfer holds (offline_requests_from_expires).
const qOutsideCandidates = `SELECT r.id FROM offline_requests r
	WHERE r.from_addr = ? AND r.chain_id = ? AND r.nonce < ?
	AND ` + qNotSent + `
	AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.chain_id = r.chain_id AND t.from_addr = r.from_addr
		AND t.nonce = r.nonce AND t.status <> 'failed')
	ORDER BY r.nonce, r.id LIMIT ?`

// OfflineUsedElsewhere returns up to limit offline requests of from on
// chainID, verified, that the wallet does not count (never submitted, or
// whose submission failed: qNotSent), however long ago they expired, and
// that fix a nonce below used (the account's nonce on chain) that no live
// transfer of the wallet holds: their nonce was used by a transaction the
// wallet did not send. Lowest nonce first.
func (s *Store) OfflineUsedElsewhere(ctx context.Context, chainID uint64, from common.Address, used uint64, limit int) ([]*OfflineRequest, error) {
	if s.key == nil {
		return nil, ErrNoKey
	}
	if chainID > math.MaxInt64 || limit <= 0 {
		return nil, nil
	}
	if used > math.MaxInt64 {
		used = math.MaxInt64
	}
	rows, err := s.db.QueryContext(ctx, qOutsideCandidates, encodeAddr(from), int64(chainID), int64(used), limit)
	if err != nil {
		return nil, wrapDBErr("list offline requests", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, wrapDBErr("list offline requests", err)
		}
		ids = append(ids, id)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, wrapDBErr("list offline requests", err)
	}
	out := make([]*OfflineRequest, 0, len(ids))
	for _, id := range ids {
		r, err := s.OfflineRequestByID(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// HasOpenOffline reports whether from has an offline request the wallet
// does not count (qNotSent), however long ago it expired, whose nonce is not
// known used by a mined transaction (a cheap test before asking the chain
// anything).
func (s *Store) HasOpenOffline(ctx context.Context, from common.Address) (bool, error) {
	var ok bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM offline_requests r
		WHERE r.from_addr = ? AND NOT `+qForgettable+`)`,
		encodeAddr(from)).Scan(&ok)
	if err != nil {
		return false, wrapDBErr("list offline requests", err)
	}
	return ok, nil
}
