package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

func TestAlertQueue(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, path := openTest(t, &Options{Now: clk.Now})
	for i, body := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
		dropped, err := s.EnqueueAlert(ctx, AlertWebhook, []byte(body), 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := max(0, i-1); dropped != want {
			t.Fatalf("enqueue %d dropped %d, want %d", i, dropped, want)
		}
	}
	due, _, err := s.ClaimAlerts(ctx, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || string(due[0].Body) != `{"n":2}` || string(due[1].Body) != `{"n":3}` {
		t.Fatalf("claimed %+v, want the two newest", due)
	}
	// Leased: a second claimer (another process) gets nothing.
	if again, _, _ := s.ClaimAlerts(ctx, time.Minute, 10); len(again) != 0 {
		t.Fatalf("a leased alert was claimed twice: %+v", again)
	}
	if err := s.AlertFailed(ctx, due[0].Seq, clk.Now().Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.AlertDelivered(ctx, due[1].Seq); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.AlertQueue(ctx); n != 1 {
		t.Fatalf("queue length %d, want 1", n)
	}
	// It survives a restart and is due after its backoff.
	s.Close()
	s2, err := Open(ctx, path, withKey(&Options{Now: clk.Now}))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if d, _, _ := s2.ClaimAlerts(ctx, time.Minute, 10); len(d) != 0 {
		t.Fatalf("claimed before its next attempt: %+v", d)
	}
	clk.Advance(2 * time.Second)
	d, _, err := s2.ClaimAlerts(ctx, time.Minute, 10)
	if err != nil || len(d) != 1 || d[0].Attempts != 1 || string(d[0].Body) != `{"n":2}` {
		t.Fatalf("after restart: %+v, %v", d, err)
	}
	// A body changed without the key is dropped, never delivered.
	if _, err := s2.EnqueueAlert(ctx, AlertCommand, []byte(`{"n":4}`), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.db.Exec(`UPDATE alerts SET body = CAST('{"n":5}' AS BLOB) WHERE target = 'command'`); err != nil {
		t.Fatal(err)
	}
	d, tampered, err := s2.ClaimAlerts(ctx, time.Minute, 10)
	if err != nil || len(d) != 0 || tampered != 1 {
		t.Fatalf("tampered alert: due %+v, tampered %d, %v", d, tampered, err)
	}
}

func TestFreezeSharedAndAuthenticated(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, nil)
	other, err := Open(ctx, path, withKey(nil)) // a second process on the home
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	acct := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	if f, err := other.Frozen(ctx, acct); err != nil || f.Frozen {
		t.Fatalf("new account: %+v, %v", f, err)
	}
	if changed, err := s.SetFrozen(ctx, acct, true, "denials_per_minute"); err != nil || !changed {
		t.Fatalf("freeze: %v %v", changed, err)
	}
	if changed, _ := s.SetFrozen(ctx, acct, true, "denials_per_minute"); changed {
		t.Fatal("a second freeze changed something")
	}
	f, err := other.Frozen(ctx, acct)
	if err != nil || !f.Frozen || f.Rule != "denials_per_minute" {
		t.Fatalf("the other process sees %+v, %v", f, err)
	}
	err = other.Ledger(ctx, func(lt *LedgerTx) error {
		f, err := lt.Frozen(acct)
		if err == nil && !f.Frozen {
			t.Error("not frozen inside the ledger transaction")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.SetFrozen(ctx, acct, false, ""); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Frozen(ctx, acct); f.Frozen {
		t.Fatal("still frozen after unfreeze")
	}
	// Freeze again, then try to lift it behind the store's back.
	s.SetFrozen(ctx, acct, true, "denials_per_minute")
	for name, q := range map[string]string{
		"row flipped":  `UPDATE freezes SET frozen = 0`,
		"row deleted":  `DELETE FROM freezes`,
		"head deleted": `DELETE FROM ops_head`,
	} {
		t.Run(name, func(t *testing.T) {
			tx, _ := s.db.Begin()
			if _, err := tx.Exec(q); err != nil {
				t.Fatal(err)
			}
			_, err := s.frozen(ctx, tx, acct)
			tx.Rollback()
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("%s: err = %v, want ErrTampered", name, err)
			}
		})
	}
}

// TestFreezeCannotGoBack: someone who can write state.db but lacks the key
// tries to lift a freeze with rows the store wrote itself, from before the
// freeze: one row put back to its older copy (while another account holds
// the highest version), every row and the head deleted, or every row and
// the head put back together. Each is a TamperError to a running store.
func TestFreezeCannotGoBack(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, nil)
	a := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	b := common.HexToAddress("0x00000000000000000000000000000000000000bb")
	shell := openShell(t, path)
	type row struct {
		frozen, version, changed int64
		rule                     string
		mac                      []byte
	}
	read := func(acct common.Address) row {
		t.Helper()
		var r row
		if err := shell.QueryRow(`SELECT frozen, rule, version, changed_at, mac FROM freezes WHERE account = ?`, encodeAddr(acct)).
			Scan(&r.frozen, &r.rule, &r.version, &r.changed, &r.mac); err != nil {
			t.Fatal(err)
		}
		return r
	}
	var headRows, headSum int64
	var headMAC []byte
	set := func(acct common.Address, frozen bool) {
		t.Helper()
		if _, err := s.SetFrozen(ctx, acct, frozen, "denials_per_minute"); err != nil {
			t.Fatal(err)
		}
	}
	set(a, true)
	set(a, false)
	thawed := read(a) // a's unfrozen row, saved
	if err := shell.QueryRow(`SELECT rows, version, mac FROM ops_head`).Scan(&headRows, &headSum, &headMAC); err != nil {
		t.Fatal(err)
	}
	set(a, true)
	set(b, true)
	set(b, false)
	set(b, true) // b holds the highest version
	wantTamper := func(what string) {
		t.Helper()
		if f, err := s.Frozen(ctx, a); !errors.Is(err, ErrTampered) {
			t.Fatalf("%s: Frozen = %+v, %v; want ErrTampered", what, f, err)
		}
		err := s.Ledger(ctx, func(lt *LedgerTx) error { _, err := lt.Frozen(a); return err })
		if !errors.Is(err, ErrTampered) {
			t.Fatalf("%s: LedgerTx.Frozen: %v, want ErrTampered", what, err)
		}
	}
	if f, err := s.Frozen(ctx, a); err != nil || !f.Frozen {
		t.Fatalf("a: %+v, %v", f, err)
	}

	// One row back to its older copy.
	now := read(a)
	if _, err := shell.Exec(`UPDATE freezes SET frozen = ?, rule = ?, version = ?, changed_at = ?, mac = ? WHERE account = ?`,
		thawed.frozen, thawed.rule, thawed.version, thawed.changed, thawed.mac, encodeAddr(a)); err != nil {
		t.Fatal(err)
	}
	wantTamper("a's row put back")
	if _, err := shell.Exec(`UPDATE freezes SET frozen = ?, rule = ?, version = ?, changed_at = ?, mac = ? WHERE account = ?`,
		now.frozen, now.rule, now.version, now.changed, now.mac, encodeAddr(a)); err != nil {
		t.Fatal(err)
	}
	if f, err := s.Frozen(ctx, a); err != nil || !f.Frozen {
		t.Fatalf("a restored: %+v, %v", f, err)
	}

	// Every row and the head put back together (the head as it was when a
	// was thawed, b's rows removed): consistent, but older than seen.
	if _, err := shell.Exec(`DELETE FROM freezes WHERE account = ?`, encodeAddr(b)); err != nil {
		t.Fatal(err)
	}
	if _, err := shell.Exec(`UPDATE freezes SET frozen = ?, rule = ?, version = ?, changed_at = ?, mac = ? WHERE account = ?`,
		thawed.frozen, thawed.rule, thawed.version, thawed.changed, thawed.mac, encodeAddr(a)); err != nil {
		t.Fatal(err)
	}
	if _, err := shell.Exec(`UPDATE ops_head SET rows = ?, version = ?, mac = ?`, headRows, headSum, headMAC); err != nil {
		t.Fatal(err)
	}
	wantTamper("the freezes and their head put back together")

	// Every row and the head deleted.
	if _, err := shell.Exec(`DELETE FROM freezes; DELETE FROM ops_head`); err != nil {
		t.Fatal(err)
	}
	wantTamper("freezes and head deleted")
}

// TestOpsHeadUpgrade: a head of v1 (the highest version), from before v2,
// is upgraded by a keyed open, and the freezes read as before.
func TestOpsHeadUpgrade(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, nil)
	a := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	b := common.HexToAddress("0x00000000000000000000000000000000000000bb")
	for _, acct := range []common.Address{a, b, a} {
		f, _ := s.Frozen(ctx, acct)
		if _, err := s.SetFrozen(ctx, acct, !f.Frozen, "r"); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	shell := openShell(t, path)
	var rows, maxV int64
	if err := shell.QueryRow(`SELECT COUNT(*), MAX(version) FROM freezes`).Scan(&rows, &maxV); err != nil {
		t.Fatal(err)
	}
	key := withKey(nil).Key
	if _, err := shell.Exec(`UPDATE ops_head SET version = ?, mac = ?`, maxV, opsHeadMACv1(key, rows, maxV)); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, path, withKey(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if f, err := s2.Frozen(ctx, a); err != nil || f.Frozen {
		t.Fatalf("a after the upgrade: %+v, %v (want thawed)", f, err)
	}
	if f, err := s2.Frozen(ctx, b); err != nil || !f.Frozen {
		t.Fatalf("b after the upgrade: %+v, %v (want frozen)", f, err)
	}
}

func TestMarks(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	if _, _, err := s.Mark(ctx, "self_check"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unset mark: %v", err)
	}
	if err := s.SetMark(ctx, "self_check", "ok 2/2"); err != nil {
		t.Fatal(err)
	}
	if _, v, err := s.Mark(ctx, "self_check"); err != nil || v != "ok 2/2" {
		t.Fatalf("mark = %q, %v", v, err)
	}
	s.db.Exec(`UPDATE ops_marks SET value = 'ok 3/3'`)
	if _, _, err := s.Mark(ctx, "self_check"); !errors.Is(err, ErrTampered) {
		t.Fatalf("changed mark: %v", err)
	}
}
