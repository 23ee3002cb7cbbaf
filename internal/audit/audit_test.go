package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAppendReopenContinuesChain(t *testing.T) {
	path := newPath(t)
	writeLog(t, path, 3)

	l := mustOpen(t, path)
	if seq, _ := l.Head(); seq != 3 {
		t.Fatalf("Head after reopen: seq %d, want 3", seq)
	}
	for i := 4; i <= 5; i++ {
		if err := l.Append(context.Background(), TypeVerdict, map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	headSeq, headHash := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	sum, err := Verify(path)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if sum.Records != 5 || sum.LastSeq != 5 || sum.LastHash != headHash || headSeq != 5 {
		t.Fatalf("Verify = %+v, Head = %d %s", sum, headSeq, headHash)
	}

	lines := readLines(t, path)
	prev := zeroHash
	for i, line := range lines {
		r := mustParse(t, line)
		if r.Seq != uint64(i+1) {
			t.Errorf("line %d: seq %d", i+1, r.Seq)
		}
		if r.Prev != prev {
			t.Errorf("line %d: prev does not chain", i+1)
		}
		if r.Sum != r.Hash {
			t.Errorf("line %d: hash mismatch", i+1)
		}
		wantType := TypeToolCall
		if i >= 3 {
			wantType = TypeVerdict
		}
		if r.Type != wantType {
			t.Errorf("line %d: type %q, want %q", i+1, r.Type, wantType)
		}
		var d struct{ I int }
		if err := json.Unmarshal(r.Data, &d); err != nil || d.I != i+1 {
			t.Errorf("line %d: data %s", i+1, r.Data)
		}
		prev = r.Hash
	}
	// The clock restarts at each Open: the first record of each session
	// carries the first tick.
	if got := mustParse(t, lines[3]).Time; got != "2025-03-04T05:06:08.123456789Z" {
		t.Errorf("time = %q", got)
	}
	for _, p := range []string{path, path + HeadSuffix} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	head, err := os.ReadFile(path + HeadSuffix)
	if err != nil {
		t.Fatal(err)
	}
	wantHead := fmt.Sprintf(`{"seq":5,"hash":"%s"}`, headHash)
	if len(head) != headSize || !strings.HasPrefix(string(head), wantHead) {
		t.Errorf("head file = %q, want %q padded to %d bytes", head, wantHead, headSize)
	}
}

func TestOpenNewAndEmpty(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
	}{
		{"nothing", func(*testing.T, string) {}},
		{"empty log without head", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"closed without records", func(t *testing.T, path string) {
			if err := mustOpen(t, path).Close(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			tt.setup(t, path)
			l := mustOpen(t, path)
			if seq, hash := l.Head(); seq != 0 || hash != strings.Repeat("0", 64) {
				t.Errorf("Head = %d %s", seq, hash)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			sum, err := Verify(path)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if sum.Records != 0 || sum.LastSeq != 0 || sum.LastHash != strings.Repeat("0", 64) {
				t.Errorf("Verify = %+v", sum)
			}
		})
	}
}

func TestAppendRejects(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		fields any
		want   error // nil: any error
	}{
		{"empty type", "", nil, ErrInvalidType},
		{"type with space", "tool call", nil, ErrInvalidType},
		{"type with quote", `a"b`, nil, ErrInvalidType},
		{"type with newline", "a\nb", nil, ErrInvalidType},
		{"type too long", strings.Repeat("a", MaxTypeLen+1), nil, ErrInvalidType},
		{"string data", TypeSecurity, "just a string", ErrInvalidData},
		{"array data", TypeSecurity, []int{1, 2}, ErrInvalidData},
		{"number data", TypeSecurity, 42, ErrInvalidData},
		{"data too large", TypeSecurity, map[string]string{"x": strings.Repeat("a", MaxDataSize)}, ErrTooLarge},
		{"unencodable data", TypeSecurity, map[string]any{"c": make(chan int)}, nil},
	}
	path := newPath(t)
	l := mustOpen(t, path)
	defer l.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := l.Append(context.Background(), tt.typ, tt.fields)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Append = %v, want %v", err, tt.want)
			}
		})
	}
	// Nothing was written, and the log still works.
	if err := l.Append(context.Background(), TypeStart, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), TypeStart, map[string]any(nil)); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), strings.Repeat("a", MaxTypeLen), json.RawMessage(` { "x" : 1 } `)); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	for i, want := range []string{"{}", "{}", `{"x":1}`} {
		if got := string(mustParse(t, lines[i]).Data); got != want {
			t.Errorf("record %d data = %s, want %s", i+1, got, want)
		}
	}
}

func TestAppendLargestRecord(t *testing.T) {
	path := newPath(t)
	l := mustOpen(t, path)
	// {"x":"aaa..."} of exactly MaxDataSize bytes, with the longest type.
	data := map[string]string{"x": strings.Repeat("a", MaxDataSize-8)}
	if err := l.Append(context.Background(), strings.Repeat("t", MaxTypeLen), data); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(path); err != nil {
		t.Fatal(err)
	}
}

func TestAppendAfterClose(t *testing.T) {
	l := mustOpen(t, newPath(t))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), TypeStart, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestAppendCanceledContext(t *testing.T) {
	path := newPath(t)
	l := mustOpen(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Append(ctx, TypeStart, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append = %v, want context.Canceled", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if sum, err := Verify(path); err != nil || sum.Records != 0 {
		t.Fatalf("Verify = %+v, %v; want no records", sum, err)
	}
}

// TestOpenKeepsNoLock: a second Log opens a file another Log has open, and
// both append to it.
func TestOpenKeepsNoLock(t *testing.T) {
	path := newPath(t)
	l1 := mustOpen(t, path)
	l2 := mustOpen(t, path)
	ctx := context.Background()
	for i, l := range []*Log{l1, l2, l1, l2, l2} {
		if err := l.Append(ctx, TypeToolCall, map[string]int{"i": i}); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if seq, _ := l.Head(); seq != uint64(i+1) {
			t.Fatalf("Append %d: Head seq %d, want %d", i, seq, i+1)
		}
	}
	for _, l := range []*Log{l1, l2} {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if sum, err := Verify(path); err != nil || sum.Records != 5 {
		t.Fatalf("Verify = %+v, %v", sum, err)
	}
}

func TestLogStopsAfterWriteFailure(t *testing.T) {
	path := newPath(t)
	l := mustOpen(t, path)
	if err := l.Append(context.Background(), TypeStart, nil); err != nil {
		t.Fatal(err)
	}
	// Pull the file out from under the writer: the next commit fails.
	l.f.Close()
	err1 := l.Append(context.Background(), TypeToolCall, nil)
	if err1 == nil {
		t.Fatal("Append on a failed file succeeded")
	}
	err2 := l.Append(context.Background(), TypeToolCall, nil)
	if err2 == nil || err2.Error() != err1.Error() {
		t.Fatalf("second Append = %v, want the sticky %v", err2, err1)
	}
	if records, _ := l.Stats(); records != 1 {
		t.Errorf("records = %d, want 1", records)
	}
	if err := l.Close(); err == nil {
		t.Error("Close after failure returned nil")
	}
	if sum, err := Verify(path); err != nil || sum.Records != 1 {
		t.Fatalf("Verify = %+v, %v", sum, err)
	}
}

// TestGroupCommit runs 64 goroutines × 50 appends. "slow disk" holds each
// fsync until every other appender has queued its record, as a disk whose
// fsync takes longer than queuing does; "disk" is the real file system,
// whose ratio is logged rather than asserted.
func TestGroupCommit(t *testing.T) {
	const goroutines, perG = 64, 50
	tests := []struct {
		name     string
		slowDisk bool
	}{
		{"slow disk", true},
		{"disk", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			opts := &Options{Now: testClock()}
			var l *Log
			var finished sync.WaitGroup
			var done atomic.Int64 // appenders that have returned for good
			if tt.slowDisk {
				opts.beforeSync = func(inCommit int) {
					// Hold the fsync until every appender still running is
					// either in this commit or queued for the next one. The
					// others are runnable (between two Appends), so yielding
					// lets them get there.
					for {
						l.mu.Lock()
						queued := 0
						if l.cur != nil {
							queued = len(l.cur.recs)
						}
						l.mu.Unlock()
						if int64(inCommit+queued) >= goroutines-done.Load() {
							return
						}
						runtime.Gosched()
					}
				}
			}
			var err error
			l, err = Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, goroutines)
			for g := range goroutines {
				finished.Add(1)
				go func() {
					defer finished.Done()
					defer done.Add(1)
					for i := range perG {
						if err := l.Append(context.Background(), TypeToolCall, map[string]int{"g": g, "i": i}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			finished.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			records, syncs := l.Stats()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d records, %d fsyncs (%.3f per record)", records, syncs, float64(syncs)/float64(records))
			if records != goroutines*perG {
				t.Fatalf("records = %d, want %d", records, goroutines*perG)
			}
			if tt.slowDisk && syncs >= records/4 {
				t.Errorf("%d fsyncs for %d records: not batched", syncs, records)
			}

			sum, err := Verify(path)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Records != goroutines*perG {
				t.Fatalf("Verify: %d records", sum.Records)
			}
			next := make([]int, goroutines)
			for n, line := range readLines(t, path) {
				var d struct{ G, I int }
				if err := json.Unmarshal(mustParse(t, line).Data, &d); err != nil {
					t.Fatal(err)
				}
				if d.I != next[d.G] {
					t.Fatalf("line %d: goroutine %d append %d, want %d", n+1, d.G, d.I, next[d.G])
				}
				next[d.G]++
			}
		})
	}
}

func TestHeadMatchesFile(t *testing.T) {
	path := newPath(t)
	l := mustOpen(t, path)
	defer l.Close()
	for i := range 3 {
		if err := l.Append(context.Background(), TypeSignature, map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		seq, hash := l.Head()
		h, err := os.ReadFile(path + HeadSuffix)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`{"seq":%d,"hash":"%s"}`, i+1, hash)
		if seq != uint64(i+1) || !bytes.HasPrefix(h, []byte(want)) {
			t.Fatalf("Head = %d %s; file %q", seq, hash, h)
		}
		lines := readLines(t, path)
		if r := mustParse(t, lines[len(lines)-1]); hex.EncodeToString(r.Hash[:]) != hash {
			t.Fatalf("Head hash %s is not the last record's", hash)
		}
	}
}

func TestTimeIsUTC(t *testing.T) {
	path := newPath(t)
	loc := time.FixedZone("X", 5*3600)
	l, err := Open(path, &Options{Now: func() time.Time { return time.Date(2025, 1, 2, 8, 0, 0, 0, loc) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), TypeStart, nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if got := mustParse(t, readLines(t, path)[0]).Time; got != "2025-01-02T03:00:00Z" {
		t.Fatalf("time = %q", got)
	}
}
