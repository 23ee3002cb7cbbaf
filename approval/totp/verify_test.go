package totp

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
)

// cli is the human's terminal; web(id) the approval page for approval id.
var cli = Scope{Channel: store.ChannelCLI}

func web(id string) Scope { return Scope{Channel: store.ChannelWeb, ApprovalID: id} }

func testKey() *secret.Bytes { return secret.NewBytes(bytes.Repeat([]byte{7}, 32)) }

type fixture struct {
	st   *store.Store
	path string
	clk  *clock
	lg   *recorder
	v    *Verifier
}

// newFixture enrols testSecret in a fresh store and returns a Verifier at
// t0 with opts (Now is set here).
func newFixture(t testing.TB, opts *Options) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	clk := &clock{t: t0}
	st, err := store.Open(context.Background(), path, &store.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := Enrol(context.Background(), st, testKey(), testSecret, -1, t0); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, path: path, clk: clk, lg: &recorder{}}
	f.v = f.verifier(st, opts)
	return f
}

func (f *fixture) verifier(st *store.Store, opts *Options) *Verifier {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.Now = f.clk.Now
	return NewSealedVerifier(st, f.lg, testKey(), &o)
}

// exec changes state.db behind the store's back, as an agent with a shell
// could.
func (f *fixture) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s changed no row", q)
	}
}

func (f *fixture) state(t *testing.T) *store.TOTPState {
	t.Helper()
	st, err := f.st.TOTP(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestVerify(t *testing.T) {
	type try struct {
		at   time.Duration // clock offset from t0
		code func(t testing.TB) string
		want error
		step int64 // the step returned on success
	}
	at := func(step int64) func(testing.TB) string {
		return func(t testing.TB) string { return code(t, testSecret, step) }
	}
	lit := func(s string) func(testing.TB) string { return func(testing.TB) string { return s } }
	tests := []struct {
		name  string
		tries []try
	}{
		{"current step", []try{{0, at(step0), nil, step0}}},
		{"previous step (skew -1)", []try{{0, at(step0 - 1), nil, step0 - 1}}},
		{"next step (skew +1)", []try{{0, at(step0 + 1), nil, step0 + 1}}},
		{"two steps back", []try{{0, at(step0 - 2), ErrWrongCode, 0}}},
		{"two steps ahead", []try{{0, at(step0 + 2), ErrWrongCode, 0}}},
		{"wrong code", []try{{0, func(t testing.TB) string { return wrongCode(t, testSecret, step0) }, ErrWrongCode, 0}}},
		{"same code twice", []try{{0, at(step0), nil, step0}, {0, at(step0), ErrReplay, 0}}},
		{"same code twice, 20s apart", []try{{0, at(step0), nil, step0}, {20 * time.Second, at(step0), ErrReplay, 0}}},
		{"step t then t-1", []try{{0, at(step0), nil, step0}, {0, at(step0 - 1), ErrReplay, 0}}},
		{"step t+1 then t", []try{{0, at(step0 + 1), nil, step0 + 1}, {0, at(step0), ErrReplay, 0}}},
		{"t-1, t, t+1 in order", []try{{0, at(step0 - 1), nil, step0 - 1}, {0, at(step0), nil, step0}, {0, at(step0 + 1), nil, step0 + 1}}},
		{"next step's code, then again in that step", []try{{0, at(step0 + 1), nil, step0 + 1}, {30 * time.Second, at(step0 + 1), ErrReplay, 0}}},
		{"five digits", []try{{0, lit("12345"), ErrMalformed, 0}}},
		{"seven digits", []try{{0, lit("1234567"), ErrMalformed, 0}}},
		{"empty", []try{{0, lit(""), ErrMalformed, 0}}},
		{"letters", []try{{0, lit("12a456"), ErrMalformed, 0}}},
		{"spaces", []try{{0, lit(" 12345"), ErrMalformed, 0}}},
		{"sign", []try{{0, lit("+12345"), ErrMalformed, 0}}},
		{"arabic-indic digits", []try{{0, lit("١٢٣"), ErrMalformed, 0}}},
		{"right code with a newline", []try{{0, func(t testing.TB) string { return code(t, testSecret, step0) + "\n" }, ErrMalformed, 0}}},
	}
	for _, sc := range []Scope{cli, web("a1")} {
		for _, tt := range tests {
			t.Run(sc.Channel+"/"+tt.name, func(t *testing.T) {
				f := newFixture(t, nil)
				wantOK, wantFail := 0, 0
				for i, tr := range tt.tries {
					f.clk.Set(t0.Add(tr.at))
					step, err := f.v.Verify(context.Background(), tr.code(t), sc)
					if !errors.Is(err, tr.want) || (tr.want == nil) != (err == nil) {
						t.Fatalf("try %d: %v, want %v", i, err, tr.want)
					}
					if err == nil {
						wantOK++
						if step != tr.step {
							t.Fatalf("try %d: step %d, want %d", i, step, tr.step)
						}
					} else {
						wantFail++
						var fe *FailedError
						if step != -1 || !errors.As(err, &fe) {
							t.Fatalf("try %d: step %d, error %T; want -1 and a *FailedError", i, step, err)
						}
					}
				}
				if got := f.lg.count(EventAccepted); got != wantOK {
					t.Errorf("%d %s events, want %d", got, EventAccepted, wantOK)
				}
				if got := f.lg.count(EventFailed); got != wantFail {
					t.Errorf("%d %s events, want %d", got, EventFailed, wantFail)
				}
			})
		}
	}
}

// TestPageLocksTheApprovalNotTheHuman is the attack of issue 7 §5: five
// wrong codes posted for one approval lock that approval's link, and
// nothing else. Before, they locked every verification, the terminal's
// included.
func TestPageLocksTheApprovalNotTheHuman(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	wrong := wrongCode(t, testSecret, step0)
	for i := 1; i <= DefaultMaxFailures; i++ {
		_, err := f.v.Verify(ctx, wrong, web("A"))
		var fe *FailedError
		if !errors.As(err, &fe) || !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
		if locked := errors.Is(err, ErrLocked); locked != (i == DefaultMaxFailures) {
			t.Fatalf("wrong code %d: locked %v (%v)", i, locked, err)
		}
		if want := DefaultMaxFailures - i; fe.Left != want {
			t.Fatalf("wrong code %d: %d tries left, want %d", i, fe.Left, want)
		}
	}
	until := t0.Add(DefaultLockFor)
	if f.lg.count(EventLockout) != 1 || !strings.Contains(f.lg.text(), `"until":"`+until.Format(time.RFC3339)+`"`) ||
		!strings.Contains(f.lg.text(), `"approval_id":"A"`) {
		t.Fatalf("lockout not audited with its approval and end: %s", f.lg.text())
	}
	for _, e := range f.lg.events {
		if e["type"] != audit.TypeSecurity {
			t.Errorf("event of type %v, want %s", e["type"], audit.TypeSecurity)
		}
	}

	// A's link refuses even the right code, without spending it.
	right := code(t, testSecret, step0)
	_, err := f.v.Verify(ctx, right, web("A"))
	var le *LockedError
	if !errors.As(err, &le) || le.Page || !le.Until.Equal(until) || le.ApprovalID != "A" {
		t.Fatalf("right code on A's locked link: %v, want a *LockedError for A until %v", err, until)
	}
	if f.state(t).LastStep != -1 {
		t.Fatal("a refusal while locked spent the code")
	}
	// Another approval's link still works.
	if step, err := f.v.Verify(ctx, right, web("B")); err != nil || step != step0 {
		t.Fatalf("right code on B's link: %d %v", step, err)
	}
	// The terminal still works, for A too.
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0+1), cli); err != nil {
		t.Fatalf("right code in the terminal: %v", err)
	}
	// After LockFor, A's link takes codes again.
	f.clk.Set(until)
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0+30), web("A")); err != nil {
		t.Fatalf("A after its lock: %v", err)
	}
}

func TestTerminalNeverLocks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	wrong := wrongCode(t, testSecret, step0)
	for i := 0; i < 3*DefaultPageMaxFailures; i++ {
		_, err := f.v.Verify(ctx, wrong, cli)
		var fe *FailedError
		if !errors.As(err, &fe) || errors.Is(err, ErrLocked) || fe.Left != -1 {
			t.Fatalf("wrong code %d in the terminal: %v", i, err)
		}
	}
	if st := f.state(t); st.Failures != 0 || !st.LockedUntil.IsZero() {
		t.Fatalf("the terminal's failures were counted: %+v", st)
	}
	if f.lg.count(EventFailed) != 3*DefaultPageMaxFailures {
		t.Fatal("the terminal's failures were not audited")
	}
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0), cli); err != nil {
		t.Fatalf("right code after many wrong ones: %v", err)
	}
	// Nor does a locked page lock it.
	for i := 0; i < DefaultPageMaxFailures; i++ {
		f.v.Verify(ctx, wrong, web(fmt.Sprint("p", i)))
	}
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0+1), web("fresh")); !errors.Is(err, ErrLocked) {
		t.Fatalf("page after its budget: %v, want locked", err)
	}
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0+1), cli); err != nil {
		t.Fatalf("terminal while the page is locked: %v", err)
	}
}

// TestPageBudget: an agent that parks many approvals and guesses through
// each spends one budget for the whole page.
func TestPageBudget(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	wrong := wrongCode(t, testSecret, step0)
	// Three wrong codes per approval: no approval's link locks.
	for i := 1; i <= DefaultPageMaxFailures; i++ {
		_, err := f.v.Verify(ctx, wrong, web(fmt.Sprint("a", (i-1)/3)))
		var fe *FailedError
		if !errors.As(err, &fe) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
		switch {
		case i < DefaultPageMaxFailures && errors.Is(err, ErrLocked):
			t.Fatalf("wrong code %d locked: %v", i, err)
		case i == DefaultPageMaxFailures && (fe.Lock == nil || !fe.Lock.Page):
			t.Fatalf("wrong code %d: %v, want the page locked", i, err)
		case i == DefaultPageMaxFailures-1 && fe.Left != 1:
			// The page's budget is smaller than the approval's.
			t.Fatalf("wrong code %d: %d tries left, want 1", i, fe.Left)
		}
	}
	until := t0.Add(DefaultPageLockFor)
	if f.lg.count(EventPageLockout) != 1 {
		t.Fatalf("page lockout not audited: %s", f.lg.text())
	}
	right := code(t, testSecret, step0)
	_, err := f.v.Verify(ctx, right, web("new"))
	var le *LockedError
	if !errors.As(err, &le) || !le.Page || !le.Until.Equal(until) {
		t.Fatalf("right code on a fresh link while the page is locked: %v", err)
	}
	if _, err := f.v.Verify(ctx, right, Scope{Channel: store.ChannelElicitation, ApprovalID: "new"}); !errors.Is(err, ErrLocked) {
		t.Fatalf("elicitation while the page is locked: %v", err)
	}

	// Each further lockout without an accepted code doubles the lock.
	lockFor := DefaultPageLockFor
	for round := 0; round < 7; round++ {
		f.clk.Set(f.state(t).LockedUntil)
		start := f.clk.Now()
		for i := 0; i < DefaultPageMaxFailures; i++ {
			f.v.Verify(ctx, wrong, web(fmt.Sprint("r", round, "-", i)))
		}
		lockFor = min(2*lockFor, MaxPageLockFor)
		if got := f.state(t).LockedUntil.Sub(start); got != lockFor {
			t.Fatalf("lockout %d lasts %v, want %v", round+2, got, lockFor)
		}
	}
	// An accepted code (here in the terminal) resets the doubling.
	f.clk.Set(f.state(t).LockedUntil)
	if _, err := f.v.Verify(ctx, code(t, testSecret, f.clk.Now().Unix()/30), cli); err != nil {
		t.Fatal(err)
	}
	start := f.clk.Now()
	for i := 0; i < DefaultPageMaxFailures; i++ {
		f.v.Verify(ctx, wrong, web(fmt.Sprint("z", i)))
	}
	if got := f.state(t).LockedUntil.Sub(start); got != DefaultPageLockFor {
		t.Fatalf("lockout after an accepted code lasts %v, want %v", got, DefaultPageLockFor)
	}
}

func TestPageWindow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	wrong := wrongCode(t, testSecret, step0)
	for round := 0; round < 3; round++ {
		for i := 0; i < DefaultPageMaxFailures-1; i++ {
			if _, err := f.v.Verify(ctx, wrong, web(fmt.Sprint(round, "-", i/4))); errors.Is(err, ErrLocked) {
				t.Fatalf("round %d, code %d locked", round, i)
			}
		}
		f.clk.Advance(DefaultPageWindow)
	}
}

func TestReplayCountsOnThePage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	c := code(t, testSecret, step0)
	if _, err := f.v.Verify(ctx, c, cli); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= DefaultMaxFailures; i++ {
		_, err := f.v.Verify(ctx, c, web("A"))
		if !errors.Is(err, ErrReplay) || errors.Is(err, ErrLocked) != (i == DefaultMaxFailures) {
			t.Fatalf("replay %d: %v", i, err)
		}
	}
}

func TestLockOptions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &Options{MaxFailures: 2, LockFor: time.Minute, PageMaxFailures: 3, PageWindow: time.Hour, PageLockFor: 10 * time.Minute})
	wrong := wrongCode(t, testSecret, step0)
	if _, err := f.v.Verify(ctx, wrong, web("A")); errors.Is(err, ErrLocked) {
		t.Fatal("locked after one failure")
	}
	if _, err := f.v.Verify(ctx, wrong, web("A")); !errors.Is(err, ErrLocked) || !errors.Is(err, ErrWrongCode) {
		t.Fatalf("second failure: %v, want wrong code and locked", err)
	}
	if _, err := f.v.Verify(ctx, wrong, web("B")); !errors.Is(err, ErrLocked) {
		t.Fatalf("third failure on the page: %v, want the page locked", err)
	}
	if st := f.state(t); !st.LockedUntil.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("page locked until %v", st.LockedUntil)
	}
	f.clk.Advance(10 * time.Minute)
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0+20), web("A")); err != nil {
		t.Fatalf("after the locks: %v", err)
	}
}

func TestVerifyConcurrentSameCode(t *testing.T) {
	tests := []struct {
		name     string
		handles  int // store handles over the same file, each with its own Verifier
		parallel int
		scope    Scope
	}{
		{"goroutines, one Verifier, terminal", 1, 8, cli},
		{"two Verifiers over two store handles, terminal", 2, 8, cli},
		{"two Verifiers over two store handles, page", 2, 8, web("A")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			// Enough allowed failures that the losers never lock.
			opts := &Options{MaxFailures: 1000, PageMaxFailures: 1000}
			f := newFixture(t, opts)
			vs := []*Verifier{f.v}
			for i := 1; i < tt.handles; i++ {
				st, err := store.Open(ctx, f.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				vs = append(vs, f.verifier(st, opts))
			}
			for round := int64(0); round < 3; round++ {
				f.clk.Set(t0.Add(time.Duration(round) * Period))
				c := code(t, testSecret, step0+round)
				var wg sync.WaitGroup
				errs := make([]error, tt.parallel)
				start := make(chan struct{})
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, errs[i] = vs[i%len(vs)].Verify(ctx, c, tt.scope)
					}()
				}
				close(start)
				wg.Wait()
				ok := 0
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case !errors.Is(err, ErrReplay):
						t.Fatalf("round %d: %v", round, err)
					}
				}
				if ok != 1 {
					t.Fatalf("round %d: the same code was accepted %d times", round, ok)
				}
			}
		})
	}
}

// TestTamperedStateRefused edits state.db directly, as an agent with a shell
// could, and checks that every code is then refused, on every channel, as a
// security event.
func TestTamperedStateRefused(t *testing.T) {
	ctx := context.Background()
	wrong := func(t *testing.T) string { return wrongCode(t, testSecret, step0) }
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture) // before the edit
		edit  string
		args  []any
		code  int64 // the step of the code then offered
		scope Scope
	}{
		{
			name:  "last step reset to replay a used code",
			setup: func(t *testing.T, f *fixture) { mustVerify(t, f, code(t, testSecret, step0), cli) },
			edit:  `UPDATE totp SET last_step = -1`, code: step0, scope: cli,
		},
		{
			name:  "last step reset, on the page",
			setup: func(t *testing.T, f *fixture) { mustVerify(t, f, code(t, testSecret, step0), cli) },
			edit:  `UPDATE totp SET last_step = -1`, code: step0, scope: web("A"),
		},
		{
			name: "page lock cleared",
			setup: func(t *testing.T, f *fixture) {
				for i := 0; i < DefaultPageMaxFailures; i++ {
					f.v.Verify(ctx, wrong(t), web(fmt.Sprint("x", i)))
				}
			},
			edit: `UPDATE totp SET locked_until = 0, lockouts = 0`, code: step0, scope: web("A"),
		},
		{
			name: "page budget reset",
			setup: func(t *testing.T, f *fixture) {
				f.v.Verify(ctx, wrong(t), web("x"))
			},
			edit: `UPDATE totp SET failures = 0, window_start = 0`, code: step0, scope: web("A"),
		},
		{
			name: "an approval's lock cleared",
			setup: func(t *testing.T, f *fixture) {
				for i := 0; i < DefaultMaxFailures; i++ {
					f.v.Verify(ctx, wrong(t), web("A"))
				}
			},
			edit: `UPDATE totp_counters SET locked_until = 0, failures = 0`, code: step0, scope: web("A"),
		},
		{
			name: "MAC removed",
			edit: `UPDATE totp SET mac = NULL`, code: step0, scope: cli,
		},
		{
			name: "sealed secret of another enrolment",
			edit: `UPDATE totp SET sealed = ?`, args: []any{mustSeal(t, "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U")}, code: step0, scope: cli,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			f.exec(t, tt.edit, tt.args...)
			before := f.lg.count(EventStateInvalid)
			c := code(t, testSecret, tt.code)
			if tt.name == "sealed secret of another enrolment" {
				c = code(t, "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U", tt.code)
			}
			step, err := f.v.Verify(ctx, c, tt.scope)
			if !errors.Is(err, ErrStateInvalid) || step != -1 {
				t.Fatalf("after the edit: %d %v, want ErrStateInvalid", step, err)
			}
			if f.lg.count(EventStateInvalid) != before+1 {
				t.Fatalf("no %s event: %s", EventStateInvalid, f.lg.text())
			}
			if msg, ok := Message(err); !ok || !strings.Contains(msg, "walletmcp totp enroll") {
				t.Fatalf("message %q", msg)
			}
			// CheckState looks at the enrolment, not the approvals' counters.
			if err := f.v.CheckState(ctx); strings.Contains(tt.edit, "UPDATE totp SET") != errors.Is(err, ErrStateInvalid) {
				t.Fatalf("CheckState: %v", err)
			}
			// A re-enrolment in the terminal repairs the state.
			f.clk.Advance(time.Minute)
			if err := Enrol(ctx, f.st, testKey(), testSecret, -1, f.clk.Now()); err != nil {
				t.Fatal(err)
			}
			if err := f.v.CheckState(ctx); err != nil {
				t.Fatalf("CheckState after re-enrolling: %v", err)
			}
			if _, err := f.v.Verify(ctx, code(t, testSecret, f.clk.Now().Unix()/30), tt.scope); err != nil && !errors.Is(err, ErrLocked) {
				t.Fatalf("after re-enrolling: %v", err)
			}
		})
	}
}

func mustVerify(t *testing.T, f *fixture, c string, sc Scope) int64 {
	t.Helper()
	step, err := f.v.Verify(context.Background(), c, sc)
	if err != nil {
		t.Fatal(err)
	}
	return step
}

func mustSeal(t *testing.T, sec string) []byte {
	t.Helper()
	b, err := Seal(testKey(), sec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNotEnrolled(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lg := &recorder{}
	clk := &clock{t: t0}
	v := NewSealedVerifier(st, lg, testKey(), &Options{Now: clk.Now})
	for _, sc := range []Scope{cli, web("A")} {
		if _, err := v.Verify(ctx, code(t, testSecret, step0), sc); !errors.Is(err, ErrNotEnrolled) {
			t.Fatalf("Verify in %s: %v, want ErrNotEnrolled", sc.Channel, err)
		}
	}
	if err := v.CheckState(ctx); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("CheckState: %v", err)
	}
	if lg.count(EventFailed) != 2 {
		t.Errorf("refusals not audited: %s", lg.text())
	}
}

func TestVerifyFailsClosed(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		scope Scope
		setup func(f *fixture) *Verifier
	}{
		{"audit log failing", cli, func(f *fixture) *Verifier { f.lg.failing = true; return f.v }},
		{"audit log failing, page", web("A"), func(f *fixture) *Verifier { f.lg.failing = true; return f.v }},
		{"wiped", cli, func(f *fixture) *Verifier { f.v.Wipe(); return f.v }},
		{"no audit log", cli, func(f *fixture) *Verifier { return NewSealedVerifier(f.st, nil, testKey(), &Options{Now: f.clk.Now}) }},
		{"no store", cli, func(f *fixture) *Verifier { return NewSealedVerifier(nil, f.lg, testKey(), &Options{Now: f.clk.Now}) }},
		{"no key", cli, func(f *fixture) *Verifier { return NewSealedVerifier(f.st, f.lg, nil, &Options{Now: f.clk.Now}) }},
		{"short key", cli, func(f *fixture) *Verifier {
			return NewSealedVerifier(f.st, f.lg, secret.NewBytes(make([]byte, 16)), &Options{Now: f.clk.Now})
		}},
		{"clock at zero", cli, func(f *fixture) *Verifier {
			return NewSealedVerifier(f.st, f.lg, testKey(), &Options{Now: func() time.Time { return time.Unix(0, 0) }})
		}},
		{"another home's key", cli, func(f *fixture) *Verifier {
			return NewSealedVerifier(f.st, f.lg, secret.NewBytes(make([]byte, 32)), &Options{Now: f.clk.Now})
		}},
		{"unknown channel", Scope{Channel: "mcp", ApprovalID: "A"}, func(f *fixture) *Verifier { return f.v }},
		{"no channel", Scope{}, func(f *fixture) *Verifier { return f.v }},
		{"page without an approval", Scope{Channel: store.ChannelWeb}, func(f *fixture) *Verifier { return f.v }},
		{"page with an oversized approval id", web(strings.Repeat("a", store.MaxTOTPScopeLen)), func(f *fixture) *Verifier { return f.v }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			v := tt.setup(f)
			if step, err := v.Verify(ctx, code(t, testSecret, step0), tt.scope); err == nil || step != -1 {
				t.Fatalf("Verify = %d, %v", step, err)
			}
		})
	}
}

func TestSealedVerifierFollowsReenrolment(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0-1), cli); err != nil {
		t.Fatalf("code of A: %v", err)
	}
	const secretB = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U" // "abcdefghijklmnopqrst"
	if err := Enrol(ctx, f.st, testKey(), secretB, -1, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0), cli); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("code of the old secret after re-enrolment: %v, want ErrWrongCode", err)
	}
	if _, err := f.v.Verify(ctx, code(t, secretB, step0), cli); err != nil {
		t.Fatalf("code of B: %v", err)
	}
	// Steps never go back across the re-enrolment.
	if _, err := f.v.Verify(ctx, code(t, secretB, step0-1), cli); !errors.Is(err, ErrReplay) {
		t.Fatalf("earlier step of B: %v, want ErrReplay", err)
	}
	// The confirmation code's step is spent by Enrol.
	if err := Enrol(ctx, f.st, testKey(), testSecret, step0+1, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0+1), cli); !errors.Is(err, ErrReplay) {
		t.Fatalf("the confirmation code again: %v, want ErrReplay", err)
	}
	key := testKey()
	v := NewSealedVerifier(f.st, f.lg, key, nil)
	v.Wipe()
	if key.Len() != 0 {
		t.Fatal("Wipe left the key")
	}
}

func TestEnrolKeepsThePageLock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	for i := 0; i < DefaultPageMaxFailures; i++ {
		f.v.Verify(ctx, wrongCode(t, testSecret, step0), web(fmt.Sprint("x", i)))
	}
	if err := Enrol(ctx, f.st, testKey(), testSecret, -1, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0), web("A")); !errors.Is(err, ErrLocked) {
		t.Fatalf("page after a re-enrolment: %v, want still locked", err)
	}
	for _, bad := range []string{"", "not base32!"} {
		if err := Enrol(ctx, f.st, testKey(), bad, -1, t0); err == nil {
			t.Errorf("Enrol(%q) accepted", bad)
		}
	}
	if err := Enrol(ctx, f.st, secret.NewBytes(make([]byte, 31)), testSecret, -1, t0); err == nil {
		t.Error("Enrol with a 31-byte key accepted")
	}
}

func TestMessage(t *testing.T) {
	until := time.Date(2026, 5, 1, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"wrong, tries left", &FailedError{Err: ErrWrongCode, Left: 3}, []string{"Wrong code", "3 tries left"}},
		{"wrong, one left", &FailedError{Err: ErrWrongCode, Left: 1}, []string{"Wrong code", "1 try left"}},
		{"wrong, terminal", &FailedError{Err: ErrWrongCode, Left: -1}, []string{"Wrong code"}},
		{"replay", &FailedError{Err: ErrReplay, Left: 4}, []string{"already used", "wait for the next code", "4 tries left"}},
		{"malformed", &FailedError{Err: ErrMalformed, Left: -1}, []string{"6 digits"}},
		{"locked by this failure", &FailedError{Err: ErrWrongCode, Lock: &LockedError{Until: until, ApprovalID: "abc"}}, []string{"Wrong code", "Too many wrong codes for this request", "2026-05-01 10:30:00 UTC", "walletmcp approve abc"}},
		{"approval locked", &LockedError{Until: until, ApprovalID: "abc"}, []string{"this request", "walletmcp approve abc` in a terminal still works"}},
		{"page locked", &LockedError{Until: until, Page: true}, []string{"approval page", "security event", "terminal still works"}},
		{"joined with an audit error", errors.Join(&FailedError{Err: ErrReplay, Left: -1}, errors.New("audit: disk full")), []string{"wait for the next code"}},
		{"not enrolled", ErrNotEnrolled, []string{"walletmcp totp enroll"}},
		{"state invalid", ErrStateInvalid, []string{"does not verify", "walletmcp totp enroll"}},
		{"bare sentinel", ErrWrongCode, []string{"Wrong code"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, ok := Message(tt.err)
			if !ok {
				t.Fatal("not recognised")
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "totp:") || strings.Contains(msg, "tries left") && strings.Contains(msg, "Too many") {
				t.Errorf("message %q", msg)
			}
		})
	}
	if _, ok := Message(errors.New("store: disk full")); ok {
		t.Error("an unrelated error was recognised")
	}
}

// TestNoSecretInErrorsOrAudit runs every kind of outcome and scans the errors
// and the audit events for the secret and the codes typed.
func TestNoSecretInErrorsOrAudit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	var typed []string
	var msgs []string
	try := func(c string, sc Scope) {
		typed = append(typed, c)
		if _, err := f.v.Verify(ctx, c, sc); err != nil {
			msgs = append(msgs, err.Error())
			m, _ := Message(err)
			msgs = append(msgs, m)
		}
	}
	try(code(t, testSecret, step0), cli)
	try(code(t, testSecret, step0), web("A")) // replay
	try("98765x", cli)
	for i := 0; i < 5; i++ {
		try(wrongCode(t, testSecret, step0), web("A"))
	}
	try(code(t, testSecret, step0+1), web("A")) // locked
	all := strings.Join(msgs, "\n") + f.lg.text()
	for _, s := range append(typed, testSecret, strings.ToLower(testSecret)) {
		if strings.Contains(all, s) {
			t.Errorf("%q appears in errors or audit events:\n%s", s, all)
		}
	}
}

// TestRolledBackStateRefused: an older copy of the totp row written back,
// with the approval counters deleted, passes the row's MAC, and would give
// the page its budget of wrong codes again. The Verifier that saw the later
// state (serve's, behind the page) refuses it as invalid (audited), while
// a fresh one (the terminal's) still accepts the human's code.
func TestRolledBackStateRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	// A first code on the page: the Verifier sees the state.
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0), web("A")); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var failures, windowStart, lockedUntil, lockouts int64
	var mac []byte
	snapshot := `SELECT failures, window_start, locked_until, lockouts, mac FROM totp`
	if err := db.QueryRow(snapshot).Scan(&failures, &windowStart, &lockedUntil, &lockouts, &mac); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // wrong codes on the page
		f.clk.Advance(time.Second)
		if _, err := f.v.Verify(ctx, "000000", web("A")); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	// The older row back, the counters gone.
	f.exec(t, `UPDATE totp SET failures = ?, window_start = ?, locked_until = ?, lockouts = ?, mac = ?`, failures, windowStart, lockedUntil, lockouts, mac)
	f.exec(t, `DELETE FROM totp_counters`)
	f.clk.Advance(time.Second)
	if _, err := f.v.Verify(ctx, "000000", web("A")); !errors.Is(err, ErrStateInvalid) {
		t.Fatalf("after the rollback: %v, want ErrStateInvalid", err)
	}
	if f.lg.count(EventStateInvalid) == 0 {
		t.Fatalf("not audited: %s", f.lg.text())
	}
	// The terminal (another process, its own Verifier) still works.
	other := f.verifier(f.st, nil)
	defer other.Wipe()
	f.clk.Advance(30 * time.Second)
	if _, err := other.Verify(ctx, code(t, testSecret, step0+2), cli); err != nil {
		t.Fatalf("the terminal after the rollback: %v", err)
	}
	// A code accepted elsewhere moves the state forward: the page's
	// Verifier follows it.
	f.clk.Advance(30 * time.Second)
	if _, err := f.v.Verify(ctx, "000000", web("B")); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("the page after a code accepted in the terminal: %v, want ErrWrongCode", err)
	}
}
