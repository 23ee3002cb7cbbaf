package totp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/internal/store"
)

// memStore is a Store in memory: the state as Enrol left it, with a write
// that can be made to fail.
type memStore struct {
	state   *store.TOTPState
	failing bool
}

func (m *memStore) TOTP(context.Context) (*store.TOTPState, error) {
	if m.state == nil {
		return nil, store.ErrNotFound
	}
	c := *m.state
	return &c, nil
}

func (m *memStore) UpdateTOTP(_ context.Context, scope string, fn func(u *store.TOTPUpdate) error) error {
	u := &store.TOTPUpdate{}
	if m.state != nil {
		c := *m.state
		u.State = &c
	}
	if scope != "" {
		u.Counter = &store.TOTPCounter{Scope: scope}
	}
	if err := fn(u); err != nil {
		return err
	}
	if m.failing {
		return errors.New("store: disk full")
	}
	m.state = u.State
	return nil
}

func (m *memStore) PruneTOTPCounters(context.Context, time.Time) (int, error) { return 0, nil }
func (m *memStore) DeleteTOTPCounters(context.Context) error                  { return nil }

// TestVerifyFailsClosedOnAStoreError: a right code whose step cannot be
// recorded as used is refused (else it could be replayed), and a later write
// that works accepts it once.
func TestVerifyFailsClosedOnAStoreError(t *testing.T) {
	ctx := context.Background()
	m := &memStore{}
	if err := Enrol(ctx, m, testKey(), testSecret, -1, t0); err != nil {
		t.Fatal(err)
	}
	v := NewSealedVerifier(m, &recorder{}, testKey(), &Options{Now: func() time.Time { return t0 }})
	defer v.Wipe()
	m.failing = true
	if step, err := v.Verify(ctx, code(t, testSecret, step0), cli); err == nil || step != -1 {
		t.Fatalf("with a failing store: step %d, %v; want a refusal", step, err)
	}
	m.failing = false
	if step, err := v.Verify(ctx, code(t, testSecret, step0), cli); err != nil || step != step0 {
		t.Fatalf("step %d, %v", step, err)
	}
	if _, err := v.Verify(ctx, code(t, testSecret, step0), cli); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed code: %v, want ErrReplay", err)
	}
}
