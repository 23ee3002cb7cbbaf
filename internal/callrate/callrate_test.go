package callrate

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func open(t *testing.T, path string, n int, c *clock) *Limiter {
	t.Helper()
	l, err := Open(path, n, time.Minute, c.now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// TestSameAsTokenBucket: the limiter allows exactly the calls that
// x/time/rate's Limiter with burst n allows, over an irregular schedule.
func TestSameAsTokenBucket(t *testing.T) {
	c := newClock()
	l := open(t, filepath.Join(t.TempDir(), "calls.rate"), 6, c)
	ref := rate.NewLimiter(rate.Limit(6.0/60), 6)
	steps := []time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 9 * time.Second, time.Second, 10 * time.Second, 0, 0, 30 * time.Second, 0, 0, 0, 0, time.Minute, 0, 0, 0, 0, 0, 0, 0, 0, 9999 * time.Millisecond, 1 * time.Millisecond, 0}
	for i, d := range steps {
		c.add(d)
		want := ref.AllowN(c.now(), 1)
		if got := l.Allow(); got != want {
			t.Fatalf("call %d at +%s: Allow = %v, token bucket says %v", i, d, got, want)
		}
	}
}

// TestTwoOpensShareTheLimit: two Limiters on one file (two mappings of it,
// as two processes have) together allow n calls, not 2n.
func TestTwoOpensShareTheLimit(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "calls.rate")
	a, b := open(t, path, 5, c), open(t, path, 5, c)
	allowed := 0
	for i := range 20 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if l.Allow() {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("two opens allowed %d calls in one instant, want 5", allowed)
	}
	c.add(12 * time.Second) // one interval
	if !b.Allow() || a.Allow() {
		t.Fatal("one interval later: want exactly one more call")
	}
	// A third open, later (a restarted process), sees the same state.
	if open(t, path, 5, c).Allow() {
		t.Fatal("a new open started with a full bucket")
	}
}

// TestConcurrentCallers: many goroutines on two opens never pass the limit.
func TestConcurrentCallers(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "calls.rate")
	ls := []*Limiter{open(t, path, 100, c), open(t, path, 100, c)}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for range 50 {
				if ls[g%2].Allow() {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Fatalf("%d of 800 concurrent calls allowed, want exactly 100", n)
	}
}

// TestStateAheadRestarts: a state further ahead than allowed calls can put
// it (the clock went back, or the file was written) restarts from now
// instead of refusing every call; a state in the past is a full bucket.
func TestStateAheadRestarts(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "calls.rate")
	l := open(t, path, 3, c)
	for _, v := range []int64{c.now().Add(24 * time.Hour).UnixNano(), -1, 1 << 62} {
		var b [8]byte
		binary.NativeEndian.PutUint64(b[:], uint64(v))
		if err := os.WriteFile(path, b[:], 0o600); err != nil {
			t.Fatal(err)
		}
		allowed := 0
		for range 5 {
			if l.Allow() {
				allowed++
			}
		}
		if allowed != 3 {
			t.Errorf("state %d: %d of 5 calls allowed, want 3", v, allowed)
		}
		c.add(time.Minute)
	}
}

// TestTruncatedFileFallsBack: a state file cut to nothing under the mapping
// (a write to the page then faults) does not crash the process; the
// limiter keeps counting in its own memory.
func TestTruncatedFileFallsBack(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "calls.rate")
	l := open(t, path, 2, c)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	got := []bool{l.Allow(), l.Allow(), l.Allow()}
	if !got[0] || !got[1] || got[2] {
		t.Fatalf("after truncation: %v, want [true true false]", got)
	}
}

// TestOpenRefusesBadArgsAndPaths: nonsense limits and a state path that is
// a directory or a symbolic link are refused with the path named.
func TestOpenRefusesBadArgsAndPaths(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "x"), 0, time.Minute, nil); err == nil {
		t.Error("0 calls per minute accepted")
	}
	if _, err := Open(dir, 1, time.Minute, nil); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a directory as the state file: %v", err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "target"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(link, 1, time.Minute, nil); err == nil {
		t.Error("a symbolic link as the state file was followed")
	}
	p := filepath.Join(dir, "calls.rate")
	l, err := Open(p, 1, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, %v; want 0600", fi.Mode(), err)
	}
}

// TestProcessesShareTheLimit: separate processes (this test binary run
// again) share one file's limit.
func TestProcessesShareTheLimit(t *testing.T) {
	if path := os.Getenv("CALLRATE_CHILD"); path != "" {
		l, err := Open(path, 40, time.Hour, nil)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		n := 0
		for range 30 {
			if l.Allow() {
				n++
			}
		}
		fmt.Println("allowed", n)
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "calls.rate")
	total := 0
	for range 3 {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestProcessesShareTheLimit$")
		cmd.Env = append(os.Environ(), "CALLRATE_CHILD="+path)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v %s", err, out)
		}
		f := strings.Fields(string(out))
		if len(f) < 2 || f[0] != "allowed" {
			t.Fatalf("child said %q", out)
		}
		n, _ := strconv.Atoi(f[1])
		total += n
	}
	// 3 processes × 30 calls within a few seconds of a 40-per-hour limit.
	if total != 40 {
		t.Fatalf("3 processes were allowed %d calls in all, want 40", total)
	}
}
