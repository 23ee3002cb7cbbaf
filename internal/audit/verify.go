package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Kinds of tampering a TamperError reports.
const (
	// KindEdited means a record's bytes changed (its hash does not match).
	KindEdited = "edited"
	// KindDeleted means records are missing (a seq gap, or prev does not match
	// the previous record's hash).
	KindDeleted = "deleted"
	// KindReordered means records are out of order (seq goes backwards, or a
	// missing seq appears later in the file).
	KindReordered = "reordered"
	// KindTruncated means the log ends before the record its head file names, the
	// record at that seq has another hash, the last line is partial, or the
	// head file itself is missing; that the head file's MAC does not verify,
	// or that it has none after an EventHeadKeyed record (it was rewritten,
	// records cut from the end); with Options.MustExist, that the log is
	// missing or empty; or, found by a writer, that the log shrank or the log
	// or head file was removed or replaced while it had them open.
	KindTruncated = "truncated"
	// KindMalformed means a line, or the head file, is not a valid record.
	KindMalformed = "malformed"
)

// ErrTampered matches every *TamperError with errors.Is.
var ErrTampered = errors.New("audit: log tampered")

// TamperError reports the first place where a log fails verification.
type TamperError struct {
	// Seq is the sequence number expected at the first bad record. It is 0
	// when the problem is the head file, or the files as a whole, rather than
	// a record.
	Seq uint64
	// Line is the 1-based line of the first bad record (equal to Seq in a
	// log whose earlier records are intact); 0 for head file problems.
	Line int
	// Kind is one of KindEdited, KindDeleted, KindReordered, KindTruncated,
	// KindMalformed.
	Kind string
	// Detail says what was found.
	Detail string
}

// Error returns a message such as
// "audit: record 17 (line 17) edited: hash mismatch".
func (e *TamperError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("audit: log %s: %s", e.Kind, e.Detail)
	}
	return fmt.Sprintf("audit: record %d (line %d) %s: %s", e.Seq, e.Line, e.Kind, e.Detail)
}

// Is reports whether target is ErrTampered.
func (e *TamperError) Is(target error) bool { return target == ErrTampered }

// Summary describes a verified log, or on a TamperError the intact records
// before the first bad one.
type Summary struct {
	// Records is the number of records verified.
	Records int
	// LastSeq is the seq of the last verified record (0 if none).
	LastSeq uint64
	// LastHash is the hex hash of the last verified record (64 zeros if none).
	LastHash string
	// HeadMAC says what was checked of the head file's MAC: HeadMACVerified,
	// HeadMACUnchecked or HeadMACAbsent. It is empty on an error.
	HeadMAC string
	// KeyedSeq is the seq of the EventHeadKeyed record, from which on the
	// head file must have a MAC (0 if none was found).
	KeyedSeq uint64
}

// Verify checks the whole log at path, record by record, against its head
// file. It returns a nil error iff the log is intact; otherwise the error is a
// *TamperError naming the first bad record, or an I/O error. A log with more
// records than its head file names is intact (the head lags after a crash);
// a partial last line is not, even though Open would repair it when the head
// shows it was never acknowledged.
//
// Verify may run while Logs are appending to the file. It takes the lock
// shared just long enough to read the head file and the log's size (so it
// never sees a commit half done) and then checks the records up to that
// size without holding writers up.
//
// Without the key, Verify cannot tell a head file rewritten after records
// were cut from the end from a genuine one, unless the head lost its MAC
// after an EventHeadKeyed record; Summary.HeadMAC says so. VerifyWithKey
// checks the MAC too.
func Verify(path string) (*Summary, error) {
	return VerifyWithKey(path, nil)
}

// VerifyWithKey is Verify that also checks the head file's MAC with key
// (HeadKeySize bytes, as given to Open in Options.HeadKey; nil checks no
// MAC, like Verify). A head whose MAC does not verify is a *TamperError of
// KindTruncated: records were cut from the end and the head rewritten, or
// the head was edited. A head without a MAC is one too once the chain holds
// an EventHeadKeyed record; before that (Summary.HeadMAC HeadMACAbsent) the
// log is judged on its chain alone.
func VerifyWithKey(path string, key []byte) (*Summary, error) {
	if key != nil && len(key) != HeadKeySize {
		return nil, errKeySize
	}
	var (
		h           headState
		headMissing bool
		size        int64
		r           io.ReaderAt = bytes.NewReader(nil)
	)
	for attempt := 1; ; attempt++ {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			// Judged as an empty log against the head, unless the head is
			// missing too, or the log appeared meanwhile (Open creates the
			// log before its head).
			if h, headMissing, err = loadHead(path); err != nil {
				return nil, err
			}
			if headMissing {
				return nil, fmt.Errorf("audit: open log: %w", fs.ErrNotExist)
			}
			if _, serr := os.Stat(path); attempt == 1 && serr == nil {
				continue
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("audit: open log: %w", err)
		}
		defer f.Close()
		if err := lockFile(f, false); err != nil {
			return nil, err
		}
		h, headMissing, err = loadHead(path)
		var st os.FileInfo
		if err == nil {
			if st, err = f.Stat(); err != nil {
				err = fmt.Errorf("audit: stat log: %w", err)
			}
		}
		if uerr := unlockFile(f); err == nil {
			err = uerr
		}
		if err != nil {
			return nil, err
		}
		size, r = st.Size(), f
		if headMissing && size != 0 {
			return nil, headMissingError(size)
		}
		break
	}

	from := scanResult{lastHash: zeroHash}
	res, err := scanFrom(io.NewSectionReader(r, 0, size), from, h.seq)
	if err != nil {
		return nil, err
	}
	sum := &Summary{Records: res.records, LastSeq: res.lastSeq, LastHash: hex.EncodeToString(res.lastHash[:]), KeyedSeq: res.keyedSeq}
	if res.tamper != nil {
		return sum, res.tamper
	}
	if res.partial > 0 {
		return sum, partialError(&res)
	}
	if te := checkHeadAuth(&h, res.keyedSeq, key); te != nil {
		return sum, te
	}
	if te := checkHead(&res, &h, &from); te != nil {
		return sum, te
	}
	sum.HeadMAC = headMACState(&h, key)
	return sum, nil
}

// loadHead reads the head file of the log at path, reporting whether it is
// missing.
func loadHead(path string) (h headState, missing bool, err error) {
	hf, err := os.Open(path + HeadSuffix)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return h, true, nil
	case err != nil:
		return h, false, fmt.Errorf("audit: open head: %w", err)
	}
	defer hf.Close()
	h, err = readHead(hf)
	return h, false, err
}

// partialError describes a final line without its newline.
func partialError(res *scanResult) *TamperError {
	return &TamperError{Seq: res.lastSeq + 1, Line: res.records + 1, Kind: KindTruncated,
		Detail: fmt.Sprintf("partial last line (%d bytes without a newline)", res.partial)}
}

// headMissingError describes a non-empty log without its head file.
func headMissingError(size int64) error {
	return &TamperError{Kind: KindTruncated, Detail: fmt.Sprintf(
		"head file missing but the log is not empty (%d bytes): the head was deleted or the log replaced", size)}
}

// maxHeadFile bounds how much of a head file is read.
const maxHeadFile = 4096

// headState is a parsed head file.
type headState struct {
	seq   uint64
	hash  [sha256.Size]byte
	mac   [sha256.Size]byte
	keyed bool // the file has a mac
	size  int  // bytes in the file
}

// readHead reads and parses a head file: {"seq":N,"hash":"<hex>"} or
// {"seq":N,"hash":"<hex>","mac":"<hex>"} followed by optional spaces and
// newlines.
func readHead(f *os.File) (headState, error) {
	var h headState
	b, err := io.ReadAll(io.NewSectionReader(f, 0, maxHeadFile+1))
	if err != nil {
		return h, fmt.Errorf("audit: read head: %w", err)
	}
	h.size = len(b)
	bad := func(detail string) (headState, error) {
		return h, &TamperError{Kind: KindMalformed, Detail: "head file " + detail}
	}
	if len(b) > maxHeadFile {
		return bad("too large")
	}
	if len(b) == 0 {
		return bad("empty")
	}
	var w struct {
		Seq  *uint64 `json:"seq"`
		Hash *string `json:"hash"`
		MAC  *string `json:"mac"`
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimRight(b, " \n")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return bad("is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("has trailing data")
	}
	if w.Seq == nil || w.Hash == nil {
		return bad("lacks seq or hash")
	}
	hash, ok := parseHash(*w.Hash)
	if !ok {
		return bad("hash is not a hex SHA-256")
	}
	if *w.Seq == 0 && hash != zeroHash {
		return bad("names record 0 with a non-zero hash")
	}
	if w.MAC != nil {
		if h.mac, ok = parseHash(*w.MAC); !ok {
			return bad("mac is not a hex HMAC-SHA256")
		}
		h.keyed = true
	}
	h.seq, h.hash = *w.Seq, hash
	return h, nil
}

// scanResult is what one pass over a log found.
type scanResult struct {
	records  int
	lastSeq  uint64
	lastHash [sha256.Size]byte // of the last good record; zeroHash if none
	end      int64             // byte offset just after the last good line
	// lastStart is the byte offset of the last good line.
	lastStart int64
	partial   int64 // length of a final line without newline, after an intact chain

	wantHash  [sha256.Size]byte // hash of the record whose seq scan was asked for
	wantFound bool

	keyedSeq uint64 // the first EventHeadKeyed record; 0 if none

	tamper *TamperError // the first bad record, if any
}

// scanFrom reads a log from r and checks its chain, stopping at the first
// bad record. r starts where from ends: from describes the records before it
// (the zero scanResult with lastHash zeroHash for a whole log), and the
// result counts them too. It records the hash of record wantSeq for the head
// check. Only I/O errors are returned as errors; tampering is reported in the
// result.
func scanFrom(r io.Reader, from scanResult, wantSeq uint64) (scanResult, error) {
	res := from
	res.partial, res.wantFound, res.tamper = 0, false, nil
	br := bufio.NewReaderSize(r, maxLineSize+2)
	line := res.records
	bad := func(seq uint64, kind, detail string) (scanResult, error) {
		res.tamper = &TamperError{Seq: seq, Line: line, Kind: kind, Detail: detail}
		return res, nil
	}
	for {
		raw, err := br.ReadSlice('\n')
		want := res.lastSeq + 1
		switch {
		case err == bufio.ErrBufferFull:
			line++
			return bad(want, KindMalformed, fmt.Sprintf("line longer than %d bytes", maxLineSize))
		case err == io.EOF:
			res.partial = int64(len(raw))
			return res, nil
		case err != nil:
			return res, fmt.Errorf("audit: read log: %w", err)
		}
		line++
		rec, perr := parseRecord(raw[:len(raw)-1])
		switch {
		case perr != nil:
			return bad(want, KindMalformed, perr.Error())
		case rec.Sum != rec.Hash:
			return bad(want, KindEdited, "hash mismatch")
		case rec.Seq < want:
			return bad(want, KindReordered, fmt.Sprintf("found seq %d where %d was expected (seq goes backwards)", rec.Seq, want))
		case rec.Seq > want:
			found, err := findSeq(br, want)
			if err != nil {
				return res, err
			}
			if found {
				return bad(want, KindReordered, fmt.Sprintf("found seq %d where %d was expected; %d comes later", rec.Seq, want, want))
			}
			return bad(want, KindDeleted, fmt.Sprintf("seq jumps from %d to %d", res.lastSeq, rec.Seq))
		case rec.Prev != res.lastHash:
			return bad(want, KindDeleted, fmt.Sprintf("prev does not match the hash of record %d", res.lastSeq))
		}
		res.records++
		res.lastSeq, res.lastHash = rec.Seq, rec.Hash
		res.lastStart = res.end
		res.end += int64(len(raw))
		if rec.Seq == wantSeq {
			res.wantHash, res.wantFound = rec.Hash, true
		}
		if res.keyedSeq == 0 && isHeadKeyed(&rec) {
			res.keyedSeq = rec.Seq
		}
	}
}

// findSeq reads the rest of the log looking for a well-formed record with
// sequence number seq, skipping lines that do not parse.
func findSeq(br *bufio.Reader, seq uint64) (bool, error) {
	long := false // inside a line too long to be a record
	for {
		raw, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			long = true
			continue
		case err == io.EOF:
			return false, nil
		case err != nil:
			return false, fmt.Errorf("audit: read log: %w", err)
		}
		if long {
			long = false
			continue
		}
		if rec, err := parseRecord(raw[:len(raw)-1]); err == nil && rec.Seq == seq {
			return true, nil
		}
	}
}

// checkHead compares an intact chain with its head file: the log must reach
// the record the head names, with the same hash. A log ahead of its head is
// fine. from is where the scan that produced res started: a head naming a
// record before it, which that scan did not see, is taken as lagging.
func checkHead(res *scanResult, h *headState, from *scanResult) *TamperError {
	if h.seq > res.lastSeq {
		return &TamperError{Seq: res.lastSeq + 1, Line: res.records + 1, Kind: KindTruncated,
			Detail: fmt.Sprintf("the log ends at record %d but the head file names record %d", res.lastSeq, h.seq)}
	}
	var found bool
	var hash [sha256.Size]byte
	switch {
	case h.seq == 0 || h.seq < from.lastSeq:
		return nil
	case h.seq == from.lastSeq:
		found, hash = true, from.lastHash
	default:
		found, hash = res.wantFound, res.wantHash
	}
	if !found || hash != h.hash {
		return &TamperError{Seq: h.seq, Line: int(h.seq), Kind: KindTruncated,
			Detail: "hash differs from the head file's (the log was cut and rewritten)"}
	}
	return nil
}

// Verify verifies the log's file as VerifyWithKey does, with the head key
// the Log was opened with (none: the chain alone, like the package-level
// Verify): what a running server checks periodically. After Close it
// returns ErrClosed.
func (l *Log) Verify() (*Summary, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	key := append([]byte(nil), l.key...)
	l.mu.Unlock()
	defer clear(key)
	if len(key) == 0 {
		key = nil
	}
	return VerifyWithKey(l.path, key)
}
