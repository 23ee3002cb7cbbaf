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
// requests an earlier version stored are counted, and the head sealed, in
// the migration's own transaction (sealOfflineHead), as the ledger's rows
// are (sealLegacy): no state ever holds a head that is not sealed.
const schemaV10OfflineHead = `
CREATE TABLE offline_head (
	id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	inserted INTEGER NOT NULL CHECK (inserted >= 0),
	deleted  INTEGER NOT NULL CHECK (deleted >= 0),
	mac      BLOB    NOT NULL
) STRICT;
`

// offlineHeadVersion is the schema version that counts the offline
// requests (schemaV10OfflineHead).
const offlineHeadVersion = 10

func offlineHeadMAC(key []byte, inserted, deleted int64) []byte {
	return newMAC("walletmcp/state/offline-head/v1").i64(inserted).i64(deleted).sum(key)
}

// sealOfflineHead counts, in the transaction of the migration that adds the
// head, the requests an earlier version stored, and seals the head. Without
// the key, a database that holds requests is not upgraded (errNeedKey); one
// that holds none gets its head at the first keyed open (ensureOfflineHead).
func (s *Store) sealOfflineHead(ctx context.Context, tx *sql.Tx) error {
	var rows int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM offline_requests`).Scan(&rows); err != nil {
		return wrapDBErr("read offline requests", err)
	}
	if s.key == nil {
		if rows > 0 {
			return errNeedKey
		}
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO offline_head (id, inserted, deleted, mac) VALUES (1, ?, 0, ?)`, rows, offlineHeadMAC(s.key, rows, 0))
	return wrapErr("seal offline head", err)
}

// ensureOfflineHead gives a keyed store without a head one, if it holds no
// request (a database upgraded or created without the key); a head missing
// while requests are stored is tampering. A head that is there is verified
// where it is read (offlineHead).
func (s *Store) ensureOfflineHead(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var heads, rows int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM offline_head`).Scan(&heads); err != nil {
			return wrapDBErr("read offline head", err)
		}
		if heads > 0 {
			return nil
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM offline_requests`).Scan(&rows); err != nil {
			return wrapDBErr("read offline requests", err)
		}
		if rows > 0 {
			return &TamperError{Table: "offline_head", What: "missing, though offline requests are stored"}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO offline_head (id, inserted, deleted, mac) VALUES (1, 0, 0, ?)`, offlineHeadMAC(s.key, 0, 0))
		return wrapErr("write offline head", err)
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
