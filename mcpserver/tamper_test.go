package mcpserver_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	_ "modernc.org/sqlite" // a second, raw connection to state.db, as an attacker would open

	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/mcpserver"
)

// rawDB opens state.db the way a process running as the wallet's user can:
// with any SQLite client, without the home passphrase.
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "state.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func execSQL(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s: changed nothing", q)
	}
}

// TestEditedApprovalNeverSigns: an approval whose status was set to
// "approved" in state.db (by a process that can write the home but has no
// TOTP code and no passphrase) is never executed: its MACs do not verify,
// the executor reports a security event, and nothing is signed or sent.
// Before, the executor signed it.
func TestEditedApprovalNeverSigns(t *testing.T) {
	e := newEnv(t, envOpts{})
	var out tkSent
	e.ok("send_transfer", map[string]any{"from": e.accounts[0].Hex(), "to": recipient.Hex(), "amount": "0.5"}, &out)
	if out.Status != "approval_required" {
		t.Fatalf("got %+v", out)
	}
	db := rawDB(t, e.dir)
	execSQL(t, db, `UPDATE approvals SET status = 'approved', channel = 'cli', step = 99999999, decided_at = created_at WHERE id = ?`, out.ApprovalID)
	// Several executor passes run (this process's background loop, and one here).
	for range 3 {
		e.guard.Pass(context.Background())
	}
	if _, err := e.store.TransferByApproval(context.Background(), out.ApprovalID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a transfer was made for the edited approval: %v", err)
	}
	if got := e.balance(recipient); got.Sign() != 0 {
		t.Fatalf("recipient got %s", got)
	}
	if _, err := e.store.Approval(context.Background(), out.ApprovalID); !errors.Is(err, store.ErrTampered) {
		t.Fatalf("reading the edited approval: %v, want ErrTampered", err)
	}
	log, err := os.ReadFile(filepath.Join(e.dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(`"state_tampered"`)) || !bytes.Contains(log, []byte(out.ApprovalID)) {
		t.Fatal("no state_tampered security event for the edited approval")
	}
	// The agent sees the failure too, never a signature.
	msg := e.fail("get_approval", map[string]any{"approval_id": out.ApprovalID}, "internal")
	if strings.Contains(msg, "approved") {
		t.Fatalf("get_approval of the edited row: %q", msg)
	}
}

// TestDeletedSpendsAreDetected: removing ledger rows (to reset the window)
// is detected: a running server refuses to reserve, and a restart refuses
// to start, instead of forgetting the spends. Before, deleting the rows reset
// the window at the next start.
func TestDeletedSpendsAreDetected(t *testing.T) {
	dir := t.TempDir()
	pol := strings.Replace(tkPolicyText("0.1", "5", "1", "10", ""), "new_recipient_approval = true", "new_recipient_approval = false", 1)
	e := newEnv(t, envOpts{dir: dir, policy: pol})
	from := e.accounts[0].Hex()
	for range 3 {
		var out tkSent
		e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.1"}, &out)
		e.waitMined(out.TxHash)
	}
	db := rawDB(t, dir)
	for _, c := range []struct{ name, q string }{
		{"the last spend", `DELETE FROM transfers WHERE seq = (SELECT MAX(seq) FROM transfers)`},
		{"every spend", `DELETE FROM transfers`},
	} {
		t.Run(c.name, func(t *testing.T) {
			execSQL(t, db, c.q)
			msg := e.fail("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.1"}, "internal")
			if !strings.Contains(msg, "recording the transfer failed") {
				t.Fatalf("a send after the deletion: %q", msg)
			}
			st, err := store.Open(context.Background(), filepath.Join(dir, "state.db"), &store.Options{Key: make([]byte, store.KeyLen)})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, _, err := st.LoadLedger(context.Background(), time.Now().AddDate(0, 0, -1)); !errors.Is(err, store.ErrTampered) {
				t.Fatalf("a restart loading the ledger: %v, want ErrTampered", err)
			}
		})
	}
}

// TestSquattedApprovalKey: an agent that guesses the executor's internal
// idempotency key ("approval-<ID>", what it used before) and sends a small
// transfer with it changes nothing: the approval is executed with its own
// transaction, in a namespace agent keys cannot reach. Before, the executor
// found the agent's transfer under the key and marked the approval executed
// with the agent's hash.
func TestSquattedApprovalKey(t *testing.T) {
	pol := strings.Replace(tkPolicyText("0.1", "5", "1", "10", ""), "new_recipient_approval = true", "new_recipient_approval = false", 1)
	e := newEnv(t, envOpts{policy: pol})
	from := e.accounts[0].Hex()
	var parked tkSent
	e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.5"}, &parked)
	if parked.Status != "approval_required" {
		t.Fatalf("got %+v", parked)
	}
	var squat tkSent
	e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.01", "idempotency_key": "approval-" + parked.ApprovalID}, &squat)
	e.waitMined(squat.TxHash)
	hash := e.approve(parked.ApprovalID)
	if hash == squat.TxHash {
		t.Fatal("the approval was marked executed with the agent's transaction")
	}
	e.waitMined(hash)
	if got, want := e.balance(recipient), tkWei(t, "0.51"); got.Cmp(want) != 0 {
		t.Fatalf("recipient got %s, want %s", got, want)
	}
}

// TestFeeCeiling: the maximum fee shown to the human is a ceiling. When fees
// rise past it between park and approval, the approval waits (nothing is
// signed); when they come back, it is executed with a fee within the shown
// maximum. Before, the executor signed at whatever the fees were.
func TestFeeCeiling(t *testing.T) {
	fc := &faultyChain{}
	e := newEnv(t, envOpts{chainWrap: func(c chain.Chain) chain.Chain { fc.Chain = c; return fc }})
	var parked tkSent
	e.ok("send_transfer", map[string]any{"from": e.accounts[0].Hex(), "to": recipient.Hex(), "amount": "0.5"}, &parked)
	if parked.Status != "approval_required" {
		t.Fatalf("got %+v", parked)
	}
	a, err := e.store.Approval(context.Background(), parked.ApprovalID)
	if err != nil || a.MaxFee == nil || a.MaxFee.Sign() <= 0 {
		t.Fatalf("approval %+v, %v: no fee ceiling stored", a, err)
	}
	fc.feeSpike.Store(true)
	if err := e.approvals.Approve(context.Background(), parked.ApprovalID, e.code(), "web"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.guard.Pass(context.Background())
	}
	if _, err := e.store.TransferByApproval(context.Background(), parked.ApprovalID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("signed while fees were above the ceiling: %v", err)
	}
	var v mcpserver.ApprovalView
	e.ok("get_approval", map[string]any{"approval_id": parked.ApprovalID}, &v)
	if v.Status != "approved" {
		t.Fatalf("approval is %s (%s), want approved and waiting", v.Status, v.Error)
	}
	fc.feeSpike.Store(false)
	e.guard.Kick()
	hash := e.waitApproval(parked.ApprovalID, "executed")
	tr, err := e.store.TransferByApproval(context.Background(), parked.ApprovalID)
	if err != nil {
		t.Fatal(err)
	}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(tr.RawTx); err != nil || tx.Hash().Hex() != hash {
		t.Fatalf("stored transaction: %v", err)
	}
	if fee := new(big.Int).Mul(tx.GasFeeCap(), new(big.Int).SetUint64(tx.Gas())); fee.Cmp(a.MaxFee) > 0 {
		t.Fatalf("signed max fee %s above the %s shown", fee, a.MaxFee)
	}
}
