package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// MaxDataSize is the largest "data" object, in bytes of its JSON encoding,
// that Append accepts. A larger record is refused whole, never cut.
const MaxDataSize = 64 << 10

// MaxTypeLen is the longest event type Append accepts.
const MaxTypeLen = 64

// maxLineSize bounds one line of the log (without its newline): the data plus
// the fixed fields, with generous room for them. A longer line is malformed.
const maxLineSize = MaxDataSize + 1024

// hashLen is the length of a hex-encoded SHA-256.
const hashLen = 2 * sha256.Size

// zeroHash is the "prev" of the first record and the hash of an empty log.
var zeroHash [sha256.Size]byte

// record is one parsed line of the log.
type record struct {
	Seq  uint64
	Time string
	Type string
	Data []byte // the exact bytes of the data object as stored
	Prev [sha256.Size]byte
	Hash [sha256.Size]byte // as stored in the line
	Sum  [sha256.Size]byte // recomputed over the line's hashed prefix
}

// appendPrefix appends the hashed part of a record line to dst:
//
//	{"seq":1,"time":"...","type":"...","data":{...},"prev":"<hex>"
//
// time and typ must already be valid (they are written without escaping) and
// data must be compact JSON without newlines.
func appendPrefix(dst []byte, seq uint64, ts, typ string, data []byte, prev *[sha256.Size]byte) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"time":"`...)
	dst = append(dst, ts...)
	dst = append(dst, `","type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","data":`...)
	dst = append(dst, data...)
	dst = append(dst, `,"prev":"`...)
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, '"')
	return dst
}

// appendSuffix appends the rest of a record line after its prefix, without
// the newline.
func appendSuffix(dst []byte, sum *[sha256.Size]byte) []byte {
	dst = append(dst, `,"hash":"`...)
	dst = hex.AppendEncode(dst, sum[:])
	dst = append(dst, `"}`...)
	return dst
}

// appendRecord appends a complete record line (with its newline) to dst and
// returns the record's hash.
func appendRecord(dst []byte, seq uint64, ts, typ string, data []byte, prev *[sha256.Size]byte) ([]byte, [sha256.Size]byte) {
	start := len(dst)
	dst = appendPrefix(dst, seq, ts, typ, data, prev)
	sum := sha256.Sum256(dst[start:])
	dst = appendSuffix(dst, &sum)
	dst = append(dst, '\n')
	return dst, sum
}

// validType reports whether typ is an acceptable event type: 1 to MaxTypeLen
// characters from [A-Za-z0-9_.:-]. These need no escaping in JSON.
func validType(typ string) bool {
	if len(typ) == 0 || len(typ) > MaxTypeLen {
		return false
	}
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// formatTime renders t as stored in a record: RFC 3339 with nanoseconds, UTC.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// validTime reports whether s is exactly how formatTime renders some instant.
func validTime(s string) bool {
	t, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && formatTime(t) == s
}

// parseHash decodes a 64-character lowercase hex SHA-256.
func parseHash(s string) ([sha256.Size]byte, bool) {
	var h [sha256.Size]byte
	if len(s) != hashLen {
		return h, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return h, false
		}
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, false
	}
	return h, true
}

// wireRecord is the JSON shape of a line.
type wireRecord struct {
	Seq  uint64          `json:"seq"`
	Time string          `json:"time"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
	Prev string          `json:"prev"`
	Hash string          `json:"hash"`
}

// errNotCanonical is returned for a line that is valid JSON but not exactly
// what the writer produces (field order, spacing, escapes, duplicates...).
var errNotCanonical = errors.New("not in canonical form")

// parseRecord parses one line of the log (without its newline). It accepts
// only the exact bytes the writer produces: the line is re-encoded from its
// fields and must match byte for byte, so one record has one representation
// and the hash covers everything a reader sees. It does not check the hash
// (Sum is the recomputed value, Hash the stored one) nor the chain.
func parseRecord(line []byte) (record, error) {
	var r record
	if len(line) > maxLineSize {
		return r, errors.New("line too long")
	}
	var w wireRecord
	if err := json.Unmarshal(line, &w); err != nil {
		return r, errors.New("invalid JSON")
	}
	switch {
	case w.Seq == 0:
		return r, errors.New("seq missing or zero")
	case !validTime(w.Time):
		return r, errors.New("time missing or not RFC 3339 UTC")
	case !validType(w.Type):
		return r, errors.New("type missing or invalid")
	case len(w.Data) == 0 || w.Data[0] != '{':
		return r, errors.New("data missing or not an object")
	case len(w.Data) > MaxDataSize:
		return r, errors.New("data too large")
	}
	prev, ok := parseHash(w.Prev)
	if !ok {
		return r, errors.New("prev missing or not a hex SHA-256")
	}
	hash, ok := parseHash(w.Hash)
	if !ok {
		return r, errors.New("hash missing or not a hex SHA-256")
	}
	// Re-encode and compare: rejects reordered or duplicated keys, extra
	// fields, whitespace and escapes that decode to the same values.
	enc := make([]byte, 0, len(line))
	enc = appendPrefix(enc, w.Seq, w.Time, w.Type, w.Data, &prev)
	if !bytes.HasPrefix(line, enc) {
		return r, errNotCanonical
	}
	r.Sum = sha256.Sum256(enc)
	enc = appendSuffix(enc, &hash)
	if !bytes.Equal(line, enc) {
		return r, errNotCanonical
	}
	r.Seq, r.Time, r.Type, r.Data, r.Prev, r.Hash = w.Seq, w.Time, w.Type, w.Data, prev, hash
	return r, nil
}
