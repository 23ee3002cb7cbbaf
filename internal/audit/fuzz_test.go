package audit

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseRecord checks that the line parser never panics, and that any line
// it accepts is exactly what the writer would produce for its fields.
func FuzzParseRecord(f *testing.F) {
	good, _ := forge(1, zeroHash, `{"a":"b"}`)
	big, _ := forge(7, [32]byte{1, 2, 3}, `{"n":[1,2.5,-3e4,true,false,null,{"x":"\u003c\n\""}]}`)
	for _, s := range []string{
		string(good),
		string(big),
		"",
		"{}",
		"null",
		`{"seq":1}`,
		string(good[:len(good)/2]),
		strings.Replace(string(good), `"seq":1`, `"seq":1e0`, 1),
		strings.Replace(string(good), `,"type"`, ` ,"type"`, 1),
		strings.Replace(string(good), `"data":{"a":"b"}`, `"data":{"a":"b","a":"c"}`, 1),
		string(good) + string(good),
		"\x00\xff{\"seq\":",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := parseRecord(line)
		if err != nil {
			return
		}
		_, sum := appendRecord(nil, r.Seq, r.Time, r.Type, r.Data, &r.Prev)
		if sum != r.Sum {
			t.Fatalf("recomputed hash differs for %q", line)
		}
		// Re-encoded with its stored hash, the record is the line itself.
		enc := appendSuffix(appendPrefix(nil, r.Seq, r.Time, r.Type, r.Data, &r.Prev), &r.Hash)
		if !bytes.Equal(enc, line) {
			t.Fatalf("accepted %q, which re-encodes as %q", line, enc)
		}
		if !validType(r.Type) || !validTime(r.Time) || r.Seq == 0 || len(r.Data) == 0 || r.Data[0] != '{' {
			t.Fatalf("accepted invalid fields: %+v", r)
		}
	})
}

// FuzzReadHead checks that the head file parser never panics, and that a head
// it accepts means what its canonical form says.
func FuzzReadHead(f *testing.F) {
	key := testKey(1)
	sum := [32]byte{9, 8, 7}
	mac := headMAC(key, 42, &sum)
	prefix := string(appendHeadPrefix(nil, 42, &sum))
	for _, s := range []string{
		prefix + "}",
		prefix + `,"mac":"` + strings.Repeat("ab", 32) + `"}` + strings.Repeat(" ", 60) + "\n",
		prefix + `,"mac":"` + hex.EncodeToString(mac[:]) + `"}`,
		prefix + `,"mac":null}`,
		prefix + `,"mac":"` + strings.Repeat("AB", 32) + `"}`,
		`{"seq":0,"hash":"` + strings.Repeat("0", 64) + `"}`,
		`{"hash":"` + strings.Repeat("0", 64) + `","seq":3}`,
		`{"seq":1}`,
		"",
		"\x00",
	} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "head")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		hf, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer hf.Close()
		h, err := readHead(hf)
		if err != nil {
			return
		}
		if h.seq == 0 && h.hash != zeroHash {
			t.Fatalf("accepted record 0 with a hash: %q", b)
		}
		if h.keyed && checkHeadAuth(&h, 0, key) == nil {
			if want := headMAC(key, h.seq, &h.hash); want != h.mac {
				t.Fatalf("a MAC that differs verified: %q", b)
			}
		}
	})
}
