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
