package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations is the schema's history: element i takes the database from
// version i to version i+1. Steps are only ever appended, never edited once
// released. A step may hold several statements; each step is applied in one
// transaction together with its schema_migrations row.
var migrations = []string{
	schemaV1Transfers,
	schemaV2Approvals,
	schemaV3Ledger,
	schemaV4TOTPGuard,
	schemaV5HTTPTokens,
	schemaV6OfflineRequests,
	schemaV7Ops,
	schemaV8Anomaly,
	schemaV9TransferIndexes,
	schemaV10OfflineHead,
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

// schemaV3Ledger makes the transfers table an authenticated, shared ledger
// and the approvals table authenticated and leased:
//   - transfers gets seq (a global sequence, contiguous from 1, so that a
//     removed row is noticed), version (bumped by every change, so that each
//     process catches up with the others' changes), approval_id (the approval
//     a transfer executes: an internal namespace no agent key can reach), a
//     lease on a reservation being signed, the settling schedule of a
//     broadcast transaction, its block, and a MAC. Status "confirmed" is a
//     mined transaction. A nonce is held by at most one live transfer.
//   - ledger_head holds the last seq and version, MAC'd.
//   - approvals gets the fee ceiling shown to the human, the TOTP step that
//     approved it, a MAC of the request and one of its state, and the
//     executor's lease.
//
// Rows written by earlier versions get seq in creation order and an empty MAC;
// the first process that opens the store with the state key seals them.
const schemaV3Ledger = `
CREATE TABLE transfers_v3 (
	id              TEXT    NOT NULL PRIMARY KEY,
	seq             INTEGER NOT NULL CHECK (seq >= 1),
	version         INTEGER NOT NULL CHECK (version >= 1),
	approval_id     TEXT             CHECK (approval_id <> ''),
	idempotency_key TEXT             CHECK (idempotency_key <> ''),
	args_hash       BLOB,
	chain_id        INTEGER NOT NULL CHECK (chain_id >= 0),
	from_addr       TEXT    NOT NULL,
	to_addr         TEXT    NOT NULL,
	asset           TEXT    NOT NULL,
	amount          TEXT    NOT NULL,
	kind            TEXT    NOT NULL CHECK (kind IN ('auto', 'approved')),
	status          TEXT    NOT NULL CHECK (status IN ('pending', 'signed', 'submitted', 'confirmed', 'failed')),
	nonce           INTEGER          CHECK (nonce >= 0),
	tx_hash         TEXT,
	raw_tx          BLOB,
	error           TEXT    NOT NULL DEFAULT '',
	lease_until     INTEGER NOT NULL DEFAULT 0,
	next_check      INTEGER NOT NULL DEFAULT 0,
	checks          INTEGER NOT NULL DEFAULT 0,
	block_number    INTEGER          CHECK (block_number >= 0),
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	mac             BLOB    NOT NULL DEFAULT x''
) STRICT;
INSERT INTO transfers_v3 (id, seq, version, idempotency_key, args_hash, chain_id, from_addr, to_addr, asset, amount,
	kind, status, nonce, tx_hash, raw_tx, error, created_at, updated_at)
SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, rowid), ROW_NUMBER() OVER (ORDER BY created_at, rowid),
	CASE WHEN idempotency_key LIKE 'approval-%' THEN NULL ELSE idempotency_key END,
	args_hash, chain_id, from_addr, to_addr, asset, amount,
	kind, status, nonce, tx_hash, raw_tx, error, created_at, updated_at FROM transfers;
UPDATE transfers_v3 SET approval_id = (SELECT substr(t.idempotency_key, 10) FROM transfers t WHERE t.id = transfers_v3.id)
	WHERE id IN (SELECT id FROM transfers WHERE idempotency_key LIKE 'approval-%');
-- Two live transfers of one account holding one nonce (an earlier version
-- could leave that after a resync): the first keeps it.
UPDATE transfers_v3 SET nonce = NULL WHERE status <> 'failed' AND nonce IS NOT NULL AND EXISTS (
	SELECT 1 FROM transfers_v3 o WHERE o.chain_id = transfers_v3.chain_id AND o.from_addr = transfers_v3.from_addr
	AND o.nonce = transfers_v3.nonce AND o.status <> 'failed' AND o.seq < transfers_v3.seq);
DROP TABLE transfers;
ALTER TABLE transfers_v3 RENAME TO transfers;
CREATE UNIQUE INDEX transfers_seq ON transfers (seq);
CREATE INDEX transfers_version ON transfers (version);
CREATE UNIQUE INDEX transfers_approval ON transfers (approval_id) WHERE approval_id IS NOT NULL;
CREATE UNIQUE INDEX transfers_idempotency_key ON transfers (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX transfers_tx_hash ON transfers (tx_hash) WHERE tx_hash IS NOT NULL AND status <> 'failed';
CREATE INDEX transfers_tx_hash_any ON transfers (tx_hash) WHERE tx_hash IS NOT NULL;
CREATE UNIQUE INDEX transfers_nonce ON transfers (chain_id, from_addr, nonce) WHERE nonce IS NOT NULL AND status <> 'failed';
CREATE INDEX transfers_from_asset_created ON transfers (from_addr, asset, created_at);
CREATE INDEX transfers_from_to ON transfers (from_addr, to_addr);
CREATE INDEX transfers_created ON transfers (created_at);
CREATE INDEX transfers_unsettled ON transfers (next_check) WHERE status IN ('signed', 'submitted');
CREATE INDEX transfers_reserved ON transfers (lease_until) WHERE status = 'pending';
CREATE INDEX transfers_unfinished ON transfers (seq) WHERE status IN ('pending', 'signed');
CREATE TABLE ledger_head (
	id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	seq     INTEGER NOT NULL CHECK (seq >= 0),
	version INTEGER NOT NULL CHECK (version >= 0),
	mac     BLOB    NOT NULL
) STRICT;
ALTER TABLE approvals ADD COLUMN max_fee TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN step INTEGER NOT NULL DEFAULT -1;
ALTER TABLE approvals ADD COLUMN mac BLOB NOT NULL DEFAULT x'';
ALTER TABLE approvals ADD COLUMN state_mac BLOB NOT NULL DEFAULT x'';
ALTER TABLE approvals ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
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
			if v+1 == ledgerVersion && v > 0 {
				if err := s.needKeyToSeal(ctx, tx); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
				return fmt.Errorf("store: migration to version %d: %w", v+1, err)
			}
			if v+1 == ledgerVersion && s.key != nil {
				if s.sealed, err = s.sealLegacy(ctx, tx); err != nil {
					return fmt.Errorf("store: migration to version %d: %w", v+1, err)
				}
			}
			if v+1 == offlineHeadVersion {
				if err := s.sealOfflineHead(ctx, tx); err != nil {
					return fmt.Errorf("store: migration to version %d: %w", v+1, err)
				}
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

// ledgerVersion is the schema version that authenticates the ledger
// (schemaV3Ledger): rows written before it are sealed in its migration.
const ledgerVersion = 3

// needKeyToSeal refuses to upgrade, without the state key, a database whose
// rows the upgrade to ledgerVersion would have to seal.
func (s *Store) needKeyToSeal(ctx context.Context, tx *sql.Tx) error {
	if s.key != nil {
		return nil
	}
	var rows bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM transfers) OR EXISTS (SELECT 1 FROM approvals)`).Scan(&rows); err != nil {
		return wrapDBErr("migrate", err)
	}
	if rows {
		return errNeedKey
	}
	return nil
}

// errNeedKey refuses a keyless upgrade that would have to seal rows.
var errNeedKey = errors.New("store: the state database needs an upgrade, which needs the home passphrase: run `walletmcp serve` or `walletmcp approve` once")

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
