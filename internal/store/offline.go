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
// reported "expired", not "not found") before a later insert removes it.
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
// ago. It needs the state key.
func (s *Store) CreateOfflineRequest(ctx context.Context, r *OfflineRequest, maxOpen int) error {
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
	now, err := s.timestamp()
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM offline_requests WHERE expires_at < ?`, unixNano(now.Add(-offlineRetention))); err != nil {
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
		_, err := tx.ExecContext(ctx, `INSERT INTO offline_requests
			(id, chain_id, from_addr, to_addr, asset, amount, nonce, request, summary, created_at, expires_at, mac)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, int64(r.ChainID), encodeAddr(r.From), encodeAddr(r.To), r.Asset, r.Amount.String(), int64(r.Nonce),
			r.Request, r.Summary, unixNano(r.CreatedAt), unixNano(r.ExpiresAt), offlineMAC(s.key, r))
		if err != nil {
			return wrapDBErr("create offline request", err)
		}
		return nil
	})
}

// OfflineRequestByID returns the offline request id, or ErrNotFound. Its MAC
// must verify with the state key (a *TamperError otherwise); without the key
// nothing is returned.
func (s *Store) OfflineRequestByID(ctx context.Context, id string) (*OfflineRequest, error) {
	if s.key == nil {
		return nil, ErrNoKey
	}
	var r OfflineRequest
	var chainID, nonce, created, expires int64
	var from, to, amount string
	var mac []byte
	err := s.db.QueryRowContext(ctx, `SELECT id, chain_id, from_addr, to_addr, asset, amount, nonce, request, summary,
		created_at, expires_at, mac FROM offline_requests WHERE id = ?`, id).
		Scan(&r.ID, &chainID, &from, &to, &r.Asset, &amount, &nonce, &r.Request, &r.Summary, &created, &expires, &mac)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
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
