package audit

import (
	"context"
	"testing"
	"time"
)

// lingerLong is a Linger no test waits out: a test that passes with it
// shows that something other than the linger's end made the commit.
const lingerLong = time.Hour

// openLinger opens a log at a new path with Linger set. The channel gets a
// value each time the writer starts to linger on a batch.
func openLinger(t *testing.T, linger time.Duration) (*Log, string, <-chan struct{}) {
	t.Helper()
	path := newPath(t)
	started := make(chan struct{}, 16)
	l, err := Open(path, &Options{Now: testClock(), Linger: linger, onLinger: func() {
		select {
		case started <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l, path, started
}

// waitLinger waits until the writer lingers, failing after 10 s.
func waitLinger(t *testing.T, started <-chan struct{}) {
	t.Helper()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not linger on a batch of read-call records")
	}
}

// waitRecords waits until l has made n records durable, failing after 10 s.
func waitRecords(t *testing.T, l *Log, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if got, _ := l.Stats(); got >= n {
			return
		}
		if time.Now().After(deadline) {
			got, _ := l.Stats()
			t.Fatalf("%d records durable after 10 s, want %d", got, n)
		}
		<-tick.C
	}
}

// An Append joining a lingering batch of read-call records is committed at
// once, together with them: one commit (two fsyncs) for all.
func TestLingerAppendNotDelayed(t *testing.T) {
	l, _, started := openLinger(t, lingerLong)
	defer l.Close()
	_, syncs0 := l.Stats() // a new log's head is written at Open
	for i := range 5 {
		if err := l.Enqueue(TypeToolCall, map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			waitLinger(t, started)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Append(ctx, TypeVerdict, map[string]any{"verdict": "allow"}); err != nil {
		t.Fatalf("Append behind a lingering batch: %v", err)
	}
	records, syncs := l.Stats()
	if syncs -= syncs0; records != 6 || syncs != 2 {
		t.Fatalf("after 5 Enqueue and 1 Append: %d records in %d fsyncs, want 6 in 2 (one commit)", records, syncs)
	}
}

// A queued record of another type than tool_call (a broadcast, a verdict)
// does not linger: it is committed at once with what waits before it.
func TestLingerOnlyToolCalls(t *testing.T) {
	l, _, started := openLinger(t, lingerLong)
	defer l.Close()
	if err := l.Enqueue(TypeToolCall, map[string]any{"tool": "get_balance"}); err != nil {
		t.Fatal(err)
	}
	waitLinger(t, started)
	if err := l.Enqueue(TypeBroadcast, map[string]any{"ok": true}); err != nil {
		t.Fatal(err)
	}
	waitRecords(t, l, 2)
}

// Close commits a lingering batch without waiting for the linger to end.
func TestLingerClose(t *testing.T) {
	l, path, started := openLinger(t, lingerLong)
	for i := range 3 {
		if err := l.Enqueue(TypeToolCall, map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	waitLinger(t, started)
	done := make(chan error, 1)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the linger")
	}
	sum, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 3 {
		t.Fatalf("log has %d records after Close, want 3", sum.Records)
	}
}

// A lingering batch is committed when the linger ends, with what joined it.
func TestLingerEnds(t *testing.T) {
	l, _, started := openLinger(t, 20*time.Millisecond)
	defer l.Close()
	if err := l.Enqueue(TypeToolCall, map[string]any{"i": 1}); err != nil {
		t.Fatal(err)
	}
	waitLinger(t, started)
	waitRecords(t, l, 1)
	// A second batch lingers and ends too (a stale timer of the first must
	// not end it early or leave it waiting).
	if err := l.Enqueue(TypeToolCall, map[string]any{"i": 2}); err != nil {
		t.Fatal(err)
	}
	waitLinger(t, started)
	waitRecords(t, l, 2)
}

// Without Linger (the default), a queued read-call record is committed at
// once: the writer does not wait for company.
func TestNoLingerByDefault(t *testing.T) {
	l, _, started := openLinger(t, 0)
	defer l.Close()
	if err := l.Enqueue(TypeToolCall, map[string]any{"i": 1}); err != nil {
		t.Fatal(err)
	}
	waitRecords(t, l, 1)
	select {
	case <-started:
		t.Fatal("the writer lingered with Linger 0")
	default:
	}
}

// An Append of a tool_call record is waited for: it does not linger either.
func TestLingerAppendToolCall(t *testing.T) {
	l, _, started := openLinger(t, lingerLong)
	defer l.Close()
	if err := l.Enqueue(TypeToolCall, map[string]any{"i": 1}); err != nil {
		t.Fatal(err)
	}
	waitLinger(t, started)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Append(ctx, TypeToolCall, map[string]any{"i": 2}); err != nil {
		t.Fatalf("Append of a tool_call behind a lingering batch: %v", err)
	}
	if records, _ := l.Stats(); records != 2 {
		t.Fatalf("%d records durable after Append, want 2", records)
	}
}
