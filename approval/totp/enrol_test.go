package totp

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/walletmcp/walletmcp/internal/store"
)

// TestEnrolmentProtocol: a first enrolment stores the secret once a code of
// it is confirmed (a wrong one audited, nothing stored); a re-enrolment needs
// a current code of the old secret first, and that code is spent.
func TestEnrolmentProtocol(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"), &store.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lg := &recorder{}

	en, err := BeginEnrolment(ctx, st, lg, testKey(), clk.Now)
	if err != nil || en.Reenrol() || en.StateInvalid() {
		t.Fatalf("begin: %v reenrol=%v", err, en != nil && en.Reenrol())
	}
	if err := en.Save(ctx); err == nil {
		t.Fatal("saved before a confirmation")
	}
	k1, err := en.NewSecret("host")
	if err != nil {
		t.Fatal(err)
	}
	if err := en.Confirm(ctx, code(t, k1.Secret(), step0+5)); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("confirm with a wrong code: %v", err)
	}
	if lg.count(EventEnrolFailed) != 1 {
		t.Fatalf("refused confirmation not audited: %s", lg.text())
	}
	if _, err := st.TOTP(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused confirmation stored something: %v", err)
	}
	if err := en.Confirm(ctx, code(t, k1.Secret(), step0)); err != nil {
		t.Fatal(err)
	}
	if err := en.Save(ctx); err != nil {
		t.Fatal(err)
	}
	en.Wipe()
	if s, err := st.TOTP(ctx); err != nil || s.LastStep != step0 {
		t.Fatalf("after enrolment: %+v %v, want the confirmation step spent", s, err)
	}

	// Re-enrolment.
	clk.Advance(30e9)
	en, err = BeginEnrolment(ctx, st, lg, testKey(), clk.Now)
	if err != nil || !en.Reenrol() || en.StateInvalid() {
		t.Fatalf("begin again: %v", err)
	}
	defer en.Wipe()
	if _, err := en.NewSecret("host"); err == nil {
		t.Fatal("a new secret before the old code")
	}
	if err := en.CheckOldCode(ctx, code(t, k1.Secret(), step0)); !errors.Is(err, ErrReplay) {
		t.Fatalf("old code of a spent step: %v, want ErrReplay", err)
	}
	if err := en.CheckOldCode(ctx, code(t, k1.Secret(), step0+1)); err != nil {
		t.Fatal(err)
	}
	k2, err := en.NewSecret("host")
	if err != nil || k2.Secret() == k1.Secret() {
		t.Fatalf("second secret: %v", err)
	}
	if err := en.Confirm(ctx, code(t, k2.Secret(), step0+1)); err != nil {
		t.Fatal(err)
	}
	if err := en.Save(ctx); err != nil {
		t.Fatal(err)
	}
	v := NewSealedVerifier(st, lg, testKey(), &Options{Now: clk.Now})
	defer v.Wipe()
	if _, err := v.Verify(ctx, code(t, k2.Secret(), step0+2), cli); err != nil {
		t.Fatalf("the new secret does not verify: %v", err)
	}
}

// TestReenrolWhenTheSecretIsBroken: someone who can write state.db but not
// read the passphrase overwrites the sealed secret. Every code is then
// refused, and no code of the old secret can be checked: the re-enrolment
// (whose caller unlocked the home with the passphrase) goes on without one,
// audited, and the new secret verifies. A secret that still opens keeps
// needing its code.
func TestReenrolWhenTheSecretIsBroken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.exec(t, `UPDATE totp SET sealed = x'01020304'`)
	if _, err := f.v.Verify(ctx, code(t, testSecret, step0), cli); err == nil {
		t.Fatal("a code verified against a broken secret")
	}
	en, err := BeginEnrolment(ctx, f.st, f.lg, testKey(), f.clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer en.Wipe()
	if !en.Reenrol() || !en.StateInvalid() || !en.SecretLost() {
		t.Fatalf("reenrol %v, state invalid %v, secret lost %v", en.Reenrol(), en.StateInvalid(), en.SecretLost())
	}
	if f.lg.count(EventReenrolSecretLost) != 1 {
		t.Fatalf("not audited: %s", f.lg.text())
	}
	k, err := en.NewSecret("host")
	if err != nil {
		t.Fatalf("a new secret for a broken one: %v", err)
	}
	if err := en.Confirm(ctx, code(t, k.Secret(), step0)); err != nil {
		t.Fatal(err)
	}
	if err := en.Save(ctx); err != nil {
		t.Fatal(err)
	}
	v := f.verifier(f.st, nil)
	defer v.Wipe()
	if _, err := v.Verify(ctx, code(t, k.Secret(), step0+1), cli); err != nil {
		t.Fatalf("the new secret does not verify: %v", err)
	}

	// Only the seal being broken lifts the old code: a state that does not
	// verify, its secret intact, still needs one.
	f.exec(t, `UPDATE totp SET last_step = -1`)
	en2, err := BeginEnrolment(ctx, f.st, f.lg, testKey(), f.clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer en2.Wipe()
	if !en2.StateInvalid() || en2.SecretLost() {
		t.Fatalf("state invalid %v, secret lost %v", en2.StateInvalid(), en2.SecretLost())
	}
	if _, err := en2.NewSecret("host"); err == nil {
		t.Fatal("a new secret without the old code, the old secret intact")
	}
}
