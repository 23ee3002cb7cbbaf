package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Bounds of an HTTPToken's fields.
const (
	MaxHTTPTokenIDLen    = 64
	MaxHTTPTokenLabelLen = 200
	MaxHTTPTokenScopes   = 16
	MaxHTTPTokenScopeLen = 32
)

// schemaV5HTTPTokens creates http_tokens: the bearer tokens of the HTTP
// transport. Only a token's SHA-256 is kept; each row is MAC'd with the state
// key (id, hash, label, scopes, creation, expiry and revocation), so a row
// written or changed without the home passphrase is refused. An older copy
// of a row written back (its state before `token revoke`, saved by someone
// who can read and write state.db) carries a valid MAC and is not detected:
// where the agent can write the home, revocation is not a safeguard against
// it; the privilege-separated daemon keeps the home out of its reach.
const schemaV5HTTPTokens = `
CREATE TABLE http_tokens (
	id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
	hash       BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
	label      TEXT    NOT NULL DEFAULT '' CHECK (length(label) <= 200),
	scopes     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL DEFAULT 0,
	revoked_at INTEGER NOT NULL DEFAULT 0,
	mac        BLOB    NOT NULL CHECK (length(mac) > 0)
) STRICT;
`

// HTTPToken is a bearer token of the HTTP transport, as stored: never the
// token itself, only its SHA-256.
type HTTPToken struct {
	ID        string    // public identifier, shown by `token list`
	Hash      []byte    // SHA-256 of the token
	Label     string    // free text chosen by the human
	Scopes    []string  // what the token allows ("read", "transfer", ...)
	CreatedAt time.Time // when it was issued (UTC)
	ExpiresAt time.Time // when it stops working; zero: never
	RevokedAt time.Time // when it was revoked; zero: live
}

// httpTokenMAC authenticates every field of a token row.
func httpTokenMAC(key []byte, t *HTTPToken) []byte {
	return newMAC("walletmcp/state/http-token/v1").
		str(t.ID).bytes(t.Hash).str(t.Label).str(strings.Join(t.Scopes, ",")).
		time(t.CreatedAt).i64(toNano(t.ExpiresAt)).i64(toNano(t.RevokedAt)).
		sum(key)
}

func checkHTTPToken(t *HTTPToken) error {
	switch {
	case t.ID == "" || len(t.ID) > MaxHTTPTokenIDLen:
		return errors.New("store: http token id empty or too long")
	case len(t.Hash) != sha256.Size:
		return errors.New("store: http token hash must be a SHA-256")
	case len(t.Label) > MaxHTTPTokenLabelLen:
		return errors.New("store: http token label too long")
	case len(t.Scopes) == 0 || len(t.Scopes) > MaxHTTPTokenScopes:
		return errors.New("store: http token needs 1 to 16 scopes")
	}
	for _, s := range t.Scopes {
		if s == "" || len(s) > MaxHTTPTokenScopeLen || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz_") != "" {
			return errors.New("store: http token scope must be lowercase letters")
		}
	}
	return nil
}

// CreateHTTPToken stores t, setting CreatedAt to now and clearing RevokedAt.
// It needs the state key (ErrNoKey otherwise).
func (s *Store) CreateHTTPToken(ctx context.Context, t *HTTPToken) error {
	if s.key == nil {
		return ErrNoKey
	}
	if err := checkHTTPToken(t); err != nil {
		return err
	}
	now, err := s.timestamp()
	if err != nil {
		return err
	}
	t.CreatedAt, t.RevokedAt = now, time.Time{}
	mac := httpTokenMAC(s.key, t)
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO http_tokens (id, hash, label, scopes, created_at, expires_at, revoked_at, mac)
			VALUES (?, ?, ?, ?, ?, ?, 0, ?)`,
			t.ID, t.Hash, t.Label, strings.Join(t.Scopes, ","), unixNano(t.CreatedAt), toNano(t.ExpiresAt), mac)
		if err != nil {
			return wrapDBErr("create http token", err)
		}
		return nil
	})
}

const qHTTPToken = `SELECT id, hash, label, scopes, created_at, expires_at, revoked_at, mac FROM http_tokens`

// scanHTTPToken reads a row and verifies its MAC.
func (s *Store) scanHTTPToken(row interface{ Scan(...any) error }) (*HTTPToken, error) {
	var t HTTPToken
	var scopes string
	var created, expires, revoked int64
	var mac []byte
	if err := row.Scan(&t.ID, &t.Hash, &t.Label, &scopes, &created, &expires, &revoked, &mac); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, wrapDBErr("read http token", err)
	}
	t.Scopes = strings.Split(scopes, ",")
	t.CreatedAt = time.Unix(0, created).UTC()
	t.ExpiresAt = fromNano(expires)
	t.RevokedAt = fromNano(revoked)
	if !macEqual(mac, httpTokenMAC(s.key, &t)) {
		return nil, &TamperError{Table: "http_tokens", ID: t.ID, What: "MAC does not verify"}
	}
	return &t, nil
}

// HTTPTokenByHash returns the token whose SHA-256 is hash, revoked or not,
// after verifying its MAC (a *TamperError when it does not verify). It needs
// the state key (ErrNoKey otherwise): an unauthenticated row is never trusted.
func (s *Store) HTTPTokenByHash(ctx context.Context, hash []byte) (*HTTPToken, error) {
	if s.key == nil {
		return nil, ErrNoKey
	}
	if len(hash) != sha256.Size {
		return nil, ErrNotFound
	}
	return s.scanHTTPToken(s.db.QueryRowContext(ctx, qHTTPToken+` WHERE hash = ?`, hash))
}

// HTTPTokens lists every token, oldest first, each MAC verified. It needs the
// state key (ErrNoKey otherwise).
func (s *Store) HTTPTokens(ctx context.Context) ([]HTTPToken, error) {
	if s.key == nil {
		return nil, ErrNoKey
	}
	rows, err := s.db.QueryContext(ctx, qHTTPToken+` ORDER BY created_at, id`)
	if err != nil {
		return nil, wrapDBErr("list http tokens", err)
	}
	defer rows.Close()
	var out []HTTPToken
	for rows.Next() {
		t, err := s.scanHTTPToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr("list http tokens", err)
	}
	return out, nil
}

// RevokeHTTPToken marks the token id revoked now (ErrNotFound when there is
// none). Revoking a revoked token changes nothing. It needs the state key.
func (s *Store) RevokeHTTPToken(ctx context.Context, id string) error {
	if s.key == nil {
		return ErrNoKey
	}
	now, err := s.timestamp()
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		t, err := s.scanHTTPToken(tx.QueryRowContext(ctx, qHTTPToken+` WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if !t.RevokedAt.IsZero() {
			return nil
		}
		t.RevokedAt = now
		res, err := tx.ExecContext(ctx, `UPDATE http_tokens SET revoked_at = ?, mac = ? WHERE id = ?`,
			unixNano(now), httpTokenMAC(s.key, t), id)
		if err != nil {
			return wrapDBErr("revoke http token", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("store: revoke http token: %d rows changed", n)
		}
		return nil
	})
}
