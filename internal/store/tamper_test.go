package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

var dave = common.HexToAddress("0x000000000000000000000000000000000000da7e")

// fixture is a keyed store holding three transfers from alice to bob created
// a minute apart (10, 20 and 30 wei; the second signed with nonce 0, the
// third failed) and three approvals (pending, approved with TOTP step 5,
// rejected), and shell: a second connection to its file, as the agent has
// with a shell as the same user. It can change state.db but does not know
// the state key.
type fixture struct {
	s                           *Store
	path                        string
	clk                         *clock
	t0                          time.Time
	ids                         []string // the transfers, by seq
	pending, approved, rejected string   // the approvals' IDs
	shell                       *sql.DB
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{clk: newClock()}
	f.s, f.path = openTest(t, &Options{Now: f.clk.Now})
	f.t0 = f.clk.Now()
	for i := range 3 {
		tr := testTransfer()
		tr.Amount = big.NewInt(int64(10 * (i + 1)))
		f.ids = append(f.ids, create(t, f.s, tr).ID)
		f.clk.Advance(time.Minute)
	}
	if err := f.s.MarkSigned(ctx, f.ids[1], 0, common.HexToHash("0x51"), []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.MarkFailed(ctx, f.ids[2], "x"); err != nil {
		t.Fatal(err)
	}
	f.pending = createApproval(t, f.s, testApproval(f.clk)).ID
	f.approved = createApproval(t, f.s, testApproval(f.clk)).ID
	f.rejected = createApproval(t, f.s, testApproval(f.clk)).ID
	if err := f.s.DecideApproval(ctx, f.approved, approvalstate.Approved, ChannelWeb, 5, f.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DecideApproval(ctx, f.rejected, approvalstate.Rejected, ChannelCLI, -1, f.clk.Now()); err != nil {
		t.Fatal(err)
	}
	f.shell = openShell(t, f.path)
	return f
}

// openShell opens a plain connection to the database at path, outside the
// store, and closes it when the test ends.
func openShell(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// exec runs statements in the shell.
func (f *fixture) exec(t *testing.T, stmts string) {
	t.Helper()
	if _, err := f.shell.Exec(stmts); err != nil {
		t.Fatalf("shell: %v", err)
	}
}

// wantTamper fails the test unless err is a *TamperError naming table.
func wantTamper(t *testing.T, what string, err error, table string) {
	t.Helper()
	var te *TamperError
	switch {
	case err == nil:
		t.Errorf("%s: no error, want a TamperError", what)
	case !errors.Is(err, ErrTampered) || !errors.As(err, &te):
		t.Errorf("%s: %v, want a TamperError", what, err)
	case table != "" && te.Table != table:
		t.Errorf("%s: %v, want a TamperError on %s", what, err, table)
	case !strings.HasPrefix(err.Error(), "store: "):
		t.Errorf("%s: error %q lacks the package prefix", what, err)
	}
}

// TestTransferTamper: a transfer changed, removed or added without the state
// key is a TamperError where the store reads it: Ledger checks the head
// against the end of the table, LoadLedger and Changes the MAC of every row
// they return and that the sequence is contiguous, a read by ID the row.
func TestTransferTamper(t *testing.T) {
	ctx := context.Background()
	const forge = `INSERT INTO transfers (id, seq, version, chain_id, from_addr, to_addr, asset, amount, kind, status,
		created_at, updated_at, mac) SELECT 'forged', h.seq + 1, h.version + 1, 1337, t.from_addr, t.to_addr, 'ETH', '1', 'auto',
		'pending', t.created_at, t.updated_at, zeroblob(32) FROM ledger_head h, transfers t WHERE t.seq = h.seq`
	tests := []struct {
		name   string
		sql    string
		read   string // the transfer whose read by ID must fail: "1".."3" for its seq, or an ID
		ledger bool   // Ledger must fail (the head does not match the table)
		load   bool   // LoadLedger (from the start and from the second) and Changes(0, 0) must fail
	}{
		{name: "nothing changed"},
		{name: "amount lowered", sql: `UPDATE transfers SET amount = '1' WHERE seq = 1`, read: "1", load: true},
		{name: "amount raised", sql: `UPDATE transfers SET amount = '99' WHERE seq = 1`, read: "1", load: true},
		{name: "marked failed", sql: `UPDATE transfers SET status = 'failed' WHERE seq = 1`, read: "1", load: true},
		{name: "failed one revived", sql: `UPDATE transfers SET status = 'pending' WHERE seq = 3`, read: "3", load: true},
		{name: "recipient changed", sql: `UPDATE transfers SET to_addr = '0x00000000000000000000000000000000000ca201' WHERE seq = 1`, read: "1", load: true},
		{name: "asset changed", sql: `UPDATE transfers SET asset = '` + usdc + `' WHERE seq = 1`, read: "1", load: true},
		{name: "signed transaction swapped", sql: `UPDATE transfers SET raw_tx = x'02' WHERE seq = 2`, read: "2", load: true},
		{name: "nonce released", sql: `UPDATE transfers SET nonce = NULL WHERE seq = 2`, read: "2", load: true},
		{name: "idempotency key moved", sql: `UPDATE transfers SET approval_id = 'a1' WHERE seq = 1`, read: "1", load: true},
		{name: "MAC copied from another row", sql: `UPDATE transfers SET mac = (SELECT mac FROM transfers WHERE seq = 1) WHERE seq = 2`, read: "2", load: true},
		{name: "changed with a later version", sql: `UPDATE transfers SET status = 'failed', version = version + 10 WHERE seq = 1`, read: "1", ledger: true, load: true},
		{name: "last deleted", sql: `DELETE FROM transfers WHERE seq = 3`, ledger: true, load: true},
		{name: "middle deleted", sql: `DELETE FROM transfers WHERE seq = 2`, load: true},
		{name: "first deleted", sql: `DELETE FROM transfers WHERE seq = 1`, load: true},
		{name: "all deleted", sql: `DELETE FROM transfers`, ledger: true, load: true},
		{name: "forged row appended", sql: forge, read: "forged", ledger: true, load: true},
		{name: "forged row appended, head moved", sql: forge + `; UPDATE ledger_head SET seq = seq + 1, version = version + 1`, read: "forged", ledger: true, load: true},
		{
			name: "row replayed under a new ID",
			sql: `INSERT INTO transfers (id, seq, version, chain_id, from_addr, to_addr, asset, amount, kind, status, created_at, updated_at, mac)
				SELECT 'replayed', 4, (SELECT version + 1 FROM ledger_head), chain_id, from_addr, to_addr, asset, amount, kind, status, created_at, updated_at, mac
				FROM transfers WHERE seq = 1`,
			read: "replayed", ledger: true, load: true,
		},
		{name: "head moved back", sql: `UPDATE ledger_head SET seq = seq - 1`, ledger: true, load: true},
		{name: "head and last row removed", sql: `DELETE FROM transfers WHERE seq = 3; UPDATE ledger_head SET seq = 2`, ledger: true, load: true},
		{name: "head's version raised", sql: `UPDATE ledger_head SET version = version + 1`, ledger: true, load: true},
		{name: "head's MAC zeroed", sql: `UPDATE ledger_head SET mac = zeroblob(32)`, ledger: true, load: true},
		{name: "head deleted", sql: `DELETE FROM ledger_head`, ledger: true, load: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.sql != "" {
				f.exec(t, tt.sql)
			}
			ok := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Errorf("%s: %v", what, err)
				}
			}
			check := func(what string, err error, tamper bool) {
				t.Helper()
				if tamper {
					wantTamper(t, what, err, "")
				} else {
					ok(what, err)
				}
			}
			ran := false
			err := f.s.Ledger(ctx, func(*LedgerTx) error { ran = true; return nil })
			check("Ledger", err, tt.ledger)
			if tt.ledger && ran {
				t.Error("Ledger ran its function on a tampered ledger")
			}
			_, _, err = f.s.LoadLedger(ctx, time.Time{})
			check("LoadLedger from the start", err, tt.load)
			_, _, err = f.s.LoadLedger(ctx, f.t0.Add(time.Minute))
			check("LoadLedger from the second", err, tt.load)
			_, _, err = f.s.Changes(ctx, 0, 0)
			check("Changes(0, 0)", err, tt.load)
			for i, id := range append(f.ids, "forged", "replayed") {
				tampered := tt.read == id || tt.read == string(rune('1'+i))
				_, err := f.s.Transfer(ctx, id)
				switch {
				case tampered:
					wantTamper(t, "Transfer "+id, err, "transfers")
				case i >= len(f.ids):
				case errors.Is(err, ErrNotFound) && strings.HasPrefix(tt.sql, "DELETE FROM transfers"):
				default:
					ok("Transfer "+id, err)
				}
			}
			if !tt.load {
				return
			}
			// A tampered ledger takes no new transfer.
			if _, _, err := f.s.CreateTransfer(ctx, testTransfer()); err == nil && tt.ledger {
				t.Error("CreateTransfer succeeded on a tampered ledger")
			}
		})
	}
}

// TestRollbackSeenByRunningReader: a genuine older head put back together
// with the rows written since passes the head's MAC, but a process that has
// read a later head sees the ledger go back.
func TestRollbackSeenByRunningReader(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, nil)
	create(t, s, testTransfer())
	shell := openShell(t, path)
	var seq, version int64
	var mac []byte
	if err := shell.QueryRow(`SELECT seq, version, mac FROM ledger_head`).Scan(&seq, &version, &mac); err != nil {
		t.Fatal(err)
	}
	create(t, s, testTransfer())
	_, head, err := s.Changes(ctx, 0, 0)
	if err != nil || head.Seq != 2 {
		t.Fatalf("Changes: head %+v, %v", head, err)
	}
	if _, err := shell.Exec(`DELETE FROM transfers WHERE seq = 2; UPDATE ledger_head SET seq = ?, version = ?, mac = ?`, seq, version, mac); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Changes(ctx, head.Seq, head.Version)
	wantTamper(t, "Changes from the later head", err, "ledger_head")
	err = s.Ledger(ctx, func(lt *LedgerTx) error {
		_, _, err := lt.Changes(head.Seq, head.Version)
		return err
	})
	wantTamper(t, "LedgerTx.Changes from the later head", err, "ledger_head")
}

// TestHasPaidTamper: a row that would make a recipient look already paid is
// verified: a forged or revived one is a TamperError, not a yes.
func TestHasPaidTamper(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		sql  string
		to   common.Address
	}{
		{
			name: "forged row to a new recipient",
			sql: `INSERT INTO transfers (id, seq, version, chain_id, from_addr, to_addr, asset, amount, kind, status, created_at, updated_at, mac)
				VALUES ('forged', 4, 99, 1337, '` + encodeAddr(alice) + `', '` + encodeAddr(dave) + `', 'ETH', '1', 'auto', 'confirmed', 0, 0, zeroblob(32))`,
			to: dave,
		},
		{
			name: "failed row revived",
			sql:  `UPDATE transfers SET status = 'confirmed', to_addr = '` + encodeAddr(dave) + `' WHERE seq = 3`,
			to:   dave,
		},
		{
			name: "row redirected",
			sql:  `UPDATE transfers SET to_addr = '` + encodeAddr(dave) + `' WHERE seq = 1`,
			to:   dave,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if paid, err := f.s.HasPaid(ctx, alice, tt.to); err != nil || paid {
				t.Fatalf("before: HasPaid %v %v", paid, err)
			}
			f.exec(t, tt.sql)
			paid, err := f.s.HasPaid(ctx, alice, tt.to)
			wantTamper(t, "HasPaid", err, "transfers")
			if paid {
				t.Error("HasPaid said yes")
			}
			// The shell has not touched the ledger head for the edits in place,
			// so a Ledger transaction starts and its HasPaid refuses too.
			if tt.name == "forged row to a new recipient" {
				return
			}
			err = f.s.Ledger(ctx, func(lt *LedgerTx) error {
				paid, err := lt.HasPaid(alice, tt.to)
				if paid {
					t.Error("LedgerTx.HasPaid said yes")
				}
				return err
			})
			wantTamper(t, "LedgerTx.HasPaid", err, "transfers")
		})
	}
}

// TestApprovalTamper: an approval whose request or state was changed without
// the state key is a TamperError when read by ID, can be neither decided nor
// executed, and ApprovedToExecute returns it marked unverified.
func TestApprovalTamper(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		sql      string // %s is the approval's ID
		which    string // "pending", "approved" or "rejected"
		reason   string // in TamperReason
		toExec   bool   // ApprovedToExecute lists it (status approved)
		decide   bool   // DecideApproval would otherwise apply (pending)
		execute  bool   // MarkApprovalExecuted would otherwise apply (approved)
		expiring bool   // ExpireApprovals would otherwise expire it
	}{
		{name: "pending set to approved", sql: `UPDATE approvals SET status = 'approved', channel = 'web', step = 9 WHERE id = ?`, which: "pending", reason: "status", toExec: true},
		{name: "rejected set to approved", sql: `UPDATE approvals SET status = 'approved' WHERE id = ?`, which: "rejected", reason: "status", toExec: true},
		{
			name: "state MAC copied from the approved one", which: "pending", reason: "status", toExec: true,
			sql: `UPDATE approvals SET (status, channel, step, decided_at, state_mac) =
				(SELECT status, channel, step, decided_at, state_mac FROM approvals a WHERE a.status = 'approved') WHERE id = ?`,
		},
		{name: "step changed", sql: `UPDATE approvals SET step = 6 WHERE id = ?`, which: "approved", reason: "status", toExec: true, execute: true},
		{name: "channel changed", sql: `UPDATE approvals SET channel = 'cli' WHERE id = ?`, which: "approved", reason: "status", toExec: true, execute: true},
		{name: "amount raised", sql: `UPDATE approvals SET amount = '2000000000000000000' WHERE id = ?`, which: "approved", reason: "request", toExec: true, execute: true},
		{name: "recipient changed", sql: `UPDATE approvals SET to_addr = '` + encodeAddr(dave) + `' WHERE id = ?`, which: "approved", reason: "request", toExec: true, execute: true},
		{name: "digest changed", sql: `UPDATE approvals SET digest = zeroblob(32) WHERE id = ?`, which: "approved", reason: "request", toExec: true, execute: true},
		{name: "fee ceiling raised", sql: `UPDATE approvals SET max_fee = '1' WHERE id = ?`, which: "approved", reason: "request", toExec: true, execute: true},
		{name: "summary changed", sql: `UPDATE approvals SET summary = '{}' WHERE id = ?`, which: "pending", reason: "request", decide: true},
		{name: "link token changed", sql: `UPDATE approvals SET link_token_hash = zeroblob(32) WHERE id = ?`, which: "pending", reason: "request", decide: true},
		{name: "expiry extended", sql: `UPDATE approvals SET expires_at = expires_at + 3600000000000 WHERE id = ?`, which: "pending", reason: "request", decide: true},
		{name: "expiry brought forward", sql: `UPDATE approvals SET expires_at = created_at + 1 WHERE id = ?`, which: "pending", reason: "request", decide: true, expiring: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			id := map[string]string{"pending": f.pending, "approved": f.approved, "rejected": f.rejected}[tt.which]
			if _, err := f.shell.Exec(tt.sql, id); err != nil {
				t.Fatal(err)
			}
			_, err := f.s.Approval(ctx, id)
			wantTamper(t, "Approval", err, "approvals")
			if err != nil && !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say the %s failed", err, tt.reason)
			}
			list, err := f.s.ApprovedToExecute(ctx)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, a := range list {
				switch {
				case a.ID == id:
					found = true
					if a.Verified || !strings.Contains(a.TamperReason, tt.reason) {
						t.Errorf("tampered approval listed as verified %v, reason %q", a.Verified, a.TamperReason)
					}
				case !a.Verified:
					t.Errorf("untouched approval %s unverified: %s", a.ID, a.TamperReason)
				}
			}
			if found != tt.toExec {
				t.Errorf("ApprovedToExecute lists it: %v, want %v", found, tt.toExec)
			}
			all, err := f.s.ListApprovals(ctx, "")
			if err != nil || len(all) != 3 {
				t.Fatalf("ListApprovals: %d %v", len(all), err)
			}
			for _, a := range all {
				if a.Verified == (a.ID == id) {
					t.Errorf("ListApprovals: %s verified %v", a.ID, a.Verified)
				}
			}
			if tt.decide {
				err := f.s.DecideApproval(ctx, id, approvalstate.Approved, ChannelCLI, 7, f.clk.Now())
				wantTamper(t, "DecideApproval", err, "approvals")
			}
			if tt.execute {
				wantTamper(t, "MarkApprovalExecuted", f.s.MarkApprovalExecuted(ctx, id, "tr", common.HexToHash("0x77")), "approvals")
				wantTamper(t, "MarkApprovalFailed", f.s.MarkApprovalFailed(ctx, id, "x"), "approvals")
			}
			n, err := f.s.ExpireApprovals(ctx, f.clk.Now().Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			wantN := 1 // the untouched pending one
			if tt.which == "pending" {
				wantN = 0
			}
			if n != wantN {
				t.Errorf("ExpireApprovals expired %d, want %d (a tampered row is left alone)", n, wantN)
			}
			// Nothing the store did afterwards made the tampered row verify.
			if _, err := f.s.Approval(ctx, id); !errors.Is(err, ErrTampered) {
				t.Errorf("after the store's writes: %v, want still tampered", err)
			}
		})
	}
}

// TestNoKey: without the state key nothing that is authenticated can be
// written (ErrNoKey, and the database is unchanged), and what is read is
// marked unverified.
func TestNoKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ro, err := Open(ctx, f.path, &Options{Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Keyed() || !f.s.Keyed() {
		t.Errorf("Keyed: keyless %v, keyed %v", ro.Keyed(), f.s.Keyed())
	}
	dump := func() string {
		var b strings.Builder
		for _, q := range []string{
			`SELECT id, seq, version, status, amount, hex(mac) FROM transfers ORDER BY seq`,
			`SELECT id, status, step, hex(mac), hex(state_mac) FROM approvals ORDER BY id`,
			`SELECT seq, version, hex(mac) FROM ledger_head`,
		} {
			rows, err := f.shell.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(&b, vals...)
			}
			rows.Close()
		}
		return b.String()
	}
	before := dump()
	hash := common.HexToHash("0x99")
	tests := []struct {
		name string
		call func() error
	}{
		{"CreateTransfer", func() error { _, _, err := ro.CreateTransfer(ctx, testTransfer()); return err }},
		{"Ledger", func() error { return ro.Ledger(ctx, func(*LedgerTx) error { return nil }) }},
		{"MarkSigned", func() error { return ro.MarkSigned(ctx, f.ids[0], 3, hash, []byte{1}) }},
		{"MarkSubmitted", func() error { return ro.MarkSubmitted(ctx, f.ids[1], f.clk.Now()) }},
		{"MarkConfirmed", func() error { return ro.MarkConfirmed(ctx, f.ids[1], 7) }},
		{"MarkFailed", func() error { return ro.MarkFailed(ctx, f.ids[0], "x") }},
		{"MarkDropped", func() error { return ro.MarkDropped(ctx, f.ids[1], "x") }},
		{"CreateApproval", func() error { _, _, err := ro.CreateApproval(ctx, testApproval(f.clk), 0); return err }},
		{"DecideApproval", func() error {
			return ro.DecideApproval(ctx, f.pending, approvalstate.Approved, ChannelCLI, 3, f.clk.Now())
		}},
		{"ExpireApprovals", func() error { _, err := ro.ExpireApprovals(ctx, f.clk.Now().Add(time.Hour)); return err }},
		{"MarkApprovalExecuted", func() error { return ro.MarkApprovalExecuted(ctx, f.approved, f.ids[1], hash) }},
		{"MarkApprovalFailed", func() error { return ro.MarkApprovalFailed(ctx, f.approved, "x") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrNoKey) {
				t.Errorf("err %v, want ErrNoKey", err)
			}
		})
	}
	if after := dump(); after != before {
		t.Errorf("keyless writes changed the database:\n%s\nwas\n%s", after, before)
	}

	tr, err := ro.Transfer(ctx, f.ids[0])
	if err != nil || tr.Verified {
		t.Errorf("keyless Transfer: %+v %v, want unverified", tr, err)
	}
	a, err := ro.Approval(ctx, f.approved)
	if err != nil || a.Verified {
		t.Errorf("keyless Approval: %+v %v, want unverified", a, err)
	}
	all, head, err := ro.LoadLedger(ctx, time.Time{})
	if err != nil || len(all) != 3 || head.Seq != 3 {
		t.Fatalf("keyless LoadLedger: %d %+v %v", len(all), head, err)
	}
	for _, tr := range all {
		if tr.Verified {
			t.Errorf("keyless LoadLedger: %s verified", tr.ID)
		}
	}
	// The keyed handle reads the same rows verified.
	for _, id := range f.ids {
		if got := get(t, f.s, id); !got.Verified {
			t.Errorf("keyed Transfer %s unverified", id)
		}
	}
}

// TestOpenKey: a key of the wrong length is refused; another key than the
// one that sealed the state does not verify it.
func TestOpenKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, n := range []int{0, 16, KeyLen - 1, KeyLen + 1} {
		if s, err := Open(ctx, f.path, &Options{Key: make([]byte, n)}); err == nil {
			s.Close()
			t.Errorf("a %d-byte key was accepted", n)
		}
	}
	other := bytes.Repeat([]byte{0xa5}, KeyLen)
	s, err := Open(ctx, f.path, &Options{Key: other})
	if err == nil {
		defer s.Close()
		err = s.Ledger(ctx, func(*LedgerTx) error { return nil })
	}
	wantTamper(t, "another key", err, "ledger_head")
	// Open copies the key: changing the caller's slice changes nothing.
	key := testKey()
	s2, err := Open(ctx, f.path, &Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	clear(key)
	if _, err := s2.Transfer(ctx, f.ids[0]); err != nil {
		t.Errorf("after the caller's key was wiped: %v", err)
	}
}
