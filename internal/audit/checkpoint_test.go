package audit

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// checkpointedLog makes a keyed log whose checkpoint names record 11 (the
// EventHeadKeyed record and 10 more) while the log holds 16 records: as if
// the last writer was killed before it wrote a newer checkpoint.
func checkpointedLog(t *testing.T, key []byte) string {
	t.Helper()
	path := newPath(t)
	writeKeyedLog(t, path, key, 10)
	cp, err := os.ReadFile(path + CheckpointSuffix)
	if err != nil {
		t.Fatalf("no checkpoint after Close: %v", err)
	}
	l := mustOpenKeyed(t, path, key)
	for i := 11; i <= 15; i++ {
		if err := l.Append(context.Background(), TypeToolCall, map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+CheckpointSuffix, cp, 0o600); err != nil {
		t.Fatal(err)
	}
	if n := len(readLines(t, path)); n != 16 {
		t.Fatalf("log has %d records, want 16", n)
	}
	return path
}

// editRecord changes record seq's "i" value in place, keeping its length
// and its (now wrong) hash: what someone without the key could do.
func editRecord(t *testing.T, path string, seq int) {
	t.Helper()
	lines := readLines(t, path)
	old := lines[seq-1]
	i := bytes.Index(old, []byte(`"i":`))
	if i < 0 {
		t.Fatalf("record %d has no i: %s", seq, old)
	}
	edited := bytes.Clone(old)
	// The last digit of the number: "i":4 → "i":5, "i":13 → "i":14.
	j := i + 4
	for j+1 < len(edited) && edited[j+1] >= '0' && edited[j+1] <= '9' {
		j++
	}
	edited[j] = '0' + (edited[j]-'0'+1)%10
	lines[seq-1] = edited
	writeLines(t, path, lines)
}

// TestCheckpointStartVerifiesTail: with a checkpoint, Open verifies only the
// records after it: an edit before it is not seen at start-up but is by
// VerifyWithKey (`audit verify`), and an edit after it stops Open.
func TestCheckpointStartVerifiesTail(t *testing.T) {
	key := testKey(7)
	t.Run("edit before the checkpoint: found by verify, not at start", func(t *testing.T) {
		path := checkpointedLog(t, key)
		editRecord(t, path, 5)
		l, err := Open(path, &Options{Now: testClock(), HeadKey: key})
		if err != nil {
			t.Fatalf("Open verified before the checkpoint: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = VerifyWithKey(path, key)
		if te := asTamper(t, err); te.Seq != 5 || te.Kind != KindEdited {
			t.Fatalf("VerifyWithKey = %v, want record 5 edited", err)
		}
	})
	t.Run("edit after the checkpoint: found at start", func(t *testing.T) {
		path := checkpointedLog(t, key)
		editRecord(t, path, 14)
		_, err := Open(path, &Options{Now: testClock(), HeadKey: key})
		if te := asTamper(t, err); te.Seq != 14 || te.Kind != KindEdited {
			t.Fatalf("Open = %v, want record 14 edited", err)
		}
	})
	t.Run("edit of the checkpoint's record: found at start", func(t *testing.T) {
		path := checkpointedLog(t, key)
		editRecord(t, path, 11)
		_, err := Open(path, &Options{Now: testClock(), HeadKey: key})
		if te := asTamper(t, err); te.Seq != 11 || te.Kind != KindEdited {
			t.Fatalf("Open = %v, want record 11 edited", err)
		}
	})
	t.Run("record before the checkpoint removed: found at start", func(t *testing.T) {
		path := checkpointedLog(t, key)
		lines := readLines(t, path)
		writeLines(t, path, append(lines[:3:3], lines[4:]...))
		_, err := Open(path, &Options{Now: testClock(), HeadKey: key})
		if te := asTamper(t, err); te.Kind != KindDeleted {
			t.Fatalf("Open = %v, want a deleted record", err)
		}
	})
	t.Run("checkpoint made with another key: whole chain verified", func(t *testing.T) {
		path := checkpointedLog(t, key)
		other := checkpointedLog(t, testKey(8))
		cp, err := os.ReadFile(other + CheckpointSuffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+CheckpointSuffix, cp, 0o600); err != nil {
			t.Fatal(err)
		}
		editRecord(t, path, 5)
		_, err = Open(path, &Options{Now: testClock(), HeadKey: key})
		if te := asTamper(t, err); te.Seq != 5 || te.Kind != KindEdited {
			t.Fatalf("Open = %v, want record 5 edited", err)
		}
	})
	t.Run("checkpoint edited: whole chain verified", func(t *testing.T) {
		path := checkpointedLog(t, key)
		cp, err := os.ReadFile(path + CheckpointSuffix)
		if err != nil {
			t.Fatal(err)
		}
		cp = bytes.Replace(cp, []byte(`"records":11`), []byte(`"records":12`), 1)
		if err := os.WriteFile(path+CheckpointSuffix, cp, 0o600); err != nil {
			t.Fatal(err)
		}
		editRecord(t, path, 5)
		_, err = Open(path, &Options{Now: testClock(), HeadKey: key})
		if te := asTamper(t, err); te.Seq != 5 || te.Kind != KindEdited {
			t.Fatalf("Open = %v, want record 5 edited", err)
		}
	})
	t.Run("no key: whole chain verified", func(t *testing.T) {
		path := checkpointedLog(t, key)
		editRecord(t, path, 5)
		_, err := Verify(path)
		if te := asTamper(t, err); te.Seq != 5 {
			t.Fatalf("Verify = %v, want record 5", err)
		}
	})
}

// TestCheckpointFollowsCommits: the checkpoint a Log writes at Close names
// its last record, and reopening from it appends a chain that verifies.
func TestCheckpointFollowsCommits(t *testing.T) {
	key := testKey(3)
	path := newPath(t)
	writeKeyedLog(t, path, key, 3)
	writeKeyedLog(t, path, key, 3) // reopened from the checkpoint
	sum, err := VerifyWithKey(path, key)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 7 {
		t.Fatalf("Records = %d, want 7", sum.Records)
	}
	l := mustOpenKeyed(t, path, key)
	if l.lastSeq != 7 || l.lines != 7 {
		t.Errorf("reopened at seq %d, %d lines; want 7", l.lastSeq, l.lines)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
