package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
)

// tamperLog is the size of the log each tamper case starts from.
const tamperLog = 10

func TestVerifyIntact(t *testing.T) {
	path := newPath(t)
	writeLog(t, path, tamperLog)
	sum, err := Verify(path)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	last := mustParse(t, readLines(t, path)[tamperLog-1])
	if sum.Records != tamperLog || sum.LastSeq != tamperLog || sum.LastHash != hex.EncodeToString(last.Hash[:]) {
		t.Fatalf("Verify = %+v", sum)
	}
}

func TestVerifyMissingLog(t *testing.T) {
	if _, err := Verify(newPath(t)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Verify of nothing = %v, want fs.ErrNotExist", err)
	}
}

// TestTamper applies one kind of tampering to a 10-record log and checks that
// Verify names the first bad record, and that Open refuses the log without
// touching either file.
func TestTamper(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, path string, lines [][]byte) [][]byte // returns the new lines, nil to leave the file
		kind   string
		seq    uint64
		line   int
		detail string // substring of the detail
	}{
		{
			name: "edit a byte of data",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				lines[3] = bytes.Replace(lines[3], []byte("hello"), []byte("jello"), 1)
				return lines
			},
			kind: KindEdited, seq: 4, line: 4, detail: "hash mismatch",
		},
		{
			name: "edit the type",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				lines[5] = bytes.Replace(lines[5], []byte("tool_call"), []byte("tool_cell"), 1)
				return lines
			},
			kind: KindEdited, seq: 6, line: 6, detail: "hash mismatch",
		},
		{
			name: "edit the time",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				lines[6] = bytes.Replace(lines[6], []byte(".123456789Z"), []byte(".923456789Z"), 1)
				return lines
			},
			kind: KindEdited, seq: 7, line: 7, detail: "hash mismatch",
		},
		{
			name: "edit the seq",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				lines[1] = bytes.Replace(lines[1], []byte(`"seq":2,`), []byte(`"seq":3,`), 1)
				return lines
			},
			kind: KindEdited, seq: 2, line: 2, detail: "hash mismatch",
		},
		{
			name: "delete a middle record",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				return slices.Delete(lines, 4, 5)
			},
			kind: KindDeleted, seq: 5, line: 5, detail: "seq jumps from 4 to 6",
		},
		{
			name: "delete the first record",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				return lines[1:]
			},
			kind: KindDeleted, seq: 1, line: 1,
		},
		{
			name: "delete a record and renumber the rest",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				// Records 6.. get seq-1 and fresh hashes, but keep their prev.
				out := slices.Clone(lines[:4])
				for _, l := range lines[5:] {
					r := mustParse(t, l)
					line, _ := appendRecord(nil, r.Seq-1, r.Time, r.Type, r.Data, &r.Prev)
					out = append(out, line[:len(line)-1])
				}
				return out
			},
			kind: KindDeleted, seq: 5, line: 5, detail: "prev does not match the hash of record 4",
		},
		{
			name: "swap two records",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				lines[2], lines[3] = lines[3], lines[2]
				return lines
			},
			kind: KindReordered, seq: 3, line: 3, detail: "3 comes later",
		},
		{
			name: "move a record to the end",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				r := lines[1]
				return append(slices.Delete(lines, 1, 2), r)
			},
			kind: KindReordered, seq: 2, line: 2,
		},
		{
			name: "duplicate a record",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				return slices.Insert(lines, 3, lines[2])
			},
			kind: KindReordered, seq: 4, line: 4, detail: "seq goes backwards",
		},
		{
			name: "remove the last record, head intact",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				return lines[:tamperLog-1]
			},
			kind: KindTruncated, seq: 10, line: 10, detail: "ends at record 9",
		},
		{
			name: "remove the last three records, head intact",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				return lines[:tamperLog-3]
			},
			kind: KindTruncated, seq: 8, line: 8, detail: "ends at record 7",
		},
		{
			name: "remove every record, head intact",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				return [][]byte{}
			},
			kind: KindTruncated, seq: 1, line: 1,
		},
		{
			name: "delete the log, head intact",
			tamper: func(t *testing.T, path string, _ [][]byte) [][]byte {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			kind: KindTruncated, seq: 1, line: 1,
		},
		{
			name: "cut the last records and forge replacements",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				prev := mustParse(t, lines[7]).Hash
				l9, h9 := forge(9, prev, `{"i":9,"note":"forged"}`)
				l10, _ := forge(10, h9, `{"i":10,"note":"forged"}`)
				return append(lines[:8], l9, l10)
			},
			kind: KindTruncated, seq: 10, line: 10, detail: "differs from the head",
		},
		{
			name: "cut the last line in half",
			tamper: func(t *testing.T, path string, lines [][]byte) [][]byte {
				last := lines[tamperLog-1]
				writeLines(t, path, lines[:tamperLog-1])
				appendFile(t, path, last[:len(last)/2])
				return nil
			},
			kind: KindTruncated, seq: 10, line: 10, detail: "partial last line",
		},
		{
			name: "remove the last newline",
			tamper: func(t *testing.T, path string, lines [][]byte) [][]byte {
				writeLines(t, path, lines[:tamperLog-1])
				appendFile(t, path, lines[tamperLog-1])
				return nil
			},
			kind: KindTruncated, seq: 10, line: 10, detail: "partial last line",
		},
		{
			name: "insert a garbage line",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				return slices.Insert(lines, 6, []byte("garbage"))
			},
			kind: KindMalformed, seq: 7, line: 7, detail: "invalid JSON",
		},
		{
			name: "replace a record with garbage",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				lines[6] = []byte(`{"seq":7}`)
				return lines
			},
			kind: KindMalformed, seq: 7, line: 7,
		},
		{
			name: "append a garbage line",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				return append(lines, []byte(`{"hello":"world"}`))
			},
			kind: KindMalformed, seq: 11, line: 11,
		},
		{
			name: "insert an empty line",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				return slices.Insert(lines, 2, []byte{})
			},
			kind: KindMalformed, seq: 3, line: 3,
		},
		{
			name: "insert an overlong line",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				return slices.Insert(lines, 2, bytes.Repeat([]byte("x"), maxLineSize+10))
			},
			kind: KindMalformed, seq: 3, line: 3, detail: "line longer than",
		},
		{
			name: "reformat a record",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				lines[1] = bytes.Replace(lines[1], []byte(`,"type":`), []byte(`, "type":`), 1)
				return lines
			},
			kind: KindMalformed, seq: 2, line: 2, detail: "canonical",
		},
		{
			name: "add a field",
			tamper: func(t *testing.T, _ string, lines [][]byte) [][]byte {
				lines[1] = bytes.Replace(lines[1], []byte(`{"seq":2,`), []byte(`{"seq":2,"x":1,`), 1)
				return lines
			},
			kind: KindMalformed, seq: 2, line: 2, detail: "canonical",
		},
		{
			name: "delete the head file",
			tamper: func(t *testing.T, path string, _ [][]byte) [][]byte {
				if err := os.Remove(path + HeadSuffix); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			kind: KindTruncated, detail: "head file missing",
		},
		{
			name: "garble the head file",
			tamper: func(t *testing.T, path string, _ [][]byte) [][]byte {
				if err := os.WriteFile(path+HeadSuffix, []byte(`{"seq":10}`), 0o600); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			kind: KindMalformed, detail: "head file",
		},
		{
			name: "head file ahead of the log",
			tamper: func(t *testing.T, path string, _ [][]byte) [][]byte {
				writeHeadFile(t, path, 12, strings.Repeat("ab", 32))
				return nil
			},
			kind: KindTruncated, seq: 11, line: 11, detail: "names record 12",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			writeLog(t, path, tamperLog)
			if lines := tt.tamper(t, path, readLines(t, path)); lines != nil {
				writeLines(t, path, lines)
			}
			logBefore, _ := os.ReadFile(path)
			headBefore, _ := os.ReadFile(path + HeadSuffix)

			_, err := Verify(path)
			te := asTamper(t, err)
			if te.Kind != tt.kind || te.Seq != tt.seq || te.Line != tt.line || !strings.Contains(te.Detail, tt.detail) {
				t.Fatalf("Verify = %+v (%v); want kind %s seq %d line %d detail ~%q", te, err, tt.kind, tt.seq, tt.line, tt.detail)
			}

			l, err := Open(path, nil)
			if err == nil {
				l.Close()
				t.Fatal("Open accepted a tampered log")
			}
			if ote := asTamper(t, err); *ote != *te {
				t.Errorf("Open = %+v, Verify = %+v", ote, te)
			}
			logAfter, lerr := os.ReadFile(path)
			headAfter, herr := os.ReadFile(path + HeadSuffix)
			if !bytes.Equal(logBefore, logAfter) || !bytes.Equal(headBefore, headAfter) ||
				(logBefore == nil) != errors.Is(lerr, fs.ErrNotExist) || (headBefore == nil) != errors.Is(herr, fs.ErrNotExist) {
				t.Error("Open changed the files of a log it refused")
			}
		})
	}
}

// appendFile appends b to the file at path.
func appendFile(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTamperErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  TamperError
		want string
	}{
		{"record", TamperError{Seq: 17, Line: 17, Kind: KindEdited, Detail: "hash mismatch"}, "audit: record 17 (line 17) edited: hash mismatch"},
		{"head", TamperError{Kind: KindTruncated, Detail: "head file missing"}, "audit: log truncated: head file missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHeadLag: after a crash between the log's fsync and the head's, the log
// is ahead of its head file. That is intact, and Open brings the head up.
func TestHeadLag(t *testing.T) {
	tests := []struct {
		name    string
		headSeq uint64
	}{
		{"one commit behind", tamperLog - 1},
		{"far behind", 3},
		{"never written", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			writeLog(t, path, tamperLog)
			lines := readLines(t, path)
			hash := strings.Repeat("0", 64)
			if tt.headSeq > 0 {
				h := mustParse(t, lines[tt.headSeq-1]).Hash
				hash = hex.EncodeToString(h[:])
			}
			writeHeadFile(t, path, tt.headSeq, hash)
			if sum, err := Verify(path); err != nil || sum.Records != tamperLog {
				t.Fatalf("Verify = %+v, %v", sum, err)
			}
			l := mustOpen(t, path)
			if err := l.Append(context.Background(), TypeStart, nil); err != nil {
				t.Fatal(err)
			}
			l.Close()
			sum, err := Verify(path)
			if err != nil || sum.Records != tamperLog+1 {
				t.Fatalf("Verify after Open = %+v, %v", sum, err)
			}
			if h, _ := os.ReadFile(path + HeadSuffix); len(h) != headSize {
				t.Errorf("head file is %d bytes, want %d", len(h), headSize)
			}
		})
	}
	t.Run("head names a record with another hash", func(t *testing.T) {
		path := newPath(t)
		writeLog(t, path, tamperLog)
		writeHeadFile(t, path, 5, strings.Repeat("ab", 32))
		te := asTamper(t, verifyErr(path))
		if te.Kind != KindTruncated || te.Seq != 5 {
			t.Fatalf("Verify = %+v", te)
		}
	})
}

func verifyErr(path string) error {
	_, err := Verify(path)
	return err
}

// TestOpenRepairsPartialTail: a crash in the middle of a commit leaves a last
// line without its newline, for a record nobody was told was durable. Open
// cuts it off and records that it did.
func TestOpenRepairsPartialTail(t *testing.T) {
	const n = 5
	tests := []struct {
		name string
		tail func(next []byte) []byte // next: the line record n+1 would have been
	}{
		{"half a record", func(next []byte) []byte { return next[:len(next)/2] }},
		{"a record without its newline", func(next []byte) []byte { return next }},
		{"one byte", func(next []byte) []byte { return next[:1] }},
		{"zeros", func([]byte) []byte { return make([]byte, 4096) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			writeLog(t, path, n)
			lines := readLines(t, path)
			next, _ := forge(n+1, mustParse(t, lines[n-1]).Hash, `{"i":6}`)
			tail := tt.tail(next)
			appendFile(t, path, tail)
			if te := asTamper(t, verifyErr(path)); te.Kind != KindTruncated || te.Seq != n+1 {
				t.Fatalf("Verify before repair = %+v", te)
			}

			l := mustOpen(t, path)
			if err := l.Append(context.Background(), TypeStart, nil); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			sum, err := Verify(path)
			if err != nil || sum.Records != n+2 {
				t.Fatalf("Verify after repair = %+v, %v", sum, err)
			}
			got := readLines(t, path)
			if !slices.EqualFunc(got[:n], lines, bytes.Equal) {
				t.Fatal("repair changed the acknowledged records")
			}
			r := mustParse(t, got[n])
			if r.Type != TypeSecurity {
				t.Fatalf("record %d type %q, want %q", n+1, r.Type, TypeSecurity)
			}
			var d repairInfo
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			sha := sha256.Sum256(tail)
			want := repairInfo{Event: EventRepairedPartialTail, RemovedBytes: int64(len(tail)),
				RemovedSHA256: hex.EncodeToString(sha[:]), AfterSeq: n, HeadSeq: n}
			if d != want {
				t.Fatalf("repair record = %+v, want %+v", d, want)
			}
			if mustParse(t, got[n+1]).Type != TypeStart {
				t.Fatal("the Append after the repair is missing")
			}
		})
	}
}

// TestOpenRefusesPartialTailAfterTamper: the repair applies only to a tail
// after a chain that verifies; anything else broken stays fatal.
func TestOpenRefusesPartialTailAfterTamper(t *testing.T) {
	tests := []struct {
		name string
		edit func(path string, lines [][]byte) [][]byte
		kind string
	}{
		{"edited record before the tail", func(_ string, lines [][]byte) [][]byte {
			lines[1] = bytes.Replace(lines[1], []byte("hello"), []byte("jello"), 1)
			return lines
		}, KindEdited},
		{"acknowledged records cut before the tail", func(_ string, lines [][]byte) [][]byte {
			return lines[:3]
		}, KindTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			writeLog(t, path, 5)
			writeLines(t, path, tt.edit(path, readLines(t, path)))
			appendFile(t, path, []byte(`{"seq":`))
			_, err := Open(path, nil)
			if te := asTamper(t, err); te.Kind != tt.kind {
				t.Fatalf("Open = %+v, want kind %s", te, tt.kind)
			}
		})
	}
}

func TestParseRecord(t *testing.T) {
	good, sum := forge(1, zeroHash, `{"a":"b","n":[1,2,{"c":null}]}`)
	tests := []struct {
		name string
		line string
		ok   bool
	}{
		{"good", string(good), true},
		{"empty", "", false},
		{"not json", "hello", false},
		{"trailing data", string(good) + "x", false},
		{"trailing space", string(good) + " ", false},
		{"leading space", " " + string(good), false},
		{"seq zero", strings.Replace(string(good), `"seq":1,`, `"seq":0,`, 1), false},
		{"seq negative", strings.Replace(string(good), `"seq":1,`, `"seq":-1,`, 1), false},
		{"seq float", strings.Replace(string(good), `"seq":1,`, `"seq":1.0,`, 1), false},
		{"seq string", strings.Replace(string(good), `"seq":1,`, `"seq":"1",`, 1), false},
		{"seq leading zero", strings.Replace(string(good), `"seq":1,`, `"seq":01,`, 1), false},
		{"time not utc", strings.Replace(string(good), `.5Z"`, `.5+00:00"`, 1), false},
		{"time trailing zero", strings.Replace(string(good), `.5Z"`, `.50Z"`, 1), false},
		{"type escaped", strings.Replace(string(good), `"tool_call"`, `"tool\u005fcall"`, 1), false},
		{"data array", strings.Replace(string(good), `"data":{"a":"b","n":[1,2,{"c":null}]}`, `"data":[1]`, 1), false},
		{"data missing", strings.Replace(string(good), `"data":{"a":"b","n":[1,2,{"c":null}]},`, ``, 1), false},
		{"prev uppercase", strings.Replace(string(good), `"prev":"00`, `"prev":"0A`, 1), false},
		{"hash short", strings.Replace(string(good), `","hash":"`+hex.EncodeToString(sum[:1]), `","hash":"`, 1), false},
		{"duplicate key", strings.Replace(string(good), `{"seq":1,`, `{"seq":1,"seq":1,`, 1), false},
		{"fields reordered", strings.Replace(string(good), `{"seq":1,"time":"2025-03-04T05:06:07.5Z",`, `{"time":"2025-03-04T05:06:07.5Z","seq":1,`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRecord([]byte(tt.line))
			if (err == nil) != tt.ok {
				t.Fatalf("parseRecord(%q) error = %v, want ok=%v", tt.line, err, tt.ok)
			}
			if tt.ok && (r.Seq != 1 || r.Hash != sum || r.Sum != sum || r.Prev != zeroHash || r.Type != TypeToolCall) {
				t.Fatalf("parseRecord = %+v", r)
			}
		})
	}
}
