package store

import (
	"context"
	"sync"
	"testing"
)

// TestChangeMark: a handle's mark stays the same while nothing is committed
// and moves with every commit, by another handle (another process), by this
// handle's own writes (other pooled connections) and by a plain SQLite
// connection outside the store; a failed read on a closed store is an error.
func TestChangeMark(t *testing.T) {
	ctx := context.Background()
	s1, path := openTest(t, nil)
	s2, err := Open(ctx, path, withKey(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	mark := func(s *Store) ChangeMark {
		t.Helper()
		m, err := s.ChangeMark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := mark(s1)
	if m == (ChangeMark{}) {
		t.Fatal("a read mark equals the zero mark")
	}
	// Reads, on either handle, change nothing.
	if _, _, err := s1.Changes(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s2.Changes(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := mark(s1); got != m {
		t.Fatalf("mark moved without a commit: %+v -> %+v", m, got)
	}
	for _, step := range []struct {
		name   string
		commit func()
	}{
		{"another handle's insert", func() { create(t, s2, testTransfer()) }},
		{"this handle's insert", func() { create(t, s1, testTransfer()) }},
		{"a plain connection's update", func() {
			db := openShell(t, path)
			if _, err := db.Exec(`UPDATE transfers SET error = 'x' WHERE seq = 1`); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		step.commit()
		got := mark(s1)
		if got == m {
			t.Fatalf("%s: mark did not move (%+v)", step.name, got)
		}
		if again := mark(s1); again != got {
			t.Fatalf("%s: mark moved without a commit: %+v -> %+v", step.name, got, again)
		}
		m = got
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.ChangeMark(ctx); err == nil {
		t.Fatal("mark of a closed store: no error")
	}
}

// TestChangeMarkConcurrentClose: marks read at once by many goroutines agree
// while nothing commits, and Close with callers still arriving neither hangs
// nor races (run with -race).
func TestChangeMarkConcurrentClose(t *testing.T) {
	ctx := context.Background()
	_, path := openTest(t, nil)
	s2, err := Open(ctx, path, withKey(nil))
	if err != nil {
		t.Fatal(err)
	}
	want, err := s2.ChangeMark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if m, err := s2.ChangeMark(ctx); err != nil || m != want {
					t.Errorf("concurrent mark %+v, %v; want %+v", m, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	// Each caller stops at its first error, which every call after Close is.
	for range 4 {
		wg.Go(func() {
			for {
				if _, err := s2.ChangeMark(ctx); err != nil {
					return
				}
			}
		})
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// BenchmarkChangeMark is one ChangeMark from a new goroutine, as an MCP
// handler calls it (go-sdk runs each request on its own goroutine, whose
// stack starts small).
func BenchmarkChangeMark(b *testing.B) {
	s, _ := openTest(b, nil)
	ctx := context.Background()
	done := make(chan error)
	for b.Loop() {
		go func() {
			_, err := s.ChangeMark(ctx)
			done <- err
		}()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
