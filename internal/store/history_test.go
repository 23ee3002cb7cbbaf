package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestFillHistory: the generated history verifies (every row's MAC, the
// head over them) and lies outside a day's window; a second fill is refused.
func TestFillHistory(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s, err := Open(ctx, filepath.Join(t.TempDir(), "state.db"), withKey(&Options{Now: func() time.Time { return now }}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.FillHistory(ctx, 50, 1337, alice, bob, now); err != nil {
		t.Fatal(err)
	}
	if ts, _, err := s.LoadLedger(ctx, now.Add(-24*time.Hour)); err != nil || len(ts) != 0 {
		t.Fatalf("day window: %d transfers, %v; want none", len(ts), err)
	}
	ts, h, err := s.LoadLedger(ctx, now.Add(-72*time.Hour))
	if err != nil || len(ts) != 50 || h.Seq != 50 {
		t.Fatalf("LoadLedger = %d transfers, head %+v, %v; want 50", len(ts), h, err)
	}
	if err := s.FillHistory(ctx, 1, 1337, alice, bob, now); err == nil {
		t.Fatal("a second fill was accepted")
	}
}
