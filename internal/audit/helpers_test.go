package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// testClock returns distinct, increasing times with nine fractional digits.
func testClock() func() time.Time {
	base := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Second) }
}

// newPath returns a log path in a fresh temporary directory.
func newPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "audit.log")
}

// mustOpen opens path with the test clock.
func mustOpen(t testing.TB, path string) *Log {
	t.Helper()
	l, err := Open(path, &Options{Now: testClock()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// writeLog creates a log at path with n tool_call records {"i":i,"note":"hello world"}.
func writeLog(t testing.TB, path string, n int) {
	t.Helper()
	l := mustOpen(t, path)
	for i := 1; i <= n; i++ {
		if err := l.Append(context.Background(), TypeToolCall, map[string]any{"i": i, "note": "hello world"}); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// readLines returns the log's lines without their newlines (and a final
// partial line, if any).
func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\n"))
	}
	return lines
}

// writeLines writes lines, each followed by a newline.
func writeLines(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// mustParse parses a line that must be valid.
func mustParse(t testing.TB, line []byte) record {
	t.Helper()
	r, err := parseRecord(line)
	if err != nil {
		t.Fatalf("parseRecord(%s): %v", line, err)
	}
	return r
}

// forge builds a correctly hashed record line (what an attacker who
// recomputes hashes would write).
func forge(seq uint64, prev [sha256.Size]byte, data string) ([]byte, [sha256.Size]byte) {
	line, sum := appendRecord(nil, seq, "2025-03-04T05:06:07.5Z", TypeToolCall, []byte(data), &prev)
	return line[:len(line)-1], sum
}

// writeHeadFile overwrites the head file of path.
func writeHeadFile(t testing.TB, path string, seq uint64, hash string) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"seq": seq, "hash": hash})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+HeadSuffix, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// asTamper extracts a *TamperError or fails.
func asTamper(t testing.TB, err error) *TamperError {
	t.Helper()
	var te *TamperError
	if !errors.As(err, &te) {
		t.Fatalf("error %v is not a *TamperError", err)
	}
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("error %v does not match ErrTampered", err)
	}
	return te
}
