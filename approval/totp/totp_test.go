package totp

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
)

// rfcSecret is the SHA-1 seed of RFC 6238 Appendix B, "12345678901234567890"
// in ASCII, in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// testSecret is the secret of most tests (base32 of 20 bytes).
const testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// TestRFC6238Vectors checks the SHA-1 test vectors of RFC 6238, Appendix B
// (https://www.rfc-editor.org/rfc/rfc6238#appendix-B): 8-digit codes through
// pquerna/otp, and the same codes truncated to our 6 digits (the last six:
// the HOTP value modulo 10^6) through Check, which must find the step T.
func TestRFC6238Vectors(t *testing.T) {
	tests := []struct {
		name string
		unix int64
		step int64 // T in the RFC's table, in hex there
		code string
	}{
		{"1970-01-01 00:00:59", 59, 0x1, "94287082"},
		{"2005-03-18 01:58:29", 1111111109, 0x23523EC, "07081804"},
		{"2005-03-18 01:58:31", 1111111111, 0x23523ED, "14050471"},
		{"2009-02-13 23:31:30", 1234567890, 0x273EF07, "89005924"},
		{"2033-05-18 03:33:20", 2000000000, 0x3F940AA, "69279037"},
		{"2603-10-11 11:33:20", 20000000000, 0x27BC86AA, "65353130"},
	}
	sec := secret.NewBytes([]byte(rfcSecret))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Unix(tt.unix, 0)
			got, err := pqtotp.GenerateCodeCustom(rfcSecret, at, pqtotp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1})
			if err != nil || got != tt.code {
				t.Fatalf("pquerna 8 digits at %d: %q %v, want %s", tt.unix, got, err, tt.code)
			}
			step, err := Check(sec, tt.code[2:], at)
			if tt.unix < 60 {
				// Our clock check refuses the first minute of 1970.
				if err == nil {
					t.Fatal("Check accepted a time in the first minute of 1970")
				}
				return
			}
			if err != nil || step != tt.step {
				t.Fatalf("Check(6 digits) = %d, %v; want step %d", step, err, tt.step)
			}
		})
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// t0 is the start of a time step, well inside it for tests that move ±1 step.
var t0 = time.Unix(step0*30+10, 0).UTC()

// step0 is t0's time step.
const step0 = 58_712_345

// recorder is an Auditor that keeps the events, or fails when failing is set.
type recorder struct {
	mu      sync.Mutex
	events  []map[string]any
	failing bool
}

func (r *recorder) Append(_ context.Context, typ string, fields any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		return errors.New("audit: disk full")
	}
	b, _ := json.Marshal(fields)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["type"] = typ
	r.events = append(r.events, m)
	return nil
}

func (r *recorder) count(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e["event"] == event {
			n++
		}
	}
	return n
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := json.Marshal(r.events)
	return string(b)
}

// code is the 6-digit code of step for a base32 secret.
func code(t testing.TB, sec string, step int64) string {
	t.Helper()
	c, err := hotp.GenerateCode(sec, uint64(step))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a well-formed code that matches none of steps around step.
func wrongCode(t testing.TB, sec string, step int64) string {
	t.Helper()
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", i*111111%1000000)
		ok := true
		for s := step - 3; s <= step+3; s++ {
			ok = ok && c != code(t, sec, s)
		}
		if ok {
			return c
		}
	}
}

type fixture struct {
	st   *store.Store
	path string
	clk  *clock
	lg   *recorder
	v    *Verifier
}

// newFixture enrols testSecret in a fresh store and returns a Verifier at t0.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := store.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: t0}
	if err := st.SetTOTP(context.Background(), []byte("sealed-elsewhere"), t0); err != nil {
		t.Fatal(err)
	}
	lg := &recorder{}
	v := NewVerifier(st, lg, secret.NewBytes([]byte(testSecret)), &Options{Now: clk.Now})
	return &fixture{st: st, path: path, clk: clk, lg: lg, v: v}
}

func TestVerify(t *testing.T) {
	type try struct {
		at   time.Duration // clock offset from t0
		code func(t testing.TB) string
		want error
	}
	at := func(step int64) func(testing.TB) string {
		return func(t testing.TB) string { return code(t, testSecret, step) }
	}
	lit := func(s string) func(testing.TB) string { return func(testing.TB) string { return s } }
	tests := []struct {
		name  string
		tries []try
	}{
		{"current step", []try{{0, at(step0), nil}}},
		{"previous step (skew -1)", []try{{0, at(step0 - 1), nil}}},
		{"next step (skew +1)", []try{{0, at(step0 + 1), nil}}},
		{"two steps back", []try{{0, at(step0 - 2), ErrWrongCode}}},
		{"two steps ahead", []try{{0, at(step0 + 2), ErrWrongCode}}},
		{"wrong code", []try{{0, func(t testing.TB) string { return wrongCode(t, testSecret, step0) }, ErrWrongCode}}},
		{"same code twice", []try{{0, at(step0), nil}, {0, at(step0), ErrReplay}}},
		{"same code twice, 20s apart", []try{{0, at(step0), nil}, {20 * time.Second, at(step0), ErrReplay}}},
		{"step t then t-1", []try{{0, at(step0), nil}, {0, at(step0 - 1), ErrReplay}}},
		{"step t+1 then t", []try{{0, at(step0 + 1), nil}, {0, at(step0), ErrReplay}}},
		{"t-1, t, t+1 in order", []try{{0, at(step0 - 1), nil}, {0, at(step0), nil}, {0, at(step0 + 1), nil}}},
		{"next step's code, then again in that step", []try{{0, at(step0 + 1), nil}, {30 * time.Second, at(step0 + 1), ErrReplay}}},
		{"five digits", []try{{0, lit("12345"), ErrMalformed}}},
		{"seven digits", []try{{0, lit("1234567"), ErrMalformed}}},
		{"empty", []try{{0, lit(""), ErrMalformed}}},
		{"letters", []try{{0, lit("12a456"), ErrMalformed}}},
		{"spaces", []try{{0, lit(" 12345"), ErrMalformed}}},
		{"sign", []try{{0, lit("+12345"), ErrMalformed}}},
		{"arabic-indic digits", []try{{0, lit("١٢٣"), ErrMalformed}}},
		{"right code with a newline", []try{{0, func(t testing.TB) string { return code(t, testSecret, step0) + "\n" }, ErrMalformed}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			wantOK, wantFail := 0, 0
			for i, tr := range tt.tries {
				f.clk.Set(t0.Add(tr.at))
				err := f.v.Verify(context.Background(), tr.code(t))
				if !errors.Is(err, tr.want) || (tr.want == nil) != (err == nil) {
					t.Fatalf("try %d: %v, want %v", i, err, tr.want)
				}
				if err == nil {
					wantOK++
				} else {
					wantFail++
				}
			}
			if got := f.lg.count(EventAccepted); got != wantOK {
				t.Errorf("%d %s events, want %d", got, EventAccepted, wantOK)
			}
			if got := f.lg.count(EventFailed); got != wantFail {
				t.Errorf("%d %s events, want %d", got, EventFailed, wantFail)
			}
			st, _ := f.st.TOTP(context.Background())
			if wantFail > 0 && wantOK == 0 && st.Failures != wantFail {
				t.Errorf("%d failures recorded, want %d", st.Failures, wantFail)
			}
		})
	}
}

func TestLockout(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	wrong := wrongCode(t, testSecret, step0)
	bad := []string{wrong, "abcdef", wrong, "1", wrong} // malformed codes count too
	for i, c := range bad {
		err := f.v.Verify(ctx, c)
		if err == nil {
			t.Fatalf("bad code %d accepted", i)
		}
		if locked := errors.Is(err, ErrLocked); locked != (i == len(bad)-1) {
			t.Fatalf("bad code %d: %v (locked %v)", i, err, locked)
		}
	}
	until := t0.Add(DefaultLockFor)
	if f.lg.count(EventLockout) != 1 {
		t.Fatalf("lockout not audited: %s", f.lg.text())
	}
	if !strings.Contains(f.lg.text(), `"until":"`+until.Format(time.RFC3339)+`"`) {
		t.Errorf("lockout event lacks the end time: %s", f.lg.text())
	}
	for _, e := range f.lg.events {
		if e["type"] != audit.TypeSecurity {
			t.Errorf("event of type %v, want %s", e["type"], audit.TypeSecurity)
		}
	}

	// While locked even the right code is refused, without being spent.
	f.clk.Set(until.Add(-time.Second))
	right := code(t, testSecret, step0+29)
	err := f.v.Verify(ctx, right)
	var le *LockedError
	if !errors.As(err, &le) || !le.Until.Equal(until) {
		t.Fatalf("right code while locked: %v, want a *LockedError until %v", err, until)
	}
	if !strings.Contains(err.Error(), until.Format(time.RFC3339)) {
		t.Errorf("lock message %q does not say until when", err)
	}
	if st, _ := f.st.TOTP(ctx); st.LastStep != -1 || st.Failures != 0 {
		t.Errorf("a refusal while locked changed the state: %+v", st)
	}
	// Unlocked after LockFor: the same code is accepted (it was not spent).
	f.clk.Set(until)
	if err := f.v.Verify(ctx, right); err != nil {
		t.Fatalf("right code after the lock: %v", err)
	}
}

func TestLockoutOptions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v := NewVerifier(f.st, f.lg, secret.NewBytes([]byte(testSecret)), &Options{Now: f.clk.Now, MaxFailures: 2, LockFor: time.Minute})
	wrong := wrongCode(t, testSecret, step0)
	if err := v.Verify(ctx, wrong); errors.Is(err, ErrLocked) {
		t.Fatal("locked after one failure")
	}
	if err := v.Verify(ctx, wrong); !errors.Is(err, ErrLocked) || !errors.Is(err, ErrWrongCode) {
		t.Fatalf("second failure: %v, want wrong code and locked", err)
	}
	f.clk.Advance(time.Minute)
	if err := v.Verify(ctx, code(t, testSecret, step0+2)); err != nil {
		t.Fatalf("after a one-minute lock: %v", err)
	}
}

func TestReplayCountsAsFailure(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := code(t, testSecret, step0)
	if err := f.v.Verify(ctx, c); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < DefaultMaxFailures-1; i++ {
		if err := f.v.Verify(ctx, c); !errors.Is(err, ErrReplay) || errors.Is(err, ErrLocked) {
			t.Fatalf("replay %d: %v", i, err)
		}
	}
	if err := f.v.Verify(ctx, c); !errors.Is(err, ErrReplay) || !errors.Is(err, ErrLocked) {
		t.Fatalf("5th replay: %v, want replay and locked", err)
	}
}

func TestVerifyConcurrentSameCode(t *testing.T) {
	tests := []struct {
		name     string
		handles  int // store handles over the same file, each with its own Verifier
		parallel int
	}{
		{"goroutines, one Verifier", 1, 8},
		{"two Verifiers over two store handles", 2, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			// Enough allowed failures that the losers never lock.
			opts := &Options{Now: f.clk.Now, MaxFailures: 1000}
			vs := []*Verifier{NewVerifier(f.st, f.lg, secret.NewBytes([]byte(testSecret)), opts)}
			for i := 1; i < tt.handles; i++ {
				st, err := store.Open(ctx, f.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				vs = append(vs, NewVerifier(st, f.lg, secret.NewBytes([]byte(testSecret)), opts))
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
						errs[i] = vs[i%len(vs)].Verify(ctx, c)
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

func TestNotEnrolled(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lg := &recorder{}
	clk := &clock{t: t0}
	tests := []struct {
		name string
		v    *Verifier
	}{
		{"fixed secret", NewVerifier(st, lg, secret.NewBytes([]byte(testSecret)), &Options{Now: clk.Now})},
		{"sealed", NewSealedVerifier(st, lg, secret.NewBytes(make([]byte, 32)), &Options{Now: clk.Now})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.v.Verify(ctx, code(t, testSecret, step0)); !errors.Is(err, ErrNotEnrolled) {
				t.Fatalf("Verify: %v, want ErrNotEnrolled", err)
			}
		})
	}
	if lg.count(EventFailed) != 2 {
		t.Errorf("refusals not audited: %s", lg.text())
	}
}

func TestVerifyFailsClosed(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(f *fixture) *Verifier
	}{
		{"audit log failing", func(f *fixture) *Verifier { f.lg.failing = true; return f.v }},
		{"wiped", func(f *fixture) *Verifier { f.v.Wipe(); return f.v }},
		{"no secret", func(f *fixture) *Verifier { return NewVerifier(f.st, f.lg, nil, &Options{Now: f.clk.Now}) }},
		{"no audit log", func(f *fixture) *Verifier {
			return NewVerifier(f.st, nil, secret.NewBytes([]byte(testSecret)), &Options{Now: f.clk.Now})
		}},
		{"no store", func(f *fixture) *Verifier {
			return NewVerifier(nil, f.lg, secret.NewBytes([]byte(testSecret)), &Options{Now: f.clk.Now})
		}},
		{"clock at zero", func(f *fixture) *Verifier {
			return NewVerifier(f.st, f.lg, secret.NewBytes([]byte(testSecret)), &Options{Now: func() time.Time { return time.Unix(0, 0) }})
		}},
		{"not base32", func(f *fixture) *Verifier {
			return NewVerifier(f.st, f.lg, secret.NewBytes([]byte("not base32!")), &Options{Now: f.clk.Now})
		}},
		{"sealed with another key", func(f *fixture) *Verifier {
			return NewSealedVerifier(f.st, f.lg, secret.NewBytes(make([]byte, 32)), &Options{Now: f.clk.Now})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			v := tt.setup(f)
			if err := v.Verify(ctx, code(t, testSecret, step0)); err == nil {
				t.Fatal("Verify succeeded")
			}
		})
	}
}

func TestSealedVerifierFollowsReenrolment(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	key := secret.NewBytes(bytes.Repeat([]byte{7}, 32))
	sealA, err := Seal(key, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetTOTP(ctx, sealA, t0); err != nil {
		t.Fatal(err)
	}
	v := NewSealedVerifier(f.st, f.lg, secret.CopyBytes(key.Reveal()), &Options{Now: f.clk.Now})
	if err := v.Verify(ctx, code(t, testSecret, step0-1)); err != nil {
		t.Fatalf("code of A: %v", err)
	}
	const secretB = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U" // "abcdefghijklmnopqrst"
	sealB, err := Seal(key, secretB)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetTOTP(ctx, sealB, t0); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(ctx, code(t, testSecret, step0)); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("code of the old secret after re-enrolment: %v, want ErrWrongCode", err)
	}
	if err := v.Verify(ctx, code(t, secretB, step0)); err != nil {
		t.Fatalf("code of B: %v", err)
	}
	// Steps never go back across the re-enrolment.
	if err := v.Verify(ctx, code(t, secretB, step0-1)); !errors.Is(err, ErrReplay) {
		t.Fatalf("earlier step of B: %v, want ErrReplay", err)
	}
	v.Wipe()
	if key.Len() != 32 {
		t.Fatal("Wipe wiped the caller's copy")
	}
}

func TestSealOpen(t *testing.T) {
	key := secret.NewBytes(bytes.Repeat([]byte{1}, 32))
	other := secret.NewBytes(bytes.Repeat([]byte{2}, 32))
	sealed, err := Seal(key, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(testSecret)) {
		t.Fatal("the sealed blob contains the secret")
	}
	again, _ := Seal(key, testSecret)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals are equal: the nonce is not random")
	}
	got, err := Open(key, sealed)
	if err != nil || string(got.Reveal()) != testSecret {
		t.Fatalf("round trip: %v", err)
	}
	tests := []struct {
		name   string
		key    *secret.Bytes
		sealed func() []byte
	}{
		{"wrong key", other, func() []byte { return sealed }},
		{"short key", secret.NewBytes(make([]byte, 16)), func() []byte { return sealed }},
		{"no key", nil, func() []byte { return sealed }},
		{"empty blob", key, func() []byte { return nil }},
		{"truncated", key, func() []byte { return sealed[:len(sealed)-1] }},
		{"header only", key, func() []byte { return sealed[:13] }},
		{"other version", key, func() []byte { b := bytes.Clone(sealed); b[0] = 2; return b }},
		{"appended byte", key, func() []byte { return append(bytes.Clone(sealed), 0) }},
	}
	for i := range sealed {
		tests = append(tests, struct {
			name   string
			key    *secret.Bytes
			sealed func() []byte
		}{fmt.Sprintf("byte %d flipped", i), key, func() []byte { b := bytes.Clone(sealed); b[i] ^= 0x01; return b }})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Open(tt.key, tt.sealed())
			if err == nil || got != nil {
				t.Fatal("opened")
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("error contains the secret")
			}
		})
	}
	for _, bad := range []string{"", "not base32!", "JBSWY3DP", "jbswy3dpehpk3pxpjbswy3dpehpk3pxp"} {
		if _, err := Seal(key, bad); err == nil {
			t.Errorf("Seal(%q) accepted", bad)
		}
	}
	if _, err := Seal(secret.NewBytes(make([]byte, 31)), testSecret); err == nil {
		t.Error("Seal with a 31-byte key accepted")
	}
}

func TestNewSecret(t *testing.T) {
	k, err := NewSecret("laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := otpDecode(k.Secret())
	if err != nil || len(raw) != SecretSize {
		t.Fatalf("secret of %d bytes (%v), want %d", len(raw), err, SecretSize)
	}
	u, err := url.Parse(k.URL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/walletmcp:laptop" || q.Get("issuer") != "walletmcp" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" || q.Get("secret") != k.Secret() {
		t.Fatalf("URI %s", k.URL())
	}
	k2, _ := NewSecret("laptop", &Options{Issuer: "acme"})
	if k2.Issuer() != "acme" || k2.Secret() == k.Secret() {
		t.Fatalf("second secret: issuer %q, same secret %v", k2.Issuer(), k2.Secret() == k.Secret())
	}
	// A new secret seals, and its codes check.
	sealed, err := Seal(secret.NewBytes(make([]byte, 32)), k.Secret())
	if err != nil {
		t.Fatal(err)
	}
	opened, err := Open(secret.NewBytes(make([]byte, 32)), sealed)
	if err != nil {
		t.Fatal(err)
	}
	if step, err := Check(opened, code(t, k.Secret(), step0), t0); err != nil || step != step0 {
		t.Fatalf("Check: %d %v", step, err)
	}
	for _, bad := range []string{"", "a:b"} {
		if _, err := NewSecret(bad, nil); err == nil {
			t.Errorf("account %q accepted", bad)
		}
	}
}

func otpDecode(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

func TestCheck(t *testing.T) {
	sec := secret.NewBytes([]byte(testSecret))
	tests := []struct {
		name     string
		code     string
		wantStep int64
		wantErr  error
	}{
		{"t-1", code(t, testSecret, step0-1), step0 - 1, nil},
		{"t", code(t, testSecret, step0), step0, nil},
		{"t+1", code(t, testSecret, step0+1), step0 + 1, nil},
		{"t+2", code(t, testSecret, step0+2), 0, ErrWrongCode},
		{"malformed", "12 456", 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, err := Check(sec, tt.code, t0)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) || step != tt.wantStep {
				t.Fatalf("Check = %d, %v; want %d, %v", step, err, tt.wantStep, tt.wantErr)
			}
		})
	}
}

// TestNoSecretInErrorsOrAudit runs every kind of outcome and scans the errors
// and the audit events for the secret and the codes typed.
func TestNoSecretInErrorsOrAudit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var typed []string
	var msgs []string
	try := func(c string) {
		typed = append(typed, c)
		if err := f.v.Verify(ctx, c); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	try(code(t, testSecret, step0))
	try(code(t, testSecret, step0)) // replay
	try("98765x")
	for i := 0; i < 5; i++ {
		try(wrongCode(t, testSecret, step0))
	}
	try(code(t, testSecret, step0+1)) // locked
	all := strings.Join(msgs, "\n") + f.lg.text()
	for _, s := range append(typed, testSecret, strings.ToLower(testSecret)) {
		if strings.Contains(all, s) {
			t.Errorf("%q appears in errors or audit events:\n%s", s, all)
		}
	}
}
