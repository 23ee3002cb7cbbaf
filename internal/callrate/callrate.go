// Package callrate is a rate limit shared by every process that opens the
// same state file: `walletmcp serve` processes on one home together make at
// most the policy's rate.tool_calls_per_minute tool calls, however many of
// them run.
//
// The limit is a generic cell rate algorithm (GCRA, the token bucket
// expressed as one number): the state is the theoretical arrival time of the
// next call, one int64 of nanoseconds since the Unix epoch, kept in a small
// file that each process maps into its memory (MAP_SHARED). A call is
// allowed when moving that time one interval forward keeps it within the
// burst of now, and the move is a compare-and-swap on the mapped word, so
// processes never lose each other's calls and a call costs no system call.
// A bucket of n calls per period refilled continuously, as
// golang.org/x/time/rate's Limiter with burst n, allows exactly the same
// calls.
//
// Anyone who can write the home can reset the state (or stop the processes
// outright); the limit paces the agent's MCP calls, it is not a spending
// safeguard (those are in the store, under its MAC). A state further ahead
// than any sequence of allowed calls can put it (the clock went back, or the
// file was written) is restarted from now. Platforms without mmap keep the
// word in the process's memory (per process, as before).
package callrate

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Limiter allows at most n calls per period, in bursts of at most n, across
// every process that opened the same file.
type Limiter struct {
	interval int64 // period / n, in ns
	burst    int64 // n * interval
	now      func() time.Time
	word     *int64 // the theoretical arrival time, in the mapping
	unmap    func() error
	// fallback counts alone once the mapping faulted (the file was cut
	// under it): the process's own limit, never none.
	fallback atomic.Pointer[int64]
}

// Open maps the state file at path (created 0600 when missing) and returns a
// Limiter of n calls per period read at now (time.Now when nil).
func Open(path string, n int, per time.Duration, now func() time.Time) (*Limiter, error) {
	if n < 1 || per <= 0 {
		return nil, fmt.Errorf("callrate: %d calls per %s: want at least 1 call per positive period", n, per)
	}
	if now == nil {
		now = time.Now
	}
	interval := int64(per) / int64(n)
	if interval < 1 {
		interval = 1
	}
	word, unmap, err := mapWord(path)
	if err != nil {
		return nil, fmt.Errorf("callrate: %s: %w", path, err)
	}
	return &Limiter{interval: interval, burst: interval * int64(n), now: now, word: word, unmap: unmap}, nil
}

// Allow reports whether one more call is within the limit now, and counts it
// if so.
func (l *Limiter) Allow() (ok bool) {
	now := l.now().UnixNano()
	if w := l.fallback.Load(); w != nil {
		return l.allow(w, now)
	}
	// The mapped page faults (SIGBUS) if the file was truncated under the
	// mapping: count in this process's memory from then on.
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if _, isFault := r.(interface{ Addr() uintptr }); !isFault {
				panic(r)
			}
			w := new(int64)
			l.fallback.CompareAndSwap(nil, w)
			ok = l.allow(l.fallback.Load(), now)
		}
	}()
	return l.allow(l.word, now)
}

// allow is the GCRA step on the word w at now.
func (l *Limiter) allow(w *int64, now int64) bool {
	for {
		tat := atomic.LoadInt64(w)
		base := tat
		if base < now || base > now+l.burst {
			// Behind now: the bucket is full. Beyond any state allowed
			// calls reach: restart from now.
			base = now
		}
		next := base + l.interval
		if next-now > l.burst {
			return false
		}
		if atomic.CompareAndSwapInt64(w, tat, next) {
			return true
		}
	}
}

// Close unmaps the state file. Allow must not be called after Close.
func (l *Limiter) Close() error {
	if l.unmap == nil {
		return nil
	}
	err := l.unmap()
	l.unmap = nil
	return err
}
