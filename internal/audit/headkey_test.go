package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
)

// testKey returns a head key; different seeds give different keys.
func testKey(seed byte) []byte { return bytes.Repeat([]byte{seed}, HeadKeySize) }

// mustOpenKeyed opens path with the test clock and key.
func mustOpenKeyed(t testing.TB, path string, key []byte) *Log {
	t.Helper()
	l, err := Open(path, &Options{Now: testClock(), HeadKey: key})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// writeKeyedLog creates a keyed log at path with n tool_call records after
// the EventHeadKeyed record (seq 1).
func writeKeyedLog(t testing.TB, path string, key []byte, n int) {
	t.Helper()
	l := mustOpenKeyed(t, path, key)
	for i := 1; i <= n; i++ {
		if err := l.Append(context.Background(), TypeToolCall, map[string]any{"i": i}); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// hashOf returns the hex hash of record seq (1-based) of the log at path.
func hashOf(t testing.TB, path string, seq int) string {
	t.Helper()
	r := mustParse(t, readLines(t, path)[seq-1])
	return hex.EncodeToString(r.Hash[:])
}

// writeMACHead overwrites the head file of path with a head naming record
// seq, with mac (hex) as its MAC.
func writeMACHead(t testing.TB, path string, seq uint64, hash, mac string) {
	t.Helper()
	b := fmt.Sprintf(`{"seq":%d,"hash":"%s","mac":"%s"}`, seq, hash, mac)
	if err := os.WriteFile(path+HeadSuffix, []byte(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// macHex computes a head MAC independently of the package: HMAC-SHA256 over
// {"seq":N,"hash":"<hex>", as the package doc specifies.
func macHex(key []byte, seq uint64, hash string) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, `{"seq":%d,"hash":"%s"`, seq, hash)
	return hex.EncodeToString(m.Sum(nil))
}

// TestKeyedHeadFile: a keyed Log writes the head file as the package doc
// says, and marks the chain as keyed with its first record.
func TestKeyedHeadFile(t *testing.T) {
	path := newPath(t)
	key := testKey(1)
	writeKeyedLog(t, path, key, 3)
	head, err := os.ReadFile(path + HeadSuffix)
	if err != nil {
		t.Fatal(err)
	}
	hash := hashOf(t, path, 4)
	want := fmt.Sprintf(`{"seq":4,"hash":"%s","mac":"%s"}`, hash, macHex(key, 4, hash))
	if len(head) != headSize || !bytes.HasPrefix(head, []byte(want)) || strings.TrimLeft(string(head[len(want):]), " ") != "\n" {
		t.Fatalf("head file = %q, want %q padded to %d bytes", head, want, headSize)
	}
	r := mustParse(t, readLines(t, path)[0])
	var d headKeyedInfo
	if err := json.Unmarshal(r.Data, &d); err != nil || r.Type != TypeSecurity || d.Event != EventHeadKeyed || d.AfterSeq != 0 {
		t.Fatalf("record 1 = %s %s, want the %s record", r.Type, r.Data, EventHeadKeyed)
	}
	sum, err := VerifyWithKey(path, key)
	if err != nil || sum.Records != 4 || sum.HeadMAC != HeadMACVerified || sum.KeyedSeq != 1 {
		t.Fatalf("VerifyWithKey = %+v, %v", sum, err)
	}
	sum, err = Verify(path)
	if err != nil || sum.HeadMAC != HeadMACUnchecked || sum.KeyedSeq != 1 {
		t.Fatalf("Verify = %+v, %v", sum, err)
	}
}

// TestCutTailRewrittenHead: records cut from the end of a keyed log, and the
// head file rewritten to match by someone without the key. Before the head
// key, every case passed Verify.
func TestCutTailRewrittenHead(t *testing.T) {
	const n, keep = 9, 6 // records after the marker; records (with it) left
	key := testKey(1)
	tests := []struct {
		name string
		// head rewrites the head file for a log cut to keep records; old is
		// the head file before the cut.
		head   func(t *testing.T, path string, old []byte)
		detail string
		// withoutKey is the detail Verify reports without the key; "" if
		// it cannot tell.
		withoutKey string
	}{
		{
			name: "head without a MAC",
			head: func(t *testing.T, path string, _ []byte) {
				writeHeadFile(t, path, keep, hashOf(t, path, keep))
			},
			detail:     "has no MAC, but record 1 keyed it",
			withoutKey: "has no MAC, but record 1 keyed it",
		},
		{
			name: "MAC under a guessed key",
			head: func(t *testing.T, path string, _ []byte) {
				hash := hashOf(t, path, keep)
				writeMACHead(t, path, keep, hash, macHex(testKey(2), keep, hash))
			},
			detail: "MAC does not verify",
		},
		{
			name: "old head's MAC kept",
			head: func(t *testing.T, path string, old []byte) {
				var h struct{ MAC string }
				if err := json.Unmarshal(bytes.TrimSpace(old), &h); err != nil {
					t.Fatal(err)
				}
				writeMACHead(t, path, keep, hashOf(t, path, keep), h.MAC)
			},
			detail: "MAC does not verify",
		},
		{
			name: "head naming no record",
			head: func(t *testing.T, path string, _ []byte) {
				writeHeadFile(t, path, 0, strings.Repeat("0", 64))
			},
			detail:     "has no MAC, but record 1 keyed it",
			withoutKey: "has no MAC, but record 1 keyed it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			writeKeyedLog(t, path, key, n)
			old, err := os.ReadFile(path + HeadSuffix)
			if err != nil {
				t.Fatal(err)
			}
			writeLines(t, path, readLines(t, path)[:keep])
			tt.head(t, path, old)
			logBefore, _ := os.ReadFile(path)
			headBefore, _ := os.ReadFile(path + HeadSuffix)

			sum, err := VerifyWithKey(path, key)
			te := asTamper(t, err)
			if te.Kind != KindTruncated || !strings.Contains(te.Detail, tt.detail) || sum.Records != keep {
				t.Fatalf("VerifyWithKey = %+v, %v; want %s ~%q", sum, err, KindTruncated, tt.detail)
			}

			sum, err = Verify(path)
			switch {
			case tt.withoutKey == "" && (err != nil || sum.HeadMAC != HeadMACUnchecked):
				t.Fatalf("Verify without the key = %+v, %v; want it intact but the MAC unchecked", sum, err)
			case tt.withoutKey != "":
				if te := asTamper(t, err); !strings.Contains(te.Detail, tt.withoutKey) {
					t.Fatalf("Verify without the key = %v, want ~%q", err, tt.withoutKey)
				}
			}

			if _, err := Open(path, &Options{HeadKey: key}); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("keyed Open = %v, want the tampering", err)
			}
			_, err = Open(path, nil)
			if tt.withoutKey == "" && !errors.Is(err, ErrKeyRequired) || tt.withoutKey != "" && !errors.Is(err, ErrTampered) {
				t.Fatalf("unkeyed Open = %v", err)
			}
			logAfter, _ := os.ReadFile(path)
			headAfter, _ := os.ReadFile(path + HeadSuffix)
			if !bytes.Equal(logBefore, logAfter) || !bytes.Equal(headBefore, headAfter) {
				t.Fatal("Open changed the files of a log it refused")
			}
		})
	}
}

// TestKeyedCatchUpCut: a running keyed Log finds, before its next commit,
// that another writer's records were cut and the head rewritten.
func TestKeyedCatchUpCut(t *testing.T) {
	key := testKey(1)
	for _, withMAC := range []bool{false, true} {
		t.Run(fmt.Sprintf("forged MAC %v", withMAC), func(t *testing.T) {
			path := newPath(t)
			ctx := context.Background()
			a := mustOpenKeyed(t, path, key)
			if err := a.Append(ctx, TypeStart, nil); err != nil {
				t.Fatal(err)
			}
			writeKeyedLog(t, path, key, 3) // another writer: records 3 to 5
			writeLines(t, path, readLines(t, path)[:4])
			if hash := hashOf(t, path, 4); withMAC {
				writeMACHead(t, path, 4, hash, macHex(testKey(2), 4, hash))
			} else {
				writeHeadFile(t, path, 4, hash)
			}
			te := asTamper(t, a.Append(ctx, TypeVerdict, nil))
			if te.Kind != KindTruncated || !strings.Contains(te.Detail, "without the key") {
				t.Fatalf("Append = %+v", te)
			}
			if err := a.Close(); !errors.Is(err, ErrTampered) {
				t.Fatalf("Close = %v", err)
			}
			if n := len(readLines(t, path)); n != 4 {
				t.Fatalf("the Log wrote after finding the cut: %d lines", n)
			}
		})
	}
}

// TestWrongKey: a head MAC'd with another key is refused.
func TestWrongKey(t *testing.T) {
	path := newPath(t)
	writeKeyedLog(t, path, testKey(1), 2)
	if _, err := VerifyWithKey(path, testKey(2)); !errors.Is(err, ErrTampered) {
		t.Fatalf("VerifyWithKey with another key = %v", err)
	}
	if _, err := Open(path, &Options{HeadKey: testKey(2)}); !errors.Is(err, ErrTampered) {
		t.Fatalf("Open with another key = %v", err)
	}
}

func TestHeadKeySize(t *testing.T) {
	path := newPath(t)
	if _, err := Open(path, &Options{HeadKey: make([]byte, HeadKeySize-1)}); err == nil {
		t.Fatal("Open took a short key")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Open with a bad key created the log")
	}
	writeLog(t, path, 1)
	if _, err := VerifyWithKey(path, make([]byte, HeadKeySize+1)); err == nil {
		t.Fatal("VerifyWithKey took a long key")
	}
}

// TestUpgradeLegacyHead: a log written without the key (as earlier versions
// did) verifies with the key but says its MAC is absent; the first keyed
// writer adds the MAC and the EventHeadKeyed record, after which a head
// without a MAC is refused.
func TestUpgradeLegacyHead(t *testing.T) {
	key := testKey(1)
	path := newPath(t)
	writeLog(t, path, 5)
	// An earlier version's head: 128 bytes, no MAC.
	legacy := fmt.Sprintf(`{"seq":5,"hash":"%s"}`, hashOf(t, path, 5))
	legacy += strings.Repeat(" ", 127-len(legacy)) + "\n"
	if err := os.WriteFile(path+HeadSuffix, []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := VerifyWithKey(path, key)
	if err != nil || sum.HeadMAC != HeadMACAbsent || sum.KeyedSeq != 0 || sum.Records != 5 {
		t.Fatalf("VerifyWithKey of a legacy log = %+v, %v", sum, err)
	}

	l := mustOpenKeyed(t, path, key)
	if seq, _ := l.Head(); seq != 6 {
		t.Fatalf("after the upgrade, Head = %d, want 6 (the %s record)", seq, EventHeadKeyed)
	}
	if err := l.Append(context.Background(), TypeStart, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r := mustParse(t, readLines(t, path)[5])
	var d headKeyedInfo
	if err := json.Unmarshal(r.Data, &d); err != nil || d.Event != EventHeadKeyed || d.AfterSeq != 5 {
		t.Fatalf("record 6 = %s, want the %s record after 5", r.Data, EventHeadKeyed)
	}
	sum, err = VerifyWithKey(path, key)
	if err != nil || sum.HeadMAC != HeadMACVerified || sum.KeyedSeq != 6 || sum.Records != 7 {
		t.Fatalf("VerifyWithKey after the upgrade = %+v, %v", sum, err)
	}

	// Cut back to the marker, head without a MAC: refused.
	writeLines(t, path, readLines(t, path)[:6])
	writeHeadFile(t, path, 6, hashOf(t, path, 6))
	if _, err := VerifyWithKey(path, key); !errors.Is(err, ErrTampered) {
		t.Fatalf("stripped head after the marker: %v", err)
	}
	// Cut back to before the marker: the documented limit (see the Security
	// model): it looks like a log never keyed.
	writeLines(t, path, readLines(t, path)[:5])
	writeHeadFile(t, path, 5, hashOf(t, path, 5))
	if sum, err := VerifyWithKey(path, key); err != nil || sum.HeadMAC != HeadMACAbsent {
		t.Fatalf("cut to before the marker = %+v, %v", sum, err)
	}
}

// TestUpgradeCrashes: a crash in the middle of an upgrade leaves a keyed head
// without the marker, or the marker after a keyed head that lags. Neither is
// tampering, and the next keyed Open completes the upgrade.
func TestUpgradeCrashes(t *testing.T) {
	key := testKey(1)
	t.Run("after the head, before the marker", func(t *testing.T) {
		path := newPath(t)
		writeLog(t, path, 5)
		hash := hashOf(t, path, 5)
		writeMACHead(t, path, 5, hash, macHex(key, 5, hash))
		if sum, err := VerifyWithKey(path, key); err != nil || sum.HeadMAC != HeadMACVerified || sum.KeyedSeq != 0 {
			t.Fatalf("VerifyWithKey = %+v, %v", sum, err)
		}
		mustOpenKeyed(t, path, key).Close()
		if sum, err := VerifyWithKey(path, key); err != nil || sum.KeyedSeq != 6 || sum.LastSeq != 6 {
			t.Fatalf("VerifyWithKey after Open = %+v, %v", sum, err)
		}
	})
	t.Run("after the marker, before its head", func(t *testing.T) {
		path := newPath(t)
		writeKeyedLog(t, path, key, 2)
		// The head as the upgrade's first step left it: before the marker.
		// (Record 1 is the marker of a new log, so keep a one-record log.)
		writeLines(t, path, readLines(t, path)[:1])
		writeMACHead(t, path, 0, strings.Repeat("0", 64), macHex(key, 0, strings.Repeat("0", 64)))
		if sum, err := VerifyWithKey(path, key); err != nil || sum.HeadMAC != HeadMACVerified || sum.KeyedSeq != 1 {
			t.Fatalf("VerifyWithKey = %+v, %v", sum, err)
		}
		mustOpenKeyed(t, path, key).Close()
		if b, _ := os.ReadFile(path + HeadSuffix); !bytes.Contains(b, []byte(`{"seq":1,`)) {
			t.Fatalf("Open did not bring the head up: %q", b)
		}
	})
}

// TestUnkeyedWriterRefused: a Log without the key never writes a keyed log,
// whether it finds the MAC at Open or, opened before the upgrade, at its next
// commit.
func TestUnkeyedWriterRefused(t *testing.T) {
	key := testKey(1)
	path := newPath(t)
	writeLog(t, path, 2)
	early := mustOpen(t, path) // opened before the upgrade
	writeKeyedLog(t, path, key, 1)
	headBefore, _ := os.ReadFile(path + HeadSuffix)
	if _, err := Open(path, nil); !errors.Is(err, ErrKeyRequired) {
		t.Fatalf("unkeyed Open of a keyed log = %v", err)
	}
	if err := early.Append(context.Background(), TypeToolCall, nil); !errors.Is(err, ErrKeyRequired) {
		t.Fatalf("unkeyed Append to a keyed log = %v", err)
	}
	early.Close()
	if headAfter, _ := os.ReadFile(path + HeadSuffix); !bytes.Equal(headBefore, headAfter) {
		t.Fatal("an unkeyed Log rewrote the keyed head")
	}
	if sum, err := VerifyWithKey(path, key); err != nil || sum.HeadMAC != HeadMACVerified || sum.Records != 4 {
		t.Fatalf("VerifyWithKey = %+v, %v", sum, err)
	}
}

// TestTwoKeyedLogs: two keyed Logs append to one log that an earlier version
// started, concurrently; exactly one upgrades it, and every commit keeps a
// head whose MAC verifies (each Log checks the other's head before it
// commits, so a bad MAC would fail an Append).
func TestTwoKeyedLogs(t *testing.T) {
	const each = 200
	key := testKey(1)
	path := newPath(t)
	writeLog(t, path, 3)
	logs := make([]*Log, 2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range logs {
		wg.Go(func() {
			logs[i], errs[i] = Open(path, &Options{Now: testClock(), HeadKey: key})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, l := range logs {
		wg.Go(func() { errs[i] = appendConcurrently(l, fmt.Sprint(i), 4, each) })
	}
	wg.Wait()
	for i, l := range logs {
		errs[i] = errors.Join(errs[i], l.Close())
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	sum, err := VerifyWithKey(path, key)
	if err != nil || sum.HeadMAC != HeadMACVerified || sum.KeyedSeq != 4 || sum.Records != 3+1+2*each {
		t.Fatalf("VerifyWithKey = %+v, %v", sum, err)
	}
	markers := 0
	for _, line := range readLines(t, path) {
		if r := mustParse(t, line); isHeadKeyed(&r) {
			markers++
		}
	}
	if markers != 1 {
		t.Fatalf("%d %s records, want 1", markers, EventHeadKeyed)
	}
}

// TestMustExist: with MustExist, Open refuses a missing or empty log (all
// records cut) and leaves it as it was.
func TestMustExist(t *testing.T) {
	key := testKey(1)
	path := newPath(t)
	opts := &Options{HeadKey: key, MustExist: true}
	if _, err := Open(path, opts); !errors.Is(err, ErrTampered) {
		t.Fatalf("Open of a missing log = %v", err)
	}
	for _, p := range []string{path, path + HeadSuffix} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open created %s", p)
		}
	}
	writeKeyedLog(t, path, key, 1)
	l, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open of a started log: %v", err)
	}
	l.Close()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	writeHeadFile(t, path, 0, strings.Repeat("0", 64))
	if _, err := Open(path, opts); !errors.Is(err, ErrTampered) {
		t.Fatalf("Open of an emptied log = %v", err)
	}
}

// TestLogVerifyKeyed: a running Log's Verify checks the head MAC with its
// key: a tail cut with the old head's MAC kept is found, which the unkeyed
// Verify cannot tell.
func TestLogVerifyKeyed(t *testing.T) {
	const n, keep = 9, 6
	key := testKey(1)
	path := newPath(t)
	writeKeyedLog(t, path, key, n)
	l := mustOpenKeyed(t, path, key)
	if sum, err := l.Verify(); err != nil || sum.HeadMAC != HeadMACVerified {
		t.Fatalf("intact: %+v, %v", sum, err)
	}
	old, err := os.ReadFile(path + HeadSuffix)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ MAC string }
	if err := json.Unmarshal(bytes.TrimSpace(old), &h); err != nil {
		t.Fatal(err)
	}
	writeLines(t, path, readLines(t, path)[:keep])
	writeMACHead(t, path, keep, hashOf(t, path, keep), h.MAC)
	if _, err := Verify(path); err != nil {
		t.Fatalf("unkeyed Verify = %v; the test expects it blind to this cut", err)
	}
	if _, err := l.Verify(); !errors.Is(err, ErrTampered) {
		t.Fatalf("Log.Verify = %v, want the cut", err)
	}
	l.Close()
	if _, err := l.Verify(); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
