package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations is the schema's history: element i takes the database from
// version i to version i+1. Steps are only ever appended, never edited once
// released. A step may hold several statements; each step is applied in one
// transaction together with its schema_migrations row.
var migrations = []string{
	schemaV1Transfers,
	schemaV2Approvals,
	schemaV3TOTPGuard,
}

// schemaV1Transfers creates the transfers table: one row per transfer intent,
// the spend ledger and the idempotency record at once. Addresses, the asset and
// the tx hash are lowercase 0x hex; amounts are decimal TEXT (they can exceed
// 64 bits); times are Unix nanoseconds (UTC).
const schemaV1Transfers = `
CREATE TABLE transfers (
	id              TEXT    NOT NULL PRIMARY KEY,
	idempotency_key TEXT             CHECK (idempotency_key <> ''),
	args_hash       BLOB,
	chain_id        INTEGER NOT NULL CHECK (chain_id >= 0),
	from_addr       TEXT    NOT NULL,
	to_addr         TEXT    NOT NULL,
	asset           TEXT    NOT NULL,
	amount          TEXT    NOT NULL,
	kind            TEXT    NOT NULL CHECK (kind IN ('auto', 'approved')),
	status          TEXT    NOT NULL CHECK (status IN ('pending', 'signed', 'submitted', 'failed')),
	nonce           INTEGER          CHECK (nonce >= 0),
	tx_hash         TEXT,
	raw_tx          BLOB,
	error           TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX transfers_idempotency_key ON transfers (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- A transfer that failed before broadcast may share its hash with a later
-- one: the same intent re-signed with the same nonce is the same transaction.
-- Among live transfers a hash is unique.
CREATE UNIQUE INDEX transfers_tx_hash ON transfers (tx_hash) WHERE tx_hash IS NOT NULL AND status <> 'failed';
CREATE INDEX transfers_tx_hash_any ON transfers (tx_hash) WHERE tx_hash IS NOT NULL;
CREATE INDEX transfers_from_asset_created ON transfers (from_addr, asset, created_at);
CREATE INDEX transfers_from_to ON transfers (from_addr, to_addr);
CREATE INDEX transfers_created ON transfers (created_at);
CREATE INDEX transfers_unfinished ON transfers (created_at) WHERE status IN ('pending', 'signed');
`

// SchemaVersionError reports a database whose schema is newer than this code
// knows: it was written by a later walletmcp, and using it could lose or
// misread state.
type SchemaVersionError struct {
	Database int // the database's schema version
	Known    int // the newest version this code knows
}

// Error implements error.
func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("store: database schema version %d is newer than this program knows (%d); use a newer walletmcp", e.Database, e.Known)
}

// migrate brings the database up to len(steps), one transaction per step.
// Each transaction re-reads the version under the write lock, so concurrent
// openers (also in other processes) apply each step once.
func (s *Store) migrate(ctx context.Context, steps []string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	for {
		done := false
		err := s.write(ctx, func(tx *sql.Tx) error {
			v, err := schemaVersion(ctx, tx)
			if err != nil {
				return err
			}
			if v > len(steps) {
				return &SchemaVersionError{Database: v, Known: len(steps)}
			}
			if v == len(steps) {
				done = true
				return nil
			}
			if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
				return fmt.Errorf("store: migration to version %d: %w", v+1, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				v+1, s.now().UnixNano()); err != nil {
				return fmt.Errorf("store: migration to version %d: %w", v+1, err)
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}

// schemaVersion is the highest applied migration, 0 for a new database.
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return v, nil
}
