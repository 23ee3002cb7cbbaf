package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestTOTPNotEnrolled(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.TOTP(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("TOTP: %v, want ErrNotFound", err)
	}
	if err := s.AcceptTOTPStep(ctx, 5, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("AcceptTOTPStep: %v, want ErrNotFound", err)
	}
	if _, err := s.RecordTOTPFailure(ctx, now, 5, time.Minute); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordTOTPFailure: %v, want ErrNotFound", err)
	}
	for _, sealed := range [][]byte{nil, make([]byte, MaxSealedTOTPLen+1)} {
		if err := s.SetTOTP(ctx, sealed, now); err == nil {
			t.Errorf("SetTOTP accepted a %d-byte blob", len(sealed))
		}
	}
}

func TestTOTPSteps(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		steps   []int64
		wantErr []error
	}{
		{"increasing", []int64{10, 11, 13}, []error{nil, nil, nil}},
		{"same step twice", []int64{10, 10}, []error{nil, ErrReplay}},
		{"going back", []int64{10, 9}, []error{nil, ErrReplay}},
		{"replay then newer", []int64{10, 10, 11}, []error{nil, ErrReplay, nil}},
		{"zero is a step", []int64{0, 0}, []error{nil, ErrReplay}},
		{"negative", []int64{-1}, []error{errAny}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, nil)
			if err := s.SetTOTP(ctx, []byte("sealed"), now); err != nil {
				t.Fatal(err)
			}
			st, err := s.TOTP(ctx)
			if err != nil || st.LastStep != -1 || st.Failures != 0 || !st.LockedUntil.IsZero() || !st.EnrolledAt.Equal(now) || string(st.Sealed) != "sealed" {
				t.Fatalf("fresh enrolment: %+v %v", st, err)
			}
			for i, step := range tt.steps {
				err := s.AcceptTOTPStep(ctx, step, now)
				want := tt.wantErr[i]
				if (want == nil) != (err == nil) || (want != nil && want != errAny && !errors.Is(err, want)) {
					t.Fatalf("step %d (#%d): %v, want %v", step, i, err, want)
				}
			}
		})
	}
}

func TestTOTPReenrolKeepsLastStep(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.SetTOTP(ctx, []byte("one"), now); err != nil {
		t.Fatal(err)
	}
	if err := s.AcceptTOTPStep(ctx, 100, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordTOTPFailure(ctx, now, 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	if err := s.SetTOTP(ctx, []byte("two"), later); err != nil {
		t.Fatal(err)
	}
	st, err := s.TOTP(ctx)
	if err != nil || string(st.Sealed) != "two" || !st.EnrolledAt.Equal(later) || st.LastStep != 100 || st.Failures != 0 {
		t.Fatalf("after re-enrolment: %+v %v", st, err)
	}
	if err := s.AcceptTOTPStep(ctx, 100, later); !errors.Is(err, ErrReplay) {
		t.Errorf("old step after re-enrolment: %v, want ErrReplay", err)
	}
}

func TestTOTPLockout(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.SetTOTP(ctx, []byte("sealed"), now); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		until, err := s.RecordTOTPFailure(ctx, now, 5, 15*time.Minute)
		if err != nil || !until.IsZero() {
			t.Fatalf("failure %d: locked until %v (%v)", i, until, err)
		}
	}
	// A success resets the count.
	if err := s.AcceptTOTPStep(ctx, 1, now); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.TOTP(ctx); st.Failures != 0 {
		t.Fatalf("failures after success: %d", st.Failures)
	}
	var until time.Time
	for i := 1; i <= 5; i++ {
		u, err := s.RecordTOTPFailure(ctx, now, 5, 15*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if (i == 5) != !u.IsZero() {
			t.Fatalf("failure %d: locked until %v", i, u)
		}
		until = u
	}
	if want := now.Add(15 * time.Minute); !until.Equal(want) {
		t.Fatalf("locked until %v, want %v", until, want)
	}
	st, _ := s.TOTP(ctx)
	if st.Failures != 0 || !st.LockedUntil.Equal(until) {
		t.Fatalf("state after lockout: %+v", st)
	}
	tests := []struct {
		name string
		at   time.Time
		step int64
		want error
	}{
		{"locked", now.Add(time.Minute), 2, ErrLocked},
		{"last locked instant", until.Add(-time.Nanosecond), 3, ErrLocked},
		{"unlocked", until, 4, nil},
	}
	for _, tt := range tests {
		if err := s.AcceptTOTPStep(ctx, tt.step, tt.at); !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	// A failure while locked does not shorten the lock.
	if err := s.SetTOTP(ctx, []byte("sealed"), now); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := s.RecordTOTPFailure(ctx, now, 5, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.RecordTOTPFailure(ctx, now, 1, time.Minute)
	if err != nil || !u.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("a shorter lock replaced a longer one: %v %v", u, err)
	}
	for _, bad := range []struct {
		max  int
		lock time.Duration
	}{{0, time.Minute}, {5, 0}, {5, -time.Minute}} {
		if _, err := s.RecordTOTPFailure(ctx, now, bad.max, bad.lock); err == nil {
			t.Errorf("RecordTOTPFailure(%d, %v) accepted", bad.max, bad.lock)
		}
	}
}

func TestTOTPAcceptConcurrent(t *testing.T) {
	// The same step offered at once over two handles of one file: one wins.
	ctx := context.Background()
	s1, path := openTest(t, nil)
	s2, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s1.SetTOTP(ctx, []byte("sealed"), now); err != nil {
		t.Fatal(err)
	}
	for step := int64(0); step < 20; step++ {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = []*Store{s1, s2}[i%2].AcceptTOTPStep(ctx, step, now)
			}()
		}
		wg.Wait()
		ok := 0
		for _, e := range errs {
			switch {
			case e == nil:
				ok++
			case !errors.Is(e, ErrReplay):
				t.Fatalf("step %d: %v", step, e)
			}
		}
		if ok != 1 {
			t.Fatalf("step %d accepted %d times", step, ok)
		}
	}
}
