package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// childLogEnv names the environment variable that makes the test binary a
// child writer (see TestMain and runChildWriter) instead of running tests.
const childLogEnv = "WALLETMCP_AUDIT_TEST_CHILD_LOG"

// childRecords is how many records the child writer appends.
const childRecords = 400

func TestMain(m *testing.M) {
	if path := os.Getenv(childLogEnv); path != "" {
		if err := runChildWriter(path); err != nil {
			fmt.Fprintln(os.Stderr, "child writer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChildWriter is the child process of TestTwoProcesses: it opens the log,
// says "ready", waits for "go" on stdin, appends childRecords records
// {"w":"child","g":g,"i":i} from 8 goroutines, closes the log and prints how
// many records it made durable.
func runChildWriter(path string) error {
	l, err := Open(path, nil)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil || line != "go\n" {
		return fmt.Errorf("waiting for go: %q, %v", line, err)
	}
	errs := appendConcurrently(l, "child", 8, childRecords)
	records, _ := l.Stats()
	if err := errors.Join(errs, l.Close()); err != nil {
		return err
	}
	fmt.Println(records)
	return nil
}

// appendConcurrently appends n records {"w":w,"g":g,"i":i} to l from
// goroutines goroutines, each numbering its own records from 0.
func appendConcurrently(l *Log, w string, goroutines, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		count := n / goroutines
		if g < n%goroutines {
			count++
		}
		wg.Go(func() {
			for i := range count {
				if err := l.Append(context.Background(), TypeToolCall, map[string]any{"w": w, "g": g, "i": i}); err != nil {
					errs <- fmt.Errorf("%s goroutine %d append %d: %w", w, g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// writerRecord is the data appendConcurrently writes, with the record's
// place in the log.
type writerRecord struct {
	W    string
	G, I int
	Seq  uint64
	Time time.Time
}

// checkWriters verifies the log at path and checks that it holds exactly
// want[w] records from each writer w, with each goroutine's records in the
// order it appended them. It returns the records in log order.
func checkWriters(t *testing.T, path string, want map[string]int) []writerRecord {
	t.Helper()
	total := 0
	for _, n := range want {
		total += n
	}
	sum, err := Verify(path)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if sum.Records != total || sum.LastSeq != uint64(total) {
		t.Fatalf("Verify = %+v, want %d records", sum, total)
	}
	var recs []writerRecord
	next := map[string]map[int]int{}
	got := map[string]int{}
	for n, line := range readLines(t, path) {
		r := mustParse(t, line)
		if r.Seq != uint64(n+1) {
			t.Fatalf("line %d: seq %d", n+1, r.Seq)
		}
		var d writerRecord
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		if next[d.W] == nil {
			next[d.W] = map[int]int{}
		}
		if d.I != next[d.W][d.G] {
			t.Fatalf("line %d: %s goroutine %d append %d, want %d", n+1, d.W, d.G, d.I, next[d.W][d.G])
		}
		next[d.W][d.G]++
		got[d.W]++
		d.Seq = r.Seq
		if d.Time, err = time.Parse(time.RFC3339Nano, r.Time); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, d)
	}
	for w, n := range want {
		if got[w] != n {
			t.Errorf("%d records from %s, want %d", got[w], w, n)
		}
	}
	return recs
}

// switches counts how often consecutive records come from different writers.
func switches(recs []writerRecord) int {
	n := 0
	for i := 1; i < len(recs); i++ {
		if recs[i].W != recs[i-1].W {
			n++
		}
	}
	return n
}

// TestTwoLogsOneFile: two Logs of one process append to one file, 8
// goroutines each, 500 records in all. The chain is whole, and each Log's
// records keep the order it queued them in: each Log's clock counts up, and
// it is read when a record is queued.
func TestTwoLogsOneFile(t *testing.T) {
	path := newPath(t)
	bases := map[string]time.Time{
		"a": time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		"b": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	logs := map[string]*Log{}
	for w, base := range bases {
		var n int64 // only read under the Log's lock
		l, err := Open(path, &Options{Now: func() time.Time { n++; return base.Add(time.Duration(n)) }})
		if err != nil {
			t.Fatal(err)
		}
		logs[w] = l
	}
	var wg sync.WaitGroup
	errs := make([]error, 0, 2)
	var mu sync.Mutex
	for w, l := range logs {
		wg.Go(func() {
			err := appendConcurrently(l, w, 8, 250)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var written uint64
	for _, l := range logs {
		records, _ := l.Stats()
		written += records
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if written != 500 {
		t.Errorf("Stats: %d records in all, want 500", written)
	}
	recs := checkWriters(t, path, map[string]int{"a": 250, "b": 250})
	last := map[string]time.Time{}
	for _, r := range recs {
		if r.Time.Year() != bases[r.W].Year() {
			t.Fatalf("record %d from %s has the other Log's clock", r.Seq, r.W)
		}
		if !r.Time.After(last[r.W]) {
			t.Fatalf("record %d: %s's records out of queue order (%v after %v)", r.Seq, r.W, r.Time, last[r.W])
		}
		last[r.W] = r.Time
	}
	t.Logf("writers alternate %d times in 500 records", switches(recs))
}

// TestTwoProcesses: this process and a child (the test binary run again as a
// writer) append to one log at the same time.
func TestTwoProcesses(t *testing.T) {
	const parentRecords = 400
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := newPath(t)
	l := mustOpen(t, path)

	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childLogEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); line != "ready\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	parentErr := appendConcurrently(l, "parent", 8, parentRecords)
	line, _ := out.ReadString('\n')
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if parentErr != nil {
		t.Fatal(parentErr)
	}
	parentDurable, _ := l.Stats()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	childDurable, err := strconv.ParseUint(strings.TrimSpace(line), 10, 64)
	if err != nil {
		t.Fatalf("child's record count %q: %v", line, err)
	}
	if parentDurable != parentRecords || childDurable != childRecords {
		t.Errorf("Stats: parent %d records, child %d; want %d and %d", parentDurable, childDurable, parentRecords, childRecords)
	}
	recs := checkWriters(t, path, map[string]int{"parent": parentRecords, "child": childRecords})
	t.Logf("writers alternate %d times in %d records", switches(recs), len(recs))
}

// TestCatchUpTamper: when what another writer appended does not verify, the
// next commit fails with a *TamperError and writes nothing, and the Log stays
// stopped.
func TestCatchUpTamper(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, path string)
		kind   string
		seq    uint64
		detail string
	}{
		{
			name: "edit another writer's record",
			tamper: func(t *testing.T, path string) {
				lines := readLines(t, path)
				lines[3] = []byte(strings.Replace(string(lines[3]), `"i":1`, `"i":7`, 1))
				writeLines(t, path, lines)
			},
			kind: KindEdited, seq: 4, detail: "hash mismatch",
		},
		{
			name: "append a record that does not chain",
			tamper: func(t *testing.T, path string) {
				line, _ := forge(5, zeroHash, `{"forged":true}`)
				appendFile(t, path, append(line, '\n'))
			},
			kind: KindDeleted, seq: 5, detail: "prev does not match",
		},
		{
			name: "append a record that skips a seq",
			tamper: func(t *testing.T, path string) {
				last := mustParse(t, readLines(t, path)[3])
				line, _ := forge(6, last.Hash, `{"forged":true}`)
				appendFile(t, path, append(line, '\n'))
			},
			kind: KindDeleted, seq: 5, detail: "seq jumps from 4 to 6",
		},
		{
			name: "append garbage",
			tamper: func(t *testing.T, path string) {
				appendFile(t, path, []byte("{\"seq\":5}\n"))
			},
			kind: KindMalformed, seq: 5,
		},
		{
			name: "cut another writer's last record",
			tamper: func(t *testing.T, path string) {
				writeLines(t, path, readLines(t, path)[:3])
			},
			kind: KindTruncated, seq: 4, detail: "head file names record 4",
		},
		{
			name: "cut records this writer wrote",
			tamper: func(t *testing.T, path string) {
				writeLines(t, path, readLines(t, path)[:1])
			},
			kind: KindTruncated, detail: "shrank",
		},
		{
			name: "replace the log",
			tamper: func(t *testing.T, path string) {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			kind: KindTruncated, detail: "log replaced",
		},
		{
			name: "delete the head file",
			tamper: func(t *testing.T, path string) {
				if err := os.Remove(path + HeadSuffix); err != nil {
					t.Fatal(err)
				}
			},
			kind: KindTruncated, detail: "head file removed",
		},
		{
			name: "garble the head file",
			tamper: func(t *testing.T, path string) {
				if err := os.WriteFile(path+HeadSuffix, []byte(`{"seq":4}`), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			kind: KindMalformed, detail: "head file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			ctx := context.Background()
			a := mustOpen(t, path)
			for i := range 2 {
				if err := a.Append(ctx, TypeToolCall, map[string]int{"i": i}); err != nil {
					t.Fatal(err)
				}
			}
			// Another writer appends records 3 and 4.
			writeLogTo(t, path, 2)
			tt.tamper(t, path)
			logBefore, _ := os.ReadFile(path)
			headBefore, _ := os.ReadFile(path + HeadSuffix)

			err := a.Append(ctx, TypeVerdict, nil)
			te := asTamper(t, err)
			if te.Kind != tt.kind || te.Seq != tt.seq || !strings.Contains(te.Detail, tt.detail) {
				t.Fatalf("Append = %+v (%v); want kind %s seq %d detail ~%q", te, err, tt.kind, tt.seq, tt.detail)
			}
			if err2 := a.Append(ctx, TypeVerdict, nil); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("second Append = %v, want the sticky %v", err2, err)
			}
			if err2 := a.Enqueue(TypeVerdict, nil); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Enqueue = %v, want the sticky %v", err2, err)
			}
			if err2 := a.Close(); !errors.Is(err2, ErrTampered) {
				t.Errorf("Close = %v, want the sticky %v", err2, err)
			}
			logAfter, _ := os.ReadFile(path)
			headAfter, _ := os.ReadFile(path + HeadSuffix)
			if string(logBefore) != string(logAfter) || string(headBefore) != string(headAfter) {
				t.Error("the Log wrote after finding the tampering")
			}
			if records, _ := a.Stats(); records != 2 {
				t.Errorf("Stats: %d records, want 2", records)
			}
		})
	}
}

// writeLogTo opens the log at path as another writer, appends n records
// {"i":i} and closes it.
func writeLogTo(t testing.TB, path string, n int) {
	t.Helper()
	l := mustOpen(t, path)
	for i := range n {
		if err := l.Append(context.Background(), TypeToolCall, map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCatchUpRepairsPartialTail: a writer that crashed in the middle of a
// commit left a partial line, which a running Log finds when it next commits.
// As Open would, it cuts it off and records that, then writes its records.
func TestCatchUpRepairsPartialTail(t *testing.T) {
	path := newPath(t)
	ctx := context.Background()
	a := mustOpen(t, path)
	if err := a.Append(ctx, TypeStart, nil); err != nil {
		t.Fatal(err)
	}
	writeLogTo(t, path, 2)
	lines := readLines(t, path)
	next, _ := forge(4, mustParse(t, lines[2]).Hash, `{"crashed":true}`)
	tail := next[:len(next)/2]
	appendFile(t, path, tail)

	if err := a.Append(ctx, TypeVerdict, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if sum, err := Verify(path); err != nil || sum.Records != 5 {
		t.Fatalf("Verify = %+v, %v", sum, err)
	}
	got := readLines(t, path)
	r := mustParse(t, got[3])
	var d repairInfo
	if err := json.Unmarshal(r.Data, &d); err != nil || r.Type != TypeSecurity || d.Event != EventRepairedPartialTail ||
		d.RemovedBytes != int64(len(tail)) || d.AfterSeq != 3 || d.HeadSeq != 3 {
		t.Fatalf("record 4 = %s %s, want the repair record", r.Type, r.Data)
	}
	if mustParse(t, got[4]).Type != TypeVerdict {
		t.Fatal("the Append after the repair is missing")
	}
}

func TestEnqueue(t *testing.T) {
	path := newPath(t)
	l := mustOpen(t, path)
	for i := range 100 {
		if err := l.Enqueue(TypeToolCall, map[string]int{"i": i}); err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if records, _ := l.Stats(); records != 100 {
		t.Errorf("Stats: %d records, want 100", records)
	}
	if err := l.Enqueue(TypeToolCall, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
	sum, err := Verify(path)
	if err != nil || sum.Records != 100 {
		t.Fatalf("Verify = %+v, %v", sum, err)
	}
	for n, line := range readLines(t, path) {
		var d struct{ I int }
		if err := json.Unmarshal(mustParse(t, line).Data, &d); err != nil || d.I != n {
			t.Fatalf("line %d: data %s, want i %d", n+1, mustParse(t, line).Data, n)
		}
	}
}

func TestEnqueueRejects(t *testing.T) {
	path := newPath(t)
	l := mustOpen(t, path)
	tests := []struct {
		name   string
		typ    string
		fields any
		want   error
	}{
		{"invalid type", "a b", nil, ErrInvalidType},
		{"array data", TypeToolCall, []int{1}, ErrInvalidData},
		{"data too large", TypeToolCall, map[string]string{"x": strings.Repeat("a", MaxDataSize)}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := l.Enqueue(tt.typ, tt.fields); !errors.Is(err, tt.want) {
				t.Fatalf("Enqueue = %v, want %v", err, tt.want)
			}
		})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if sum, err := Verify(path); err != nil || sum.Records != 0 {
		t.Fatalf("Verify = %+v, %v; want no records", sum, err)
	}
}

// TestEnqueueFailureReportedLater: Enqueue does not wait for its commit; if
// that commit fails, the next Append (and Close) report it.
func TestEnqueueFailureReportedLater(t *testing.T) {
	path := newPath(t)
	l := mustOpen(t, path)
	if err := l.Append(context.Background(), TypeStart, nil); err != nil {
		t.Fatal(err)
	}
	l.f.Close() // every commit from now on fails
	if err := l.Enqueue(TypeToolCall, nil); err != nil {
		t.Fatalf("Enqueue = %v; it does not wait for the disk", err)
	}
	if err := l.Append(context.Background(), TypeToolCall, nil); err == nil {
		t.Fatal("Append after a failed commit succeeded")
	}
	if err := l.Enqueue(TypeToolCall, nil); err == nil {
		t.Fatal("Enqueue after a failed commit succeeded")
	}
	if err := l.Close(); err == nil {
		t.Fatal("Close after a failed commit returned nil")
	}
	if sum, err := Verify(path); err != nil || sum.Records != 1 {
		t.Fatalf("Verify = %+v, %v", sum, err)
	}
}

// TestEnqueueBounded: once the records waiting for the writer reach
// maxQueued bytes, Enqueue waits for their commit.
func TestEnqueueBounded(t *testing.T) {
	path := newPath(t)
	l, err := Open(path, &Options{Now: testClock(), maxQueued: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := l.Enqueue(TypeToolCall, map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		if records, _ := l.Stats(); records != uint64(i+1) {
			t.Fatalf("after Enqueue %d on a full queue: %d records durable, want %d", i, records, i+1)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStart: Start queues at once and its wait returns when the record is
// durable (Append's outcome): not while the commit is held before its
// fsync; a record that cannot be queued or committed is the wait's error.
func TestStart(t *testing.T) {
	path := newPath(t)
	l := mustOpen(t, path)
	release := make(chan struct{})
	l.beforeSync = func(int) { <-release }
	wait, _ := l.Start(TypeSignature, map[string]int{"i": 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait before the fsync = %v, want the context's error", err)
	}
	close(release)
	if err := wait(context.Background()); err != nil {
		t.Fatalf("wait = %v", err)
	}
	l.beforeSync = nil
	start := func(typ string) error { w, _ := l.Start(typ, nil); return w(context.Background()) }
	if err := start("a b"); !errors.Is(err, ErrInvalidType) {
		t.Fatalf("an invalid type: %v", err)
	}
	l.f.Close() // every commit from now on fails
	if err := start(TypeSignature); err == nil {
		t.Fatal("the wait of a failed commit returned nil")
	}
	l.Close()
	if err := start(TypeSignature); err == nil {
		t.Fatal("Start after Close: the wait returned nil")
	}
	if sum, err := Verify(path); err != nil || sum.Records != 1 {
		t.Fatalf("Verify = %+v, %v; want the one record", sum, err)
	}
}
