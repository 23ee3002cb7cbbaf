package store

import (
	"context"
	"database/sql"
	"errors"
)

// schemaV10OfflineHead counts the offline requests. Each request row is
// MAC'd, but nothing counted them: a row deleted without the state key went
// unnoticed, and with it a request whose signed transaction the agent holds
// (the window counts requests that may still be spent, and the offline
// sweep records one spent once its nonce is used). offline_head holds how
// many requests were ever stored and how many the store itself removed
// (qForgettable), MAC'd; the table must hold exactly the difference. The
// migration writes the head unsealed (no MAC: it may run without the key),
// and the first keyed open seals it (ensureOfflineHead).
const schemaV10OfflineHead = `
CREATE TABLE offline_head (
	id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	inserted INTEGER NOT NULL CHECK (inserted >= 0),
	deleted  INTEGER NOT NULL CHECK (deleted >= 0),
	mac      BLOB    NOT NULL
) STRICT;
INSERT INTO offline_head (id, inserted, deleted, mac) SELECT 1, COUNT(*), 0, X'' FROM offline_requests;
`

func offlineHeadMAC(key []byte, inserted, deleted int64) []byte {
	return newMAC("walletmcp/state/offline-head/v1").i64(inserted).i64(deleted).sum(key)
}

// ensureOfflineHead seals a head the migration wrote (with the rows as the
// first keyed open finds them). A head missing while requests are stored is
// tampering; with none stored it is made.
func (s *Store) ensureOfflineHead(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var inserted, deleted, rows int64
		var mac []byte
		err := tx.QueryRowContext(ctx, `SELECT inserted, deleted, mac FROM offline_head WHERE id = 1`).Scan(&inserted, &deleted, &mac)
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM offline_requests`).Scan(&rows); err != nil {
			return wrapDBErr("read offline requests", err)
		}
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if rows > 0 {
				return &TamperError{Table: "offline_head", What: "missing, though offline requests are stored"}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO offline_head (id, inserted, deleted, mac) VALUES (1, 0, 0, ?)`, offlineHeadMAC(s.key, 0, 0))
			return wrapErr("write offline head", err)
		case err != nil:
			return wrapDBErr("read offline head", err)
		case len(mac) == 0:
			_, err := tx.ExecContext(ctx, `UPDATE offline_head SET inserted = ?, deleted = 0, mac = ? WHERE id = 1`, rows, offlineHeadMAC(s.key, rows, 0))
			return wrapErr("seal offline head", err)
		}
		return nil
	})
}

// offlineHead reads and verifies the head against the table in q: a
// *TamperError when its MAC does not verify, or the table holds another
// number of requests than it counts.
func (s *Store) offlineHead(ctx context.Context, q querier) (inserted, deleted int64, err error) {
	var mac []byte
	err = s.queryRow(ctx, q, `SELECT inserted, deleted, mac FROM offline_head WHERE id = 1`).Scan(&inserted, &deleted, &mac)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, &TamperError{Table: "offline_head", What: "missing (removed without the state key)"}
	}
	if err != nil {
		return 0, 0, wrapDBErr("read offline head", err)
	}
	if !macEqual(mac, offlineHeadMAC(s.key, inserted, deleted)) {
		return 0, 0, &TamperError{Table: "offline_head", What: "MAC does not verify"}
	}
	var rows int64
	if err := s.queryRow(ctx, q, `SELECT COUNT(*) FROM offline_requests`).Scan(&rows); err != nil {
		return 0, 0, wrapDBErr("read offline requests", err)
	}
	if rows != inserted-deleted {
		return 0, 0, &TamperError{Table: "offline_requests", What: "rows removed or added without the state key"}
	}
	return inserted, deleted, nil
}

// writeOfflineHead stores the head's new counts in tx.
func (s *Store) writeOfflineHead(ctx context.Context, tx *sql.Tx, inserted, deleted int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE offline_head SET inserted = ?, deleted = ?, mac = ? WHERE id = 1`,
		inserted, deleted, offlineHeadMAC(s.key, inserted, deleted))
	return wrapErr("write offline head", err)
}
