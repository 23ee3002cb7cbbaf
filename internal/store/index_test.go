package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// TestMigrateV9TransferIndexes upgrades a version 8 home holding a pending,
// a signed, a confirmed and a failed transfer: after the upgrade the three
// indexes no reader used are gone, the failed-hash index holds the failed
// row, and Unfinished, TransferByHash and new writes answer as before.
func TestMigrateV9TransferIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	old := &Store{db: db, now: time.Now, rand: rand.Reader, wlock: make(chan struct{}, 1), key: testKey()}
	if err := old.migrate(ctx, migrations[:8]); err != nil {
		t.Fatal(err)
	}
	if err := old.ensureHead(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.ensureOpsHead(ctx); err != nil {
		t.Fatal(err)
	}
	mk := func() *Transfer {
		t.Helper()
		return create(t, old, testTransfer())
	}
	pending, signed, confirmed, failed := mk(), mk(), mk(), mk()
	hash := func(b byte) common.Hash { return common.Hash{31: b} }
	for i, tr := range []*Transfer{signed, confirmed, failed} {
		if err := old.MarkSigned(ctx, tr.ID, uint64(i), hash(byte(i+1)), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.MarkConfirmedAll(ctx, map[string]uint64{confirmed.ID: 5}); err != nil {
		t.Fatal(err)
	}
	if err := old.MarkFailed(ctx, failed.ID, "x"); err != nil {
		t.Fatal(err)
	}
	old.closeStmts()
	db.Close()

	s, err := Open(ctx, path, withKey(nil))
	if err != nil {
		t.Fatalf("Open after version 8: %v", err)
	}
	defer s.Close()
	if got := version(t, s); got != len(migrations) {
		t.Fatalf("schema version %d, want %d", got, len(migrations))
	}
	var names []string
	rows, err := s.db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'transfers'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	for _, gone := range []string{"transfers_from_asset_created", "transfers_tx_hash_any", "transfers_unfinished"} {
		if slices.Contains(names, gone) {
			t.Errorf("index %s still exists", gone)
		}
	}
	var inFailed int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM transfers INDEXED BY transfers_tx_hash_failed WHERE tx_hash IS NOT NULL AND status = 'failed'`).Scan(&inFailed); err != nil || inFailed != 1 {
		t.Errorf("transfers_tx_hash_failed holds %d rows (%v), want 1", inFailed, err)
	}
	un, err := s.Unfinished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range un {
		ids = append(ids, tr.ID)
	}
	if want := []string{pending.ID, signed.ID}; !slices.Equal(ids, want) {
		t.Errorf("Unfinished = %v, want %v", ids, want)
	}
	for i, want := range []*Transfer{signed, confirmed, failed} {
		got, err := s.TransferByHash(ctx, hash(byte(i+1)))
		if err != nil || got.ID != want.ID {
			t.Errorf("TransferByHash(%d) = %v, %v; want %s", i+1, got, err, want.ID)
		}
	}
	if _, err := s.TransferByHash(ctx, hash(9)); err != ErrNotFound {
		t.Errorf("TransferByHash of an unknown hash: %v, want ErrNotFound", err)
	}
	// The upgraded ledger verifies and takes new writes.
	if _, _, err := s.LoadLedger(ctx, time.Time{}); err != nil {
		t.Fatalf("LoadLedger: %v", err)
	}
	next := create(t, s, testTransfer())
	if err := s.MarkSigned(ctx, next.ID, 3, hash(4), []byte{1}); err != nil {
		t.Fatal(err)
	}
}
