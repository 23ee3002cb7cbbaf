package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// openV2 creates a database at path with only the first two migrations (the
// schema before the ledger was authenticated), runs stmts on it and closes it.
func openV2(t *testing.T, path string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &Store{db: db, now: time.Now, rand: rand.Reader, wlock: make(chan struct{}, 1)}
	if err := s.migrate(ctx, migrations[:2]); err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// v2Transfer is an INSERT of a transfer in the V1 schema.
func v2Transfer(id, key string, amount int, status string, nonce int, hash string, created int64) string {
	k, n, h, raw := "NULL", "NULL", "NULL", "NULL"
	if key != "" {
		k = fmt.Sprintf("'%s'", key)
	}
	if nonce >= 0 {
		n = fmt.Sprint(nonce)
	}
	if hash != "" {
		h, raw = fmt.Sprintf("'%s'", hash), "x'02f8'"
	}
	return fmt.Sprintf(`INSERT INTO transfers (id, idempotency_key, args_hash, chain_id, from_addr, to_addr, asset, amount, kind,
		status, nonce, tx_hash, raw_tx, created_at, updated_at) VALUES ('%s', %s, x'%064x', 1337, '%s', '%s', 'ETH', '%d', 'auto',
		'%s', %s, %s, %s, %d, %d)`, id, k, 1, encodeAddr(alice), encodeAddr(bob), amount, status, n, h, raw, created, created)
}

// v2Approval is an INSERT of an approval in the V2 schema.
func v2Approval(id string, status approvalstate.Status, transferID string, created int64) string {
	decided := "NULL"
	if status != approvalstate.Pending && status != approvalstate.Expired {
		decided = fmt.Sprint(created + 1)
	}
	return fmt.Sprintf(`INSERT INTO approvals (id, link_token_hash, digest, chain_id, from_addr, to_addr, asset, amount, summary,
		status, channel, transfer_id, created_at, expires_at, decided_at, updated_at) VALUES ('%s', zeroblob(32), zeroblob(32), 1337,
		'%s', '%s', 'ETH', '5', '{}', '%s', 'cli', '%s', %d, %d, %s, %d)`,
		id, encodeAddr(alice), encodeAddr(bob), status, transferID, created, created+int64(time.Hour), decided, created)
}

// TestSealLegacy: the first Open with the state key of a database written
// before the ledger was authenticated numbers its transfers in creation
// order, moves approval keys into approval_id, MACs every row, writes the
// head, and fails the approvals that were approved but not executed: their
// status could have been written by anyone.
func TestSealLegacy(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	at := func(m int) int64 { return base + int64(m)*int64(time.Minute) }
	hash := func(b byte) string { return common.BytesToHash([]byte{b}).Hex() }
	legacy := []string{
		// Inserted out of creation order: t4 was created before t3.
		v2Transfer("t1", "agent-key", 10, StatusPending, -1, "", at(0)),
		v2Transfer("t2", "approval-a1", 20, StatusSubmitted, 0, hash(2), at(1)),
		v2Transfer("t3", "", 30, StatusFailed, -1, "", at(3)),
		v2Transfer("t4", "", 40, StatusSigned, 1, hash(4), at(2)),
		v2Approval("a1", approvalstate.Executed, "t2", at(0)),
		v2Approval("a2", approvalstate.Approved, "", at(1)),
		v2Approval("a3", approvalstate.Pending, "", at(2)),
		v2Approval("a4", approvalstate.Rejected, "", at(3)),
	}
	tests := []struct {
		name         string
		keylessFirst bool // a command without the passphrase opens it first
	}{
		{name: "opened with the key"},
		{name: "opened without the key first", keylessFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := t.TempDir() + "/state.db"
			openV2(t, path, legacy...)
			clk := newClock()
			if tt.keylessFirst {
				// Without the key the upgrade cannot seal the rows, so it is
				// refused (and changes nothing): a V3 database never holds
				// rows without a head.
				if ro, err := Open(ctx, path, nil); err == nil || !strings.Contains(err.Error(), "needs the home passphrase") {
					if ro != nil {
						ro.Close()
					}
					t.Fatalf("keyless Open of a V2 database with rows: %v, want a refusal", err)
				}
			}
			s, err := Open(ctx, path, withKey(&Options{Now: clk.Now}))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, want := s.Sealed(), 8; got != want {
				t.Errorf("Sealed() = %d, want %d", got, want)
			}
			if got := version(t, s); got != len(migrations) {
				t.Errorf("schema version %d, want %d", got, len(migrations))
			}
			all, head, err := s.LoadLedger(ctx, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var order []string
			for i, tr := range all {
				order = append(order, tr.ID)
				if !tr.Verified || tr.Seq != int64(i+1) {
					t.Errorf("%s: seq %d verified %v", tr.ID, tr.Seq, tr.Verified)
				}
			}
			if fmt.Sprint(order) != "[t1 t2 t4 t3]" {
				t.Errorf("sequence %v, want creation order [t1 t2 t4 t3]", order)
			}
			if head != (LedgerHead{Seq: 4, Version: 4}) {
				t.Errorf("head %+v, want {4 4}", head)
			}
			if tr, err := s.TransferByApproval(ctx, "a1"); err != nil || tr.ID != "t2" || tr.IdempotencyKey != "" || tr.ApprovalID != "a1" {
				t.Errorf("TransferByApproval(a1) = %+v, %v; want t2 with approval_id a1 and no agent key", tr, err)
			}
			if _, err := s.TransferByKey(ctx, "approval-a1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("the approval's old key still reaches t2: %v", err)
			}
			if tr, err := s.TransferByKey(ctx, "agent-key"); err != nil || tr.ID != "t1" {
				t.Errorf("TransferByKey(agent-key) = %+v, %v", tr, err)
			}
			wantStatus := map[string]approvalstate.Status{"a1": approvalstate.Executed, "a2": approvalstate.Failed, "a3": approvalstate.Pending, "a4": approvalstate.Rejected}
			for id, st := range wantStatus {
				a, err := s.Approval(ctx, id)
				if err != nil {
					t.Fatalf("Approval(%s): %v", id, err)
				}
				if a.Status != st || !a.Verified {
					t.Errorf("%s: %s verified %v, want %s", id, a.Status, a.Verified, st)
				}
				if id == "a2" && a.Error == "" {
					t.Error("the failed legacy approval does not say why")
				}
			}
			if list, err := s.ApprovedToExecute(ctx); err != nil || len(list) != 0 {
				t.Errorf("ApprovedToExecute after sealing: %v %v", list, err)
			}
			// The sealed state is usable: the ledger takes a transfer after
			// the legacy ones, with the nonce after the live legacy ones,
			// and the pending approval can be decided.
			var nonce uint64
			err = s.Ledger(ctx, func(lt *LedgerTx) error {
				if nonce, err = lt.AllocateNonce(1337, alice, 0); err != nil {
					return err
				}
				n := nonce
				tr := testTransfer()
				tr.Nonce = &n
				_, _, err := lt.Insert(tr)
				return err
			})
			if err != nil || nonce != 2 {
				t.Errorf("after sealing: nonce %d, %v; want 2", nonce, err)
			}
			if err := s.DecideApproval(ctx, "a3", approvalstate.Approved, ChannelCLI, 1, time.Unix(0, at(2)).Add(time.Minute)); err != nil {
				t.Errorf("deciding a sealed approval: %v", err)
			}
			s.Close()

			// Sealing happens once.
			s, err = Open(ctx, path, withKey(nil))
			if err != nil {
				t.Fatal(err)
			}
			if s.Sealed() != 0 {
				t.Errorf("second Open sealed %d rows", s.Sealed())
			}
			if _, head, err := s.LoadLedger(ctx, time.Time{}); err != nil || head.Seq != 5 {
				t.Errorf("after reopening: head %+v, %v", head, err)
			}
		})
	}
}

// TestSealEmpty: a new database is sealed with an empty head at once.
func TestSealEmpty(t *testing.T) {
	s, _ := openTest(t, nil)
	if s.Sealed() != 0 {
		t.Errorf("Sealed() = %d on a new database", s.Sealed())
	}
	if err := s.Ledger(context.Background(), func(lt *LedgerTx) error {
		if lt.Head() != (LedgerHead{}) {
			t.Errorf("head %+v, want zero", lt.Head())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestHeadDeletedIsNotResealed: deleting the ledger head must not make a
// sealed database look like one written before sealing: the next Open with
// the key would otherwise MAC every row as it stands, edits included.
func TestHeadDeletedIsNotResealed(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		sql  string
	}{
		{"head deleted", `DELETE FROM ledger_head`},
		{"transfer lowered, head deleted", `UPDATE transfers SET amount = '0' WHERE seq = 1; DELETE FROM ledger_head`},
		{"transfer forged, head deleted", `INSERT INTO transfers (id, seq, version, chain_id, from_addr, to_addr, asset, amount, kind,
			status, created_at, updated_at) VALUES ('forged', 4, 99, 1337, '` + encodeAddr(alice) + `', '` + encodeAddr(dave) + `', 'ETH',
			'1', 'auto', 'confirmed', 0, 0); DELETE FROM ledger_head`},
		{"approval forged, head deleted", `UPDATE approvals SET status = 'pending', mac = x'', state_mac = x''
			WHERE status = 'rejected'; DELETE FROM ledger_head`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.exec(t, tt.sql)
			f.s.Close()
			s, err := Open(ctx, f.path, withKey(&Options{Now: f.clk.Now}))
			if err == nil {
				defer s.Close()
				t.Fatalf("Open resealed %d rows", s.Sealed())
			}
			wantTamper(t, "Open", err, "ledger_head")
		})
	}
}
