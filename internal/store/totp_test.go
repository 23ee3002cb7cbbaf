package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

var tnow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// enrolled is a complete TOTP state as approval/totp would write it.
func enrolled() *TOTPState {
	return &TOTPState{Sealed: []byte("sealed"), EnrolledAt: tnow, LastStep: -1, MAC: []byte("mac")}
}

func enrol(t *testing.T, s *Store, st *TOTPState) {
	t.Helper()
	err := s.UpdateTOTP(context.Background(), "", func(u *TOTPUpdate) error {
		u.State = st
		return nil
	})
	if err != nil {
		t.Fatalf("enrol: %v", err)
	}
}

func TestTOTPNotEnrolled(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	if _, err := s.TOTP(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("TOTP: %v, want ErrNotFound", err)
	}
	saw := false
	err := s.UpdateTOTP(ctx, "page:x", func(u *TOTPUpdate) error {
		saw = u.State == nil && u.Counter != nil && u.Counter.Scope == "page:x" && u.Counter.Failures == 0 && u.Counter.MAC == nil
		return nil
	})
	if err != nil || !saw {
		t.Fatalf("UpdateTOTP before enrolment: %v (saw nil state and a zero counter: %v)", err, saw)
	}
	if _, err := s.TOTP(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("an update that set nothing enrolled: %v", err)
	}
}

func TestUpdateTOTPRefusesBadState(t *testing.T) {
	tests := []struct {
		name string
		mut  func(st *TOTPState)
	}{
		{"no sealed secret", func(st *TOTPState) { st.Sealed = nil }},
		{"sealed too large", func(st *TOTPState) { st.Sealed = make([]byte, MaxSealedTOTPLen+1) }},
		{"no MAC", func(st *TOTPState) { st.MAC = nil }},
		{"MAC too large", func(st *TOTPState) { st.MAC = make([]byte, MaxTOTPMACLen+1) }},
		{"step below -1", func(st *TOTPState) { st.LastStep = -2 }},
		{"negative failures", func(st *TOTPState) { st.Failures = -1 }},
		{"negative lockouts", func(st *TOTPState) { st.Lockouts = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, nil)
			st := enrolled()
			tt.mut(st)
			err := s.UpdateTOTP(context.Background(), "", func(u *TOTPUpdate) error { u.State = st; return nil })
			if err == nil {
				t.Fatal("accepted")
			}
			if _, err := s.TOTP(context.Background()); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a refused state was written: %v", err)
			}
		})
	}
}

func TestUpdateTOTPRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	want := &TOTPState{
		Sealed: []byte("sealed"), EnrolledAt: tnow, LastStep: 42, Failures: 3,
		WindowStart: tnow.Add(time.Minute), LockedUntil: tnow.Add(time.Hour), Lockouts: 2, MAC: []byte("mac-1"),
	}
	enrol(t, s, want)
	got, err := s.TOTP(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v %v, want %+v", got, err, want)
	}
	// A zero window and lock read back as zero times.
	want.WindowStart, want.LockedUntil = time.Time{}, time.Time{}
	enrol(t, s, want)
	if got, _ := s.TOTP(ctx); !got.WindowStart.IsZero() || !got.LockedUntil.IsZero() {
		t.Fatalf("zero times read back as %v, %v", got.WindowStart, got.LockedUntil)
	}
	// The enrolment cannot be removed.
	if err := s.UpdateTOTP(ctx, "", func(u *TOTPUpdate) error { u.State = nil; return nil }); err == nil {
		t.Fatal("UpdateTOTP removed the enrolment")
	}
	if _, err := s.TOTP(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateTOTPErrorWritesNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	enrol(t, s, enrolled())
	boom := errors.New("boom")
	err := s.UpdateTOTP(ctx, "page:a", func(u *TOTPUpdate) error {
		u.State.LastStep = 99
		u.Counter.Failures, u.Counter.MAC = 4, []byte("m")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateTOTP: %v, want fn's error", err)
	}
	st, _ := s.TOTP(ctx)
	c, _ := s.TOTPCounter(ctx, "page:a")
	if st.LastStep != -1 || c.Failures != 0 {
		t.Fatalf("a failed update wrote: step %d, failures %d", st.LastStep, c.Failures)
	}
}

func TestTOTPCounters(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: tnow}
	s, _ := openTest(t, &Options{Now: clk.Now})
	enrol(t, s, enrolled())
	set := func(scope string, failures int, locked time.Time, mac []byte) error {
		return s.UpdateTOTP(ctx, scope, func(u *TOTPUpdate) error {
			u.Counter.Failures, u.Counter.LockedUntil, u.Counter.MAC = failures, locked, mac
			return nil
		})
	}
	if err := set("page:a", 2, time.Time{}, []byte("ma")); err != nil {
		t.Fatal(err)
	}
	if err := set("page:b", 0, tnow.Add(time.Hour), []byte("mb")); err != nil {
		t.Fatal(err)
	}
	a, err := s.TOTPCounter(ctx, "page:a")
	if err != nil || a.Failures != 2 || !a.LockedUntil.IsZero() || string(a.MAC) != "ma" || a.Scope != "page:a" {
		t.Fatalf("counter a: %+v %v", a, err)
	}
	if b, _ := s.TOTPCounter(ctx, "page:b"); !b.LockedUntil.Equal(tnow.Add(time.Hour)) {
		t.Fatalf("counter b: %+v", b)
	}
	// Scopes are independent.
	if c, _ := s.TOTPCounter(ctx, "page:c"); c.Failures != 0 || c.MAC != nil {
		t.Fatalf("unknown scope: %+v", c)
	}
	// A counter needs a MAC, and a scope is bounded.
	if err := set("page:a", 3, time.Time{}, nil); err == nil {
		t.Fatal("counter without a MAC accepted")
	}
	if err := set(strings.Repeat("x", MaxTOTPScopeLen+1), 1, time.Time{}, []byte("m")); err == nil {
		t.Fatal("oversized scope accepted")
	}
	// A zero counter is deleted.
	if err := set("page:a", 0, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM totp_counters`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d counter rows (%v), want 1 after zeroing a", n, err)
	}
	// Pruning keeps counters that are recent or still locked.
	if err := set("page:old", 1, time.Time{}, []byte("mo")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	if err := set("page:new", 1, time.Time{}, []byte("mn")); err != nil {
		t.Fatal(err)
	}
	pruned, err := s.PruneTOTPCounters(ctx, tnow.Add(90*time.Minute))
	if err != nil || pruned != 2 {
		t.Fatalf("pruned %d (%v), want 2 (page:old and page:b, whose lock has ended)", pruned, err)
	}
	if c, _ := s.TOTPCounter(ctx, "page:new"); c.Failures != 1 {
		t.Fatal("pruning removed a recent counter")
	}
	if err := s.DeleteTOTPCounters(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM totp_counters`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d counter rows (%v) after DeleteTOTPCounters", n, err)
	}
}

// TestUpdateTOTPAcrossHandles counts failures from two handles of one file
// at once, as two processes would: none is lost.
func TestUpdateTOTPAcrossHandles(t *testing.T) {
	ctx := context.Background()
	s1, path := openTest(t, nil)
	s2, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	enrol(t, s1, enrolled())
	const each = 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for i := 0; i < 2*each; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- []*Store{s1, s2}[i%2].UpdateTOTP(ctx, "page:a", func(u *TOTPUpdate) error {
				u.State.Failures++
				u.Counter.Failures++
				u.Counter.MAC = []byte("m")
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st, _ := s2.TOTP(ctx)
	c, _ := s1.TOTPCounter(ctx, "page:a")
	if st.Failures != 2*each || c.Failures != 2*each {
		t.Fatalf("failures %d and %d, want %d: an update was lost", st.Failures, c.Failures, 2*each)
	}
}

// TestMigrationKeepsTOTP upgrades a version 2 database with an enrolment:
// the secret and the last step survive, and the state has no MAC yet.
func TestMigrationKeepsTOTP(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/state.db"
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	old := &Store{db: db, now: time.Now, rand: rand.Reader, wlock: make(chan struct{}, 1)}
	if err := old.migrate(ctx, migrations[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO totp (id, sealed, enrolled_at, last_step, failures, locked_until) VALUES (1, ?, ?, 77, 2, 0)`,
		[]byte("sealed-v2"), tnow.UnixNano()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.TOTP(ctx)
	if err != nil || st.LastStep != 77 || !bytes.Equal(st.Sealed, []byte("sealed-v2")) || st.MAC != nil || st.Lockouts != 0 {
		t.Fatalf("after migration: %+v %v", st, err)
	}
}

func TestCreateApprovalMaxPending(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: tnow}
	s1, path := openTest(t, &Options{Now: clk.Now})
	s2, err := Open(ctx, path, withKey(&Options{Now: clk.Now}))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	const max = 20
	// 300 attempts for alice from two handles at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, refused := 0, 0
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := testApproval(clk)
			a.LinkTokenHash = argsHash(fmt.Sprint("link", i))
			_, ok, err := []*Store{s1, s2}[i%2].CreateApproval(ctx, a, max)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && ok:
				created++
			case errors.Is(err, ErrTooManyPending):
				refused++
			default:
				t.Errorf("attempt %d: %v %v", i, ok, err)
			}
		}()
	}
	wg.Wait()
	if created != max || refused != 300-max {
		t.Fatalf("%d created and %d refused, want %d and %d", created, refused, max, 300-max)
	}
	list, err := s1.ListApprovals(ctx, approvalstate.Pending)
	if err != nil || len(list) != max {
		t.Fatalf("%d pending (%v), want %d", len(list), err, max)
	}
	// Another account still parks.
	b := testApproval(clk)
	b.From = bob
	if _, ok, err := s1.CreateApproval(ctx, b, max); err != nil || !ok {
		t.Fatalf("bob's approval: %v %v", ok, err)
	}
	// An idempotent repeat is answered even when the account is full.
	k := testApproval(clk)
	k.IdempotencyKey, k.ArgsHash = "key-1", argsHash("args")
	clk.Advance(time.Second)
	if err := s1.DecideApproval(ctx, list[0].ID, approvalstate.Rejected, ChannelCLI, -1, clk.Now()); err != nil {
		t.Fatal(err)
	}
	first, ok, err := s1.CreateApproval(ctx, k, max)
	if err != nil || !ok {
		t.Fatalf("after a rejection frees a place: %v %v", ok, err)
	}
	again, ok, err := s1.CreateApproval(ctx, k, max)
	if err != nil || ok || again.ID != first.ID {
		t.Fatalf("idempotent repeat when full: %v %v", ok, err)
	}
	// Expired approvals do not count, even before ExpireApprovals marks them.
	if _, _, err := s1.CreateApproval(ctx, testApproval(clk), max); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("21st pending approval: %v", err)
	}
	clk.Advance(10 * time.Minute)
	if _, ok, err := s1.CreateApproval(ctx, testApproval(clk), max); err != nil || !ok {
		t.Fatalf("after the others expired: %v %v", ok, err)
	}
	// Without a limit, nothing is counted.
	for i := 0; i < max+1; i++ {
		if _, _, err := s1.CreateApproval(ctx, testApproval(clk), 0); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPendingFromUsesIndex(t *testing.T) {
	s, _ := openTest(t, nil)
	var plan []string
	rows, err := s.db.Query("EXPLAIN QUERY PLAN "+qPendingFrom, "0x00", int64(0))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if joined := strings.Join(plan, "; "); !strings.Contains(joined, "INDEX approvals_pending_from") {
		t.Fatalf("plan %q does not use approvals_pending_from", joined)
	}
}
