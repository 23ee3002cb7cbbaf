package audit

import (
	"context"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitForLockWaiter returns once /proc/locks shows a process waiting for a
// lock on the file at path. It fails if done delivers first: what should
// have waited did not.
func waitForLockWaiter(t *testing.T, path string, done <-chan error) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ino := ":" + strconv.FormatUint(fi.Sys().(*syscall.Stat_t).Ino, 10)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Skipf("cannot read /proc/locks: %v", err)
		}
		for line := range strings.Lines(string(b)) {
			// "1: -> FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
			f := strings.Fields(line)
			if len(f) >= 7 && f[1] == "->" && f[2] == "FLOCK" && strings.HasSuffix(f[6], ino) {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("finished (%v) without waiting for the lock", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing waited for the log's lock")
		}
	}
}

// TestLiveWriterNotRepaired: a writer in the middle of a commit holds the
// lock, so its half-written batch is not a crash leftover. Open, a commit's
// catch-up and Verify wait for the lock instead of cutting it off or
// reporting it, and then see the complete record.
func TestLiveWriterNotRepaired(t *testing.T) {
	const n = 3
	tests := []struct {
		name string
		run  func(path string, a *Log) error // a: a Log opened before the live commit
	}{
		{"Open", func(path string, _ *Log) error {
			l, err := Open(path, nil)
			if err != nil {
				return err
			}
			return l.Close()
		}},
		{"Append", func(_ string, a *Log) error {
			return a.Append(context.Background(), TypeVerdict, nil)
		}},
		{"Verify", func(path string, _ *Log) error {
			sum, err := Verify(path)
			if err == nil && sum.Records != n+1 {
				t.Errorf("Verify saw %d records, want %d", sum.Records, n+1)
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			writeLog(t, path, n)
			a := mustOpen(t, path)
			defer a.Close()

			// The live writer: lock, write half of record n+1.
			w, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := lockFile(w, true); err != nil {
				t.Fatal(err)
			}
			lines := readLines(t, path)
			rec, sum := forge(n+1, mustParse(t, lines[n-1]).Hash, `{"live":true}`)
			rec = append(rec, '\n')
			if _, err := w.Write(rec[:len(rec)/2]); err != nil {
				t.Fatal(err)
			}

			done := make(chan error, 1)
			go func() { done <- tt.run(path, a) }()
			waitForLockWaiter(t, path, done)

			// Finish the commit: the rest of the line, then the head.
			if _, err := w.Write(rec[len(rec)/2:]); err != nil {
				t.Fatal(err)
			}
			writeHeadFile(t, path, n+1, hex.EncodeToString(sum[:]))
			if err := unlockFile(w); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(path); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			for i, line := range readLines(t, path) {
				if r := mustParse(t, line); r.Type == TypeSecurity {
					t.Fatalf("record %d is a repair record: %s", i+1, r.Data)
				}
			}
			if got := string(readLines(t, path)[n]); got != string(rec[:len(rec)-1]) {
				t.Fatalf("record %d = %s, want the live writer's", n+1, got)
			}
		})
	}
}
