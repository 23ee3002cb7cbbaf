package audit

import (
	"context"
	"sync/atomic"
	"testing"
)

// benchFields is a typical tool_call record's data.
var benchFields = map[string]any{
	"tool": "send_transfer",
	"args": map[string]string{
		"from":   "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
		"to":     "0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B",
		"amount": "0.25",
	},
	"outcome": "approval_required",
}

// reportAppends reports records/s and fsyncs/record for a benchmark on l.
func reportAppends(b *testing.B, l *Log) {
	b.Helper()
	records, syncs := l.Stats()
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(syncs)/float64(records), "fsyncs/record")
}

// BenchmarkAppendSerial appends from one goroutine: every record is its own
// commit (two fsyncs: log and head).
func BenchmarkAppendSerial(b *testing.B) {
	l := mustOpen(b, newPath(b))
	defer l.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Append(ctx, TypeToolCall, benchFields); err != nil {
			b.Fatal(err)
		}
	}
	reportAppends(b, l)
}

// BenchmarkAppendParallel appends from 32 goroutines per CPU, as a busy
// server's concurrent tool calls would: the writer group-commits them.
func BenchmarkAppendParallel(b *testing.B) {
	l := mustOpen(b, newPath(b))
	defer l.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(ctx, TypeToolCall, benchFields); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportAppends(b, l)
}

// BenchmarkVerify measures verification speed over a 10,000-record log.
func BenchmarkVerify(b *testing.B) {
	path := newPath(b)
	l := mustOpen(b, path)
	const n = 10000
	ctx := context.Background()
	// Parallel appends keep the set-up fast (few fsyncs).
	done := make(chan error, 50)
	for range 50 {
		go func() {
			for range n / 50 {
				if err := l.Append(ctx, TypeToolCall, benchFields); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 50 {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Verify(path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkEnqueue queues records from one goroutine without waiting for the
// disk, as read-only tool calls do; the writer commits them in the
// background. Close (untimed) flushes what is left.
func BenchmarkEnqueue(b *testing.B) {
	l := mustOpen(b, newPath(b))
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Enqueue(TypeToolCall, benchFields); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	reportAppends(b, l)
}

// BenchmarkEnqueueParallel queues records from 32 goroutines per CPU.
func BenchmarkEnqueueParallel(b *testing.B) {
	l := mustOpen(b, newPath(b))
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Enqueue(TypeToolCall, benchFields); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	reportAppends(b, l)
}

// BenchmarkAppendParallelTwoLogs appends from 32 goroutines per CPU, half of
// them through each of two Logs on one file (as two processes would): every
// commit takes the lock and reads the other Log's records.
func BenchmarkAppendParallelTwoLogs(b *testing.B) {
	path := newPath(b)
	logs := [2]*Log{mustOpen(b, path), mustOpen(b, path)}
	ctx := context.Background()
	var next atomic.Uint32
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		l := logs[next.Add(1)%2]
		for pb.Next() {
			if err := l.Append(ctx, TypeToolCall, benchFields); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	var records, syncs uint64
	for _, l := range logs {
		r, s := l.Stats()
		records, syncs = records+r, syncs+s
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(syncs)/float64(records), "fsyncs/record")
}
