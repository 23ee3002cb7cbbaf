package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Event types used by callers. Any type of 1 to MaxTypeLen characters from
// [A-Za-z0-9_.:-] is accepted; these are the ones walletmcp writes.
const (
	// TypeToolCall records an MCP tool call (name, validated arguments, outcome).
	TypeToolCall = "tool_call"
	// TypeVerdict records a policy decision on a request.
	TypeVerdict = "verdict"
	// TypeSignature records that a payload was signed (digest, signer, account).
	TypeSignature = "signature"
	// TypeBroadcast records a transaction sent to the chain.
	TypeBroadcast = "broadcast"
	// TypeSecurity records a security-relevant event (wrong TOTP codes,
	// lockouts, audit log repairs...). Its data carries an "event" name.
	TypeSecurity = "security"
	// TypeStart records that the server started (version, configuration hashes).
	TypeStart = "start"
)

// EventRepairedPartialTail is the "event" of the TypeSecurity record that Open
// appends after cutting off an unacknowledged partial last line.
const EventRepairedPartialTail = "audit_repaired_partial_tail"

// HeadSuffix is appended to the log's path to name its head file.
const HeadSuffix = ".head"

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: log closed")

// ErrTooLarge is returned by Append when the encoded data exceeds MaxDataSize.
var ErrTooLarge = errors.New("audit: record data too large")

// ErrInvalidType is returned by Append for an empty, too long or otherwise
// invalid event type.
var ErrInvalidType = errors.New("audit: invalid event type")

// ErrInvalidData is returned by Append when fields does not encode to a JSON
// object.
var ErrInvalidData = errors.New("audit: data must be a JSON object")

// Options configures Open. A nil *Options means all defaults.
type Options struct {
	// Now returns the time stamped on each record when Append or Enqueue
	// queues it. Calls are serialised. Default time.Now.
	Now func() time.Time

	// HeadKey is the key of the head file's MAC, HeadKeySize bytes
	// (walletmcp derives it from the home passphrase). Open copies it and
	// Close wipes the copy. With it, Open and every commit check the MAC of
	// the head file before trusting it, and write the head with a MAC; the
	// first keyed writer of a log whose head has no MAC yet adds one and an
	// EventHeadKeyed record. Default nil: no MAC is checked or written, and
	// Open refuses a log whose head file has one (ErrKeyRequired).
	HeadKey []byte

	// MustExist makes Open refuse a log that is missing or holds no records
	// (a *TamperError of KindTruncated) instead of creating it: for a log
	// that is known to have been started. Default false.
	MustExist bool

	// Linger is how long the writer may wait for more records before it
	// commits a batch made only of tool_call records queued by Enqueue (the
	// record of a read tool call, which nobody waits for), so that calls one
	// after another share one commit instead of paying two fsyncs each. A
	// batch that gets any other record, a record from Append, or reaches the
	// queue's bound is committed at once, and so is everything at Close. A
	// crash loses at most Linger's worth of such records. Default 0: every
	// batch is committed as soon as the writer is free.
	Linger time.Duration

	// beforeSync, if set, is called by the writer with the number of records
	// in a group commit, after writing them and before fsyncing. Tests use it
	// to model a slow disk.
	beforeSync func(records int)

	// onLinger, if set, is called by the writer (with the log's mutex held)
	// when it starts to linger on a batch. Tests use it.
	onLinger func()

	// maxQueued, if positive, replaces maxQueuedBytes. Tests use it.
	maxQueued int
}

// maxQueuedBytes bounds the records waiting for the writer: an Enqueue that
// brings the queue to this many bytes waits for their commit, as Append does.
const maxQueuedBytes = 4 << 20

// queuedOverhead approximates the bytes a queued record takes besides its
// type and data.
const queuedOverhead = 64

// lineOverhead is more than a record line takes besides its type and data.
const lineOverhead = 256

// maxOpenAttempts bounds how often Open starts over when the log it locked
// was removed or replaced by another process (which happens only while that
// process fails to create a new log).
const maxOpenAttempts = 10

// Log is an open, append-only, hash-chained audit log. Its methods are safe
// for concurrent use. Several Logs, in this process and in others, may append
// to the same file at the same time: each group commit takes the file's lock.
type Log struct {
	path       string
	f          *os.File // the log, O_APPEND
	head       *os.File // the head file, rewritten in place
	logID      os.FileInfo
	headID     os.FileInfo
	now        func() time.Time
	beforeSync func(int)
	maxQueued  int
	linger     time.Duration // Options.Linger
	onLinger   func()
	key        []byte // Options.HeadKey, wiped by Close; nil if none
	mustExist  bool

	mu     sync.Mutex
	cond   *sync.Cond // signalled when cur gets a record or the log closes
	cur    *batch     // records waiting for the writer; nil if none
	closed bool
	// lingerGen counts the writer's lingers; lingerOver is set by the timer
	// of linger lingerGen when it fires.
	lingerGen  uint64
	lingerOver bool
	err        error // sticky failure: every later Append and Enqueue returns it

	stopped chan struct{} // closed when the writer has exited

	// The chain as far as this Log has read and verified it. Only Open, then
	// the writer, use these, and they change only under the file lock.
	off      int64 // bytes of the log verified: the end of its last line
	lines    int   // records in them
	lastSeq  uint64
	lastHash [sha256.Size]byte
	keyedSeq uint64 // the first EventHeadKeyed record; 0 if none
	// lastStart is the offset of the last verified record's line, for
	// the checkpoint; sinceCheckpoint counts the records committed since
	// the checkpoint was last written.
	lastStart       int64
	sinceCheckpoint int
	buf             []byte // encoding buffer, reused between commits
	headBuf         [headSize]byte

	durable atomic.Pointer[durableState] // the last record the head file names
	records atomic.Uint64                // records made durable by this Log
	syncs   atomic.Uint64                // fsync calls made by commits
}

// durableState names the last durable record.
type durableState struct {
	seq  uint64
	hash [sha256.Size]byte
}

// entry is a record waiting for its commit. Its seq and prev are assigned
// then, once the writer has caught up with the other writers of the file.
type entry struct {
	time time.Time
	typ  string
	data []byte
}

// batch is one group commit: every record that was waiting when the writer
// took it, in the order they were queued.
type batch struct {
	recs  []entry
	bytes int           // queued size, for maxQueued
	done  chan struct{} // closed once err is set
	err   error
	// urgent: the batch must not linger (a record other than an enqueued
	// tool_call, an Append waiting, or the queue's bound reached).
	urgent bool
}

// Open opens or creates the log at path (file mode 0600; its directory must
// exist) and its head file path+HeadSuffix.
//
// It takes the log's lock, waiting for a commit of another writer to finish,
// and holds it while it verifies the existing chain against the head file; it
// refuses to open a broken one, returning an error that wraps a
// *TamperError. The one repair it makes is crash recovery: a partial last
// line (no trailing newline) that the head file shows was never acknowledged
// is cut off, and the cut is recorded as a TypeSecurity record with event
// EventRepairedPartialTail before the lock is released. Open does not keep
// the lock: other Logs may open the same file and append to it.
//
// With Options.HeadKey, Open also refuses a head file whose MAC does not
// verify, or that has no MAC after an EventHeadKeyed record; a head without
// a MAC before any such record (a new log, or one an earlier version wrote)
// is upgraded: Open rewrites the head with a MAC, then appends the
// EventHeadKeyed record, before it releases the lock.
func Open(path string, opts *Options) (*Log, error) {
	if opts == nil {
		opts = &Options{}
	}
	if len(opts.HeadKey) != 0 && len(opts.HeadKey) != HeadKeySize {
		return nil, errKeySize
	}
	l := &Log{
		path:       path,
		now:        opts.Now,
		beforeSync: opts.beforeSync,
		maxQueued:  opts.maxQueued,
		linger:     opts.Linger,
		onLinger:   opts.onLinger,
		mustExist:  opts.MustExist,
		stopped:    make(chan struct{}),
	}
	if len(opts.HeadKey) != 0 {
		l.key = append([]byte(nil), opts.HeadKey...)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.maxQueued <= 0 {
		l.maxQueued = maxQueuedBytes
	}
	l.cond = sync.NewCond(&l.mu)
	if err := l.open(); err != nil {
		clear(l.key)
		return nil, err
	}
	l.writeCheckpoint()
	go l.run()
	return l, nil
}

// repairInfo is the data of the EventRepairedPartialTail record.
type repairInfo struct {
	Event         string `json:"event"`
	RemovedBytes  int64  `json:"removed_bytes"`
	RemovedSHA256 string `json:"removed_sha256"`
	AfterSeq      uint64 `json:"after_seq"`
	HeadSeq       uint64 `json:"head_seq"`
}

// open opens and locks the log, then checks (and maybe repairs) it under the
// lock. It starts over if the file it locked is no longer the one at path.
func (l *Log) open() error {
	for attempt := 1; ; attempt++ {
		f, created, err := openLogFile(l.path)
		if err != nil {
			return err
		}
		if err := lockFile(f, true); err != nil {
			f.Close()
			return err
		}
		// Another Open may have removed the file we opened (a new log it
		// failed to set up) before we got the lock: then it is not the log.
		logID, same, err := isFileAt(f, l.path)
		if err != nil || !same {
			f.Close() // releases the lock
			switch {
			case err != nil:
				return fmt.Errorf("audit: open log: %w", err)
			case attempt < maxOpenAttempts:
				continue
			}
			return errors.New("audit: open log: the file keeps being removed or replaced")
		}
		l.f, l.logID = f, logID
		err = l.openLocked(created)
		if uerr := unlockFile(f); err == nil {
			err = uerr
		}
		if err != nil {
			f.Close()
			if l.head != nil {
				l.head.Close()
			}
			l.f, l.head = nil, nil
			return err
		}
		return nil
	}
}

// openLogFile opens the log at path for appending, creating it if missing.
func openLogFile(path string) (f *os.File, created bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
		created = err == nil
		if errors.Is(err, fs.ErrExist) {
			// Created by another process just now.
			f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("audit: open log: %w", err)
	}
	return f, created, nil
}

// isFileAt reports whether f is the file now at path, and returns f's
// identity.
func isFileAt(f *os.File, path string) (os.FileInfo, bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	pi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fi, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return fi, os.SameFile(fi, pi), nil
}

// openLocked checks the log l.f, which open has locked, against its head
// file, creating the head for a new log, repairing a partial tail, and
// bringing a lagging head up to date.
func (l *Log) openLocked(created bool) (err error) {
	path, headPath := l.path, l.path+HeadSuffix
	st, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: stat log: %w", err)
	}
	size := st.Size()
	if created {
		defer func() {
			// Leave the evidence (a missing log) as it was. Under the lock,
			// an empty log is one no other writer has used; one that opened
			// it starts over when it gets the lock and finds it gone.
			if err != nil && size == 0 {
				os.Remove(path)
			}
		}()
	}
	if l.mustExist && size == 0 {
		return &TamperError{Kind: KindTruncated, Detail: "the log is missing or holds no records, but it was started before (records cut from the end?)"}
	}

	hf, err := os.OpenFile(headPath, os.O_RDWR, 0)
	headMissing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !headMissing {
		return fmt.Errorf("audit: open head: %w", err)
	}
	if headMissing {
		if size != 0 {
			return headMissingError(size)
		}
		// A new log (or a crash between creating the log and its head).
		// Only the writer holding the lock creates the head.
		hf, err = os.OpenFile(headPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("audit: create head: %w", err)
		}
		defer func() {
			if err != nil {
				// Do not leave a head that names nothing yet.
				os.Remove(headPath)
			}
		}()
		l.head = hf
		if l.headID, err = hf.Stat(); err != nil {
			return fmt.Errorf("audit: stat head: %w", err)
		}
		if err := l.writeHead(0, &zeroHash); err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return fmt.Errorf("audit: sync directory: %w", err)
		}
		l.durable.Store(&durableState{})
		if l.key != nil {
			// The head is keyed: now mark the chain as keyed.
			return l.commitLocked(nil, nil)
		}
		return nil
	}
	l.head = hf
	if l.headID, err = hf.Stat(); err != nil {
		return fmt.Errorf("audit: stat head: %w", err)
	}
	h, err := readHead(hf)
	if err != nil {
		return err
	}
	l.lastHash = zeroHash
	l.loadCheckpoint(size)
	repaired, err := l.readNew(size, &h)
	if err != nil {
		return err
	}
	upgrade := l.key != nil && !h.keyed
	if upgrade {
		// The first keyed writer: key the head before the EventHeadKeyed
		// record exists, so that a head without a MAC after that record is
		// always a rewrite, never a crash.
		if err := l.writeHead(l.lastSeq, &l.lastHash); err != nil {
			return err
		}
	}
	switch {
	case repaired != nil || l.key != nil && l.keyedSeq == 0:
		// Record the cut, and mark the chain as keyed, before another
		// writer can append.
		if err := l.commitLocked(nil, repaired); err != nil {
			return err
		}
	case h.seq < l.lastSeq || h.size != headSize:
		// The head lagged after a crash (or has an unexpected size):
		// bring it up to date now.
		if err := l.writeHead(l.lastSeq, &l.lastHash); err != nil {
			return err
		}
	}
	if h.size > headSize {
		if err := hf.Truncate(headSize); err != nil {
			return fmt.Errorf("audit: write head: %w", err)
		}
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			return fmt.Errorf("audit: sync directory: %w", err)
		}
	}
	l.durable.Store(&durableState{seq: l.lastSeq, hash: l.lastHash})
	return nil
}

// readNew reads the log from l.off to size, which other writers (or, for
// Open, everyone) appended since this Log last saw it, and verifies that it
// continues the chain and agrees with the head file h. It must be called with
// the lock held. A partial last line after records that verify is a crash
// leftover (a live writer holds the lock until its commit is complete), so
// unless the head names it readNew cuts it off and returns what to record;
// anything else wrong is returned as a *TamperError. On success the Log's
// chain state covers everything up to the new end of the log.
func (l *Log) readNew(size int64, h *headState) (*repairInfo, error) {
	from := scanResult{records: l.lines, lastSeq: l.lastSeq, lastHash: l.lastHash, end: l.off, lastStart: l.lastStart, keyedSeq: l.keyedSeq}
	res, err := scanFrom(io.NewSectionReader(l.f, l.off, size-l.off), from, h.seq)
	if err != nil {
		return nil, err
	}
	if res.tamper != nil {
		return nil, res.tamper
	}
	if h.keyed && l.key == nil {
		return nil, ErrKeyRequired
	}
	if te := checkHeadAuth(h, res.keyedSeq, l.key); te != nil {
		return nil, te
	}
	if te := checkHead(&res, h, &from); te != nil {
		if res.partial > 0 {
			// The head names the partial record: it was acknowledged.
			te = partialError(&res)
		}
		return nil, te
	}
	var repaired *repairInfo
	if res.partial > 0 {
		// Everything up to the last complete line verifies against the head,
		// so the partial line was never acknowledged: cut it off.
		tail := make([]byte, res.partial)
		if _, err := l.f.ReadAt(tail, res.end); err != nil {
			return nil, fmt.Errorf("audit: read partial tail: %w", err)
		}
		sum := sha256.Sum256(tail)
		if err := l.f.Truncate(res.end); err != nil {
			return nil, fmt.Errorf("audit: cut partial tail: %w", err)
		}
		if err := l.f.Sync(); err != nil {
			return nil, fmt.Errorf("audit: sync log: %w", err)
		}
		repaired = &repairInfo{
			Event:         EventRepairedPartialTail,
			RemovedBytes:  res.partial,
			RemovedSHA256: hex.EncodeToString(sum[:]),
			AfterSeq:      res.lastSeq,
			HeadSeq:       h.seq,
		}
	}
	l.off, l.lines, l.lastSeq, l.lastHash = res.end, res.records, res.lastSeq, res.lastHash
	l.lastStart, l.keyedSeq = res.lastStart, res.keyedSeq
	return repaired, nil
}

// Append records one event and returns once it is written and fsynced, with
// the head file updated to cover it.
//
// fields is encoded with encoding/json as the record's "data"; it must encode
// to a JSON object (or be nil, stored as {}) of at most MaxDataSize bytes.
// fields must never contain secrets (keys, mnemonics, passphrases, PINs, TOTP
// codes or seeds): the log is not encrypted and is meant to be read.
//
// The record's time is taken now; its seq and prev when it is committed.
// Concurrent Appends are group-committed: one background writer takes every
// record waiting, locks the file, reads what other writers appended since,
// writes the records with one write, fsyncs once and releases all their
// callers. The records of one Log get sequence numbers in the order Append
// (or Enqueue) queued them; other writers' records may come between them.
// If ctx is done before the record is queued, nothing is written; if it is
// done while waiting, Append returns ctx.Err() but the record may still be
// written. After a failed commit (a write or fsync error, or another
// writer's records failing verification) every later Append fails: the log
// stops rather than leave a gap or chain onto a tampered record.
func (l *Log) Append(ctx context.Context, typ string, fields any) error {
	data, err := prepare(typ, fields)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b, _, err := l.queue(typ, data, true)
	if err != nil {
		return err
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start validates and queues one event exactly like Append but returns at
// once, with a function that waits for the record's commit and returns
// Append's outcome (nil once the record is written and fsynced, with the
// head file updated to cover it). It never waits for the disk itself, so a
// caller can overlap the record's fsync with other work, and wait before it
// acts on the record being durable; the wait does nothing else, so it may
// be called inside a store transaction. An event that cannot be queued
// (invalid, or the log is closed or stopped) is reported by the wait. The
// second function is for Auditors that do more with a record than write it
// (ops.Tee); the Log's does nothing.
func (l *Log) Start(typ string, fields any) (wait func(context.Context) error, seen func()) {
	data, err := prepare(typ, fields)
	if err != nil {
		return func(context.Context) error { return err }, func() {}
	}
	b, _, err := l.queue(typ, data, true)
	if err != nil {
		return func(context.Context) error { return err }, func() {}
	}
	return func(ctx context.Context) error {
		select {
		case <-b.done:
			return b.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}, func() {}
}

// Enqueue validates and queues one event exactly like Append but returns
// without waiting for the disk: the record is written with the next group
// commit, and Close writes any still waiting. It is meant for events that
// need not be durable before the caller goes on, such as read-only tool
// calls. A commit that fails is not reported to Enqueue's caller but, as the
// sticky error, to every later Append, Enqueue and Close. Enqueue waits for
// the commit, as Append does, only when the records waiting for the writer
// reach several megabytes, so memory stays bounded however fast it is called.
func (l *Log) Enqueue(typ string, fields any) error {
	data, err := prepare(typ, fields)
	if err != nil {
		return err
	}
	b, full, err := l.queue(typ, data, false)
	if err != nil {
		return err
	}
	if full {
		<-b.done
		return b.err
	}
	return nil
}

// prepare validates typ and encodes fields.
func prepare(typ string, fields any) ([]byte, error) {
	if !validType(typ) {
		return nil, ErrInvalidType
	}
	return encodeData(fields)
}

// queue adds a record to the batch the writer will commit next, stamping it
// with the current time. It reports whether the batch has reached maxQueued.
// waited tells that the caller (Append) waits for the commit: the batch
// must not linger.
func (l *Log) queue(typ string, data []byte, waited bool) (b *batch, full bool, err error) {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return nil, false, ErrClosed
	case l.err != nil:
		err := l.err
		l.mu.Unlock()
		return nil, false, err
	}
	b = l.cur
	if b == nil {
		b = &batch{done: make(chan struct{})}
		l.cur = b
	}
	b.recs = append(b.recs, entry{time: l.now(), typ: typ, data: data})
	b.bytes += queuedOverhead + len(typ) + len(data)
	full = b.bytes >= l.maxQueued
	if waited || full || typ != TypeToolCall {
		b.urgent = true
	}
	l.mu.Unlock()
	l.cond.Signal()
	return b, full, nil
}

// encodeData marshals fields into a compact JSON object of bounded size.
func encodeData(fields any) ([]byte, error) {
	if fields == nil {
		return []byte("{}"), nil
	}
	data, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("audit: encode data: %w", err)
	}
	if bytes.Equal(data, []byte("null")) {
		return []byte("{}"), nil
	}
	if len(data) > MaxDataSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxDataSize)
	}
	if data[0] != '{' {
		return nil, ErrInvalidData
	}
	return data, nil
}

// run is the writer: it commits batches until the log is closed and drained.
func (l *Log) run() {
	defer close(l.stopped)
	for {
		l.mu.Lock()
		for l.cur == nil && !l.closed {
			l.cond.Wait()
		}
		l.lingerLocked()
		b := l.cur
		l.cur = nil
		failed := l.err
		l.mu.Unlock()
		if b == nil {
			return // closed and drained
		}
		if failed != nil {
			b.err = failed
			close(b.done)
			continue
		}
		if err := l.commit(b.recs); err != nil {
			err = fmt.Errorf("audit: commit failed, log stopped: %w", err)
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			b.err = err
		}
		close(b.done)
	}
}

// lingerLocked, called by the writer with mu held and a batch waiting,
// waits up to linger for more records while the batch may linger (see
// Options.Linger): it returns early when the batch becomes urgent or the
// log closes.
func (l *Log) lingerLocked() {
	if l.linger <= 0 || l.cur == nil || l.cur.urgent || l.closed {
		return
	}
	l.lingerGen++
	gen := l.lingerGen
	l.lingerOver = false
	if l.onLinger != nil {
		l.onLinger()
	}
	t := time.AfterFunc(l.linger, func() {
		l.mu.Lock()
		if l.lingerGen == gen {
			l.lingerOver = true
		}
		l.mu.Unlock()
		l.cond.Signal()
	})
	for !l.lingerOver && !l.cur.urgent && !l.closed {
		l.cond.Wait()
	}
	t.Stop()
	l.lingerOver = false
}

// commit locks the file, catches up with the other writers, and commits recs.
func (l *Log) commit(recs []entry) (err error) {
	if err := lockFile(l.f, true); err != nil {
		return err
	}
	defer func() {
		if uerr := unlockFile(l.f); err == nil {
			err = uerr
		}
	}()
	repaired, err := l.catchUp()
	if err != nil {
		return err
	}
	return l.commitLocked(recs, repaired)
}

// catchUp, called with the lock held, checks that the files are still the
// ones this Log opened and reads and verifies what other writers appended
// since this Log last saw the log (see readNew).
func (l *Log) catchUp() (*repairInfo, error) {
	if err := l.checkFiles(); err != nil {
		return nil, err
	}
	st, err := l.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit: stat log: %w", err)
	}
	size := st.Size()
	switch {
	case size == l.off:
		return nil, nil
	case size < l.off:
		return nil, &TamperError{Kind: KindTruncated, Detail: fmt.Sprintf(
			"the log shrank from %d to %d bytes while open (it held %d records)", l.off, size, l.lastSeq)}
	}
	h, err := readHead(l.head)
	if err != nil {
		return nil, err
	}
	return l.readNew(size, &h)
}

// checkFiles reports a *TamperError if the log or head file this Log has
// open is no longer the one at its path: the lock would then not exclude the
// writers that opened the new file.
func (l *Log) checkFiles() error {
	for _, c := range []struct {
		what string
		f    *os.File
		id   os.FileInfo
		path string
	}{
		{"log", l.f, l.logID, l.path},
		{"head file", l.head, l.headID, l.path + HeadSuffix},
	} {
		fi, err := os.Stat(c.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return &TamperError{Kind: KindTruncated, Detail: c.what + " removed while open"}
		case err != nil:
			return fmt.Errorf("audit: stat %s: %w", c.what, err)
		case !os.SameFile(fi, c.id):
			return &TamperError{Kind: KindTruncated, Detail: c.what + " replaced by another file while open"}
		}
	}
	return nil
}

// commitLocked, called with the lock held and the Log caught up with the end
// of the log, writes a repair record (if repaired is not nil), the
// EventHeadKeyed record (if the Log has a key and the chain has no such
// record yet) and recs, fsyncs the log, then rewrites and fsyncs the head.
// If the write or the log's fsync fails it cuts the log back, so that no
// writer chains onto records whose callers were told they failed.
func (l *Log) commitLocked(recs []entry, repaired *repairInfo) error {
	var sys []any
	if repaired != nil {
		sys = append(sys, repaired)
	}
	var keyedSeq uint64
	if l.key != nil && l.keyedSeq == 0 {
		keyedSeq = l.lastSeq + uint64(len(sys)) + 1
		sys = append(sys, headKeyedInfo{Event: EventHeadKeyed, AfterSeq: keyedSeq - 1})
	}
	if len(sys) > 0 {
		l.mu.Lock()
		now := l.now()
		l.mu.Unlock()
		pre := make([]entry, 0, len(sys)+len(recs))
		for _, fields := range sys {
			data, err := encodeData(fields)
			if err != nil {
				return err
			}
			pre = append(pre, entry{time: now, typ: TypeSecurity, data: data})
		}
		recs = append(pre, recs...)
	}
	if uint64(len(recs)) > math.MaxUint64-l.lastSeq {
		return errors.New("audit: sequence numbers exhausted")
	}
	need := 0
	for i := range recs {
		need += lineOverhead + len(recs[i].typ) + len(recs[i].data)
	}
	buf := slices.Grow(l.buf[:0], need)
	seq, hash := l.lastSeq, l.lastHash
	lastStart := 0 // of the last record's line in buf
	for i := range recs {
		seq++
		e := &recs[i]
		lastStart = len(buf)
		buf, hash = appendRecord(buf, seq, formatTime(e.time), e.typ, e.data, &hash)
	}
	if cap(buf) <= 1<<20 {
		l.buf = buf
	} else {
		l.buf = nil // do not keep a burst's buffer
	}
	if _, err := l.f.Write(buf); err != nil {
		l.cutBack()
		return err
	}
	if l.beforeSync != nil {
		l.beforeSync(len(recs))
	}
	l.syncs.Add(1)
	if err := l.f.Sync(); err != nil {
		l.cutBack()
		return err
	}
	if len(recs) > 0 {
		l.lastStart = l.off + int64(lastStart)
	}
	l.off += int64(len(buf))
	l.lines += len(recs)
	l.lastSeq, l.lastHash = seq, hash
	if keyedSeq != 0 {
		l.keyedSeq = keyedSeq
	}
	if err := l.writeHead(seq, &hash); err != nil {
		return err
	}
	l.records.Add(uint64(len(recs)))
	l.durable.Store(&durableState{seq: seq, hash: hash})
	if l.sinceCheckpoint += len(recs); l.sinceCheckpoint >= checkpointEvery {
		l.writeCheckpoint()
	}
	return nil
}

// cutBack removes whatever a failed commit wrote past l.off. It is best
// effort: if it fails too, the next writer finds either complete records
// (which it accepts: a failed Append's record may be written) or a partial
// line (which it repairs).
func (l *Log) cutBack() {
	if l.f.Truncate(l.off) == nil {
		_ = l.f.Sync()
	}
}

// headSize is the fixed size of the head file: rewriting it in place never
// changes its length, and one small write fits in one disk sector.
const headSize = 256

// writeHead rewrites the head file to name record seq with hash sum, with
// its MAC if the Log has a key, and fsyncs it. Only a writer holding the
// lock calls it.
func (l *Log) writeHead(seq uint64, sum *[sha256.Size]byte) error {
	b := appendHeadPrefix(l.headBuf[:0], seq, sum)
	if l.key != nil {
		mac := headMAC(l.key, seq, sum)
		b = append(b, `,"mac":"`...)
		b = hex.AppendEncode(b, mac[:])
		b = append(b, '"')
	}
	b = append(b, '}')
	for len(b) < headSize-1 {
		b = append(b, ' ')
	}
	b = append(b, '\n')
	if _, err := l.head.WriteAt(b, 0); err != nil {
		return fmt.Errorf("audit: write head: %w", err)
	}
	l.syncs.Add(1)
	if err := l.head.Sync(); err != nil {
		return fmt.Errorf("audit: sync head: %w", err)
	}
	return nil
}

// Close writes and fsyncs every pending record (including those queued by
// Enqueue), stops the writer and closes the files. Append and Enqueue after
// Close return ErrClosed. Close returns the error that stopped the log, if
// any; calling it again returns nil.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.cond.Signal()
	<-l.stopped

	l.mu.Lock()
	err := l.err
	l.mu.Unlock()
	if err == nil {
		l.writeCheckpoint()
	}
	clear(l.key)
	if cerr := l.head.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("audit: close head: %w", cerr)
	}
	if cerr := l.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("audit: close log: %w", cerr)
	}
	return err
}

// Stats returns the number of records this Log has made durable (not
// counting other writers') and the number of fsync calls its group commits
// made (two per commit: the log, then the head file). With concurrent
// Appends, syncs grows much more slowly than records.
func (l *Log) Stats() (records, syncs uint64) {
	return l.records.Load(), l.syncs.Load()
}

// Head returns the sequence number and hex hash of the last durable record
// (0 and 64 zeros for an empty log) as of this Log's last commit (or Open), as
// the head file then recorded them; other writers may have appended since.
// Copying it periodically somewhere an attacker cannot write (a ticket, a
// chat message, another host) anchors the log against wholesale rewriting.
func (l *Log) Head() (seq uint64, hash string) {
	d := l.durable.Load()
	return d.seq, hex.EncodeToString(d.hash[:])
}
