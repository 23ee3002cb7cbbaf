package audit

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// killedAfterPeriodicCheckpoint makes a keyed log whose writer committed
// checkpointEvery+4 records after the EventHeadKeyed record (seq 1; record
// seq s is {"i":s-1}) and was then killed: the returned directory holds the
// log, head and checkpoint files as they were before Close, which would
// have written a checkpoint naming the last record. It also returns the
// checkpoint those files hold.
func killedAfterPeriodicCheckpoint(t *testing.T, key []byte) (string, checkpoint) {
	t.Helper()
	path := newPath(t)
	// The linger only makes the Enqueued records share the Append's commit
	// (fast); the test holds however they are committed.
	l, err := Open(path, &Options{Now: testClock(), HeadKey: key, Linger: time.Hour})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for i := 1; i <= checkpointEvery; i++ {
		if err := l.Enqueue(TypeToolCall, map[string]any{"i": i}); err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	// An Append returns after its commit, and the writer commits in order:
	// then every record before it, and the checkpoint a commit writes, is on
	// disk. The last three come after the periodic checkpoint.
	for i := checkpointEvery + 1; i <= checkpointEvery+4; i++ {
		if err := l.Append(context.Background(), TypeToolCall, map[string]any{"i": i}); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	dir := t.TempDir()
	for _, suffix := range []string{"", HeadSuffix, CheckpointSuffix} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatalf("the killed writer left no %q file: %v", suffix, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "audit.log"+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil { // writes to path, not to the copy
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "audit.log"+CheckpointSuffix))
	if err != nil {
		t.Fatal(err)
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatalf("checkpoint %s: %v", b, err)
	}
	return dir, cp
}

// copyLog copies the log, head and checkpoint files of dir to a new
// directory and returns the log's path there.
func copyLog(t *testing.T, dir string) string {
	t.Helper()
	path := newPath(t)
	for _, suffix := range []string{"", HeadSuffix, CheckpointSuffix} {
		b, err := os.ReadFile(filepath.Join(dir, "audit.log"+suffix))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestCheckpointPeriodicWithoutClose: a Log writes a checkpoint every
// checkpointEvery records, so that after a writer killed without Close the
// next Open starts from that checkpoint and verifies only the records after
// it: an edit before it is not seen at start-up but is by VerifyWithKey,
// an edit after it stops Open.
func TestCheckpointPeriodicWithoutClose(t *testing.T) {
	key := testKey(9)
	dir, cp := killedAfterPeriodicCheckpoint(t, key)
	// Open's checkpoint names record 1; the periodic one is written by the
	// commit that brings the records since then to checkpointEvery: that of
	// record checkpointEvery+1 (the last Enqueued) or of the first Append.
	if lo, hi := uint64(checkpointEvery+1), uint64(checkpointEvery+2); cp.Seq < lo || cp.Seq > hi {
		t.Errorf("after a kill the checkpoint names record %d, want %d..%d (the periodic checkpoint)", cp.Seq, lo, hi)
	}
	last := uint64(checkpointEvery + 5)

	t.Run("reopened from it: the chain continues", func(t *testing.T) {
		path := copyLog(t, dir)
		l := mustOpenKeyed(t, path, key)
		if l.lastSeq != last || l.lines != int(last) || l.keyedSeq != 1 {
			t.Errorf("reopened at seq %d, %d lines, keyed at %d; want %d, %d, 1", l.lastSeq, l.lines, l.keyedSeq, last, last)
		}
		if err := l.Append(context.Background(), TypeToolCall, map[string]any{"i": last}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		sum, err := VerifyWithKey(path, key)
		if err != nil || sum.Records != int(last+1) {
			t.Fatalf("VerifyWithKey = %+v, %v; want %d records", sum, err, last+1)
		}
	})
	t.Run("edit before the periodic checkpoint: found by verify, not at start", func(t *testing.T) {
		path := copyLog(t, dir)
		seq := checkpointEvery / 2
		editRecord(t, path, seq)
		l, err := Open(path, &Options{Now: testClock(), HeadKey: key})
		if err != nil {
			t.Fatalf("Open after a kill verified before the periodic checkpoint (record %d): %v", cp.Seq, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = VerifyWithKey(path, key)
		if te := asTamper(t, err); te.Seq != uint64(seq) || te.Kind != KindEdited {
			t.Fatalf("VerifyWithKey = %v, want record %d edited", err, seq)
		}
	})
	t.Run("edit after the periodic checkpoint: found at start", func(t *testing.T) {
		path := copyLog(t, dir)
		seq := cp.Seq + 1
		editRecord(t, path, int(seq))
		_, err := Open(path, &Options{Now: testClock(), HeadKey: key})
		if te := asTamper(t, err); te.Seq != seq || te.Kind != KindEdited {
			t.Fatalf("Open = %v, want record %d edited", err, seq)
		}
	})
}
