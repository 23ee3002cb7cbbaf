// Package store keeps walletmcp's durable state in an SQLite database: the
// transfer records that serve both as the spend ledger and as the idempotency
// record, and (in later migrations) approvals and used TOTP steps.
//
// The database is opened through modernc.org/sqlite (pure Go) in WAL mode with
// synchronous=FULL, foreign keys on and a busy timeout. The schema is versioned:
// migrations is an ordered list of SQL steps, each applied in a transaction of
// its own and recorded in the schema_migrations table. Adding a table is one
// appended element.
//
// # Security model
//
// The server never sends the same transfer twice, also across a crash, because
// a transfer is recorded here before it is signed (or in the same transaction
// as its signature, LedgerTx.InsertSigned) and its signed bytes are recorded
// before they are broadcast: after a restart Unfinished lists what may
// have been interrupted, and a signed transaction is re-broadcast from RawTx,
// never re-signed. For that, a committed transaction must reach the disk before
// the commit returns (synchronous=FULL).
//
// The store fails closed: a database written by a newer schema than this code
// knows is refused (a *SchemaVersionError), as is a database whose pragmas could
// not be set. Inputs that would make the ledger under-count are refused
// rather than stored: negative or missing amounts, assets not in canonical form
// (so that a mixed-case contract address cannot escape its limit), unknown kinds.
// A stored amount that does not parse as a non-negative integer is an error on
// read, not a zero. The database file is created with mode 0600; SQLite gives
// its -wal and -shm files the same mode.
//
// The store holds no key material and no secret.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// BusyTimeout is how long a statement waits for another process's lock on the
// database before it fails with SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

// ErrNotFound is returned when the requested record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned by CreateTransfer when the idempotency key was already
// used with other arguments.
var ErrConflict = errors.New("store: idempotency key reused with different arguments")

// ErrInvalidTransition is matched (errors.Is) by every *TransitionError.
var ErrInvalidTransition = errors.New("store: invalid state transition")

// Options configures a Store. A nil *Options means all defaults.
type Options struct {
	// Now returns the current time, used for CreatedAt and UpdatedAt.
	// Default time.Now.
	Now func() time.Time
	// Rand is the source of random transfer IDs. Default crypto/rand.Reader.
	Rand io.Reader
	// Key is the state key (KeyLen bytes, derived from the home passphrase):
	// every transfer, the ledger head and every approval carry a MAC under
	// it, verified on read. Open copies it. Without it the store can be read
	// (unverified) but no transfer or approval can be created or changed.
	Key []byte
}

// Store is a handle on the state database. It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	now  func() time.Time
	rand io.Reader
	// wlock serialises this process's write transactions so that they queue
	// here, cancellably, instead of polling SQLite's busy handler. Writers in
	// other processes are still arbitrated by SQLite's lock and BusyTimeout.
	wlock chan struct{}
	// gmu guards queue, the writes waiting for the next group commit
	// (see write), and their taken and cancelled flags.
	gmu   sync.Mutex
	queue []*writeReq
	// key is the state key; nil when opened without one.
	key []byte
	// sealed counts the rows Open authenticated for the first time.
	sealed int
	// writes and commits count the writes that committed and the COMMITs
	// (WAL fsyncs) that made them durable (Stats).
	writes, commits atomic.Uint64
	// opsSeen is the furthest ops head (the sum of the freezes' versions)
	// this Store verified or wrote: one behind it is an older copy of the
	// freezes and their head written back (ops.go).
	opsSeen atomic.Int64
	// groupHead is the ledger head as the group commit under way has left
	// it, once a Ledger write of the group has verified it (checkHead) and
	// only Ledger writes have run since; nil otherwise. Only the committer
	// (holding wlock) uses it. BEGIN IMMEDIATE keeps every other writer
	// out until the COMMIT, so the later Ledger writes of the group need
	// not read and verify the head again.
	groupHead *LedgerHead
	// headDirty is set when the group's Ledger writes moved groupHead but
	// the ledger_head row does not hold it yet: the group writes the head
	// once (flushHead), not once per change. Only the committer uses it.
	headDirty bool
	// beforeCommit, if set (tests only), runs just before a group's COMMIT;
	// commitFn, if set (tests only), commits in place of tx.Commit.
	beforeCommit func()
	commitFn     func(*sql.Tx) error
	// groupConds are the commit conditions the group's writes set
	// (LedgerTx.CommitAfter). Only the committer uses it.
	groupConds []func(context.Context) error
	// smu guards stmts, the prepared statements of the hot paths (stmt.go).
	smu   sync.Mutex
	stmts map[string]*sql.Stmt
	// mark is the connection ChangeMark reads data_version on (mark.go).
	mark marker
}

// Stats returns how many writes this Store committed and in how many
// COMMITs (each one WAL fsync): their ratio is how well group commit works.
func (s *Store) Stats() (writes, commits uint64) {
	return s.writes.Load(), s.commits.Load()
}

// Open opens the database at path, creating it (mode 0600) when it does not
// exist, and brings its schema up to date. A database whose schema version is
// newer than this code knows is refused with a *SchemaVersionError.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: database path: %w", err)
	}
	// Create the file ourselves so that it is born 0600: SQLite would use
	// 0644 (less the umask), and it copies the database file's mode onto the
	// -wal and -shm files it creates next to it.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open database: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store: open database: %w", err)
	}

	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("store: open database: %w", err)
	}
	s := &Store{db: db, now: time.Now, rand: rand.Reader, wlock: make(chan struct{}, 1)}
	if opts != nil && opts.Now != nil {
		s.now = opts.Now
	}
	if opts != nil && opts.Rand != nil {
		s.rand = opts.Rand
	}
	if err := checkPragmas(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	if opts != nil && opts.Key != nil {
		if len(opts.Key) != KeyLen {
			db.Close()
			return nil, fmt.Errorf("store: state key must be %d bytes", KeyLen)
		}
		s.key = append([]byte(nil), opts.Key...)
	}
	if err := s.migrate(ctx, migrations); err != nil {
		db.Close()
		return nil, err
	}
	if s.key != nil {
		if err := s.ensureHead(ctx); err != nil {
			db.Close()
			return nil, err
		}
		if err := s.ensureOpsHead(ctx); err != nil {
			db.Close()
			return nil, err
		}
		if err := s.ensureOfflineHead(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return s, nil
}

// Sealed returns how many rows written before the state was authenticated
// Open sealed with the state key (an upgrade from an earlier version; the
// caller audits it). Zero on every later open.
func (s *Store) Sealed() int { return s.sealed }

// Keyed reports whether the store was opened with the state key.
func (s *Store) Keyed() bool { return s.key != nil }

// dsn is the modernc.org/sqlite data source name for the database file at the
// absolute path abs. The pragmas are applied to every pooled connection;
// _txlock=immediate makes every transaction take the write lock at BEGIN, so
// that a read-then-write transaction cannot fail half-way on a stale snapshot.
func dsn(abs string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	if u.Path[0] != '/' { // a Windows volume: file:///C:/...
		u.Path = "/" + u.Path
	}
	return u.String()
}

// checkPragmas verifies that the settings the store's guarantees rest on are
// in force, rather than trusting that the driver applied them.
func checkPragmas(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: open database: %w", err)
	}
	defer conn.Close()
	var mode string
	var sync, fk, busy int64
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("store: open database: %w", err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("store: open database: %w", err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("store: open database: %w", err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		return fmt.Errorf("store: open database: %w", err)
	}
	switch {
	case mode != "wal":
		return fmt.Errorf("store: journal_mode is %q, want wal", mode)
	case sync != 2:
		return fmt.Errorf("store: synchronous is %d, want 2 (FULL)", sync)
	case fk != 1:
		return errors.New("store: foreign_keys is off")
	case busy != BusyTimeout.Milliseconds():
		return fmt.Errorf("store: busy_timeout is %d ms, want %d", busy, BusyTimeout.Milliseconds())
	}
	return nil
}

// Close closes the database and forgets the state key. Calls that are in
// flight finish first.
func (s *Store) Close() error {
	defer clear(s.key)
	s.closeMark()
	s.closeStmts()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// write runs fn in a write transaction (BEGIN IMMEDIATE) and returns once
// its changes are committed (durable: synchronous=FULL), or with fn's error
// after rolling fn's changes back.
//
// Writes are group-committed, as the audit log groups its fsyncs: the
// writes queued while a commit is under way run together in the next
// transaction, one after the other, each inside its own SAVEPOINT (a write
// whose fn fails is rolled back to it, alone), and one COMMIT makes them all
// durable. Each fn sees every change made before it, in this process and
// (under the write lock that BEGIN IMMEDIATE takes) in others, exactly as
// if it had its own transaction; the group only shares the commit. If the
// commit fails, every write of the group fails.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.enqueue(ctx, fn, false)
}

// enqueue is write; ledger marks a Ledger write, which keeps groupHead up to
// date (any other write clears it).
func (s *Store) enqueue(ctx context.Context, fn func(tx *sql.Tx) error, ledger bool) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{}), ledger: ledger}
	s.gmu.Lock()
	s.queue = append(s.queue, req)
	s.gmu.Unlock()
	for {
		select {
		case <-req.done:
			if req.panicked != nil {
				panic(req.panicked)
			}
			return req.err
		case s.wlock <- struct{}{}:
			// This caller commits the group queued so far (its own write
			// among them, unless an earlier group took it).
			s.gmu.Lock()
			group := s.queue
			s.queue = nil
			s.gmu.Unlock()
			s.commitLeading(group)
		case <-ctx.Done():
			s.gmu.Lock()
			if !req.taken {
				req.cancelled = true
				s.gmu.Unlock()
				return ctx.Err()
			}
			s.gmu.Unlock()
			<-req.done // under way: its outcome is the commit's
			if req.panicked != nil {
				panic(req.panicked)
			}
			return req.err
		}
	}
}

// writeReq is one write waiting for a group commit.
type writeReq struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan struct{} // closed once err is set
	err  error
	// ledger marks a Ledger write (see Store.groupHead).
	ledger bool
	// panicked is what fn panicked with, raised again by enqueue.
	panicked any
	// taken and cancelled are guarded by Store.gmu: a request is either
	// taken by a group before its caller gives up, or cancelled and never
	// run.
	taken, cancelled bool
}

// commitLeading commits group as the holder of wlock, and releases it
// however commitGroup ends: a write's fn that panics (it runs on this
// goroutine) must not leave every later write waiting for the lock.
func (s *Store) commitLeading(group []*writeReq) {
	defer func() { <-s.wlock }()
	s.commitGroup(group)
}

// runFn runs r's fn in the group's transaction. A fn that panics is
// treated as one that failed (its savepoint is rolled back; the group goes
// on): the panic is kept in r and raised again in r's caller, on its own
// goroutine, once the group is done (enqueue), rather than on the goroutine
// that leads the group, which may be another caller's.
func runFn(r *writeReq, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.panicked = p
			err = errWritePanicked
		}
	}()
	return r.fn(tx)
}

// errWritePanicked is the error of a write whose fn panicked (its caller
// gets the panic itself).
var errWritePanicked = errors.New("store: write: the write panicked; it was rolled back")

// errGroupAborted is the error of the writes of a group that could not run
// because the transaction ended early (an earlier write's interruption
// rolled it back): nothing of theirs was written.
var errGroupAborted = errors.New("store: write: the group transaction was rolled back before this write ran; nothing was written")

// commitGroup runs the writes of group in one transaction, each in its own
// savepoint, commits, and tells each caller its outcome.
func (s *Store) commitGroup(group []*writeReq) {
	var live []*writeReq
	s.gmu.Lock()
	for _, r := range group {
		if r.cancelled {
			continue
		}
		r.taken = true
		live = append(live, r)
	}
	s.gmu.Unlock()
	if len(live) == 0 {
		return
	}
	finished := false
	finish := func(rs []*writeReq, err error) {
		finished = true
		for _, r := range rs {
			switch {
			case err == nil:
			case r.err == nil:
				r.err = notCommitted{err}
			default:
				// fn's own error, which a caller may act on, and the
				// group's: what fn read of the group's other writes
				// (Ledger's syncIn) was never written either.
				r.err = notCommitted{r.err}
			}
			close(r.done)
		}
	}
	// The transaction is not bound to one caller's context: a caller that
	// gives up must not roll back the others' writes.
	tx, err := s.db.BeginTx(context.WithoutCancel(live[0].ctx), nil)
	if err != nil {
		finish(live, wrapDBErr("begin", err))
		return
	}
	s.groupHead, s.headDirty, s.groupConds = nil, false, nil
	defer func() { s.groupHead, s.headDirty, s.groupConds = nil, false, nil }()
	defer func() {
		// A panic outside the writes' fns (runFn keeps theirs), in the
		// driver say: nothing of the group is written, and every caller
		// hears so rather than wait for an answer that never comes.
		if p := recover(); p != nil {
			tx.Rollback()
			if !finished {
				finish(live, errGroupAborted)
			}
			panic(p)
		}
	}()
	abort := func() {
		// The transaction is gone (an interrupted statement rolls it
		// back) or unusable: nothing of the group is written.
		tx.Rollback()
		finish(live, errGroupAborted)
	}
	ok := live[:0:0] // the writes whose fn succeeded
	for _, r := range live {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if !r.ledger {
			// Any other write sees the ledger's table and head agree.
			if err := s.flushHead(tx); err != nil {
				abort()
				return
			}
		}
		if _, err := s.exec(context.Background(), tx, "SAVEPOINT w"); err != nil {
			abort()
			return
		}
		before, beforeDirty := s.groupHead, s.headDirty
		if ferr := runFn(r, tx); ferr != nil {
			// Rolled back to the savepoint: the head is as it was.
			s.groupHead, s.headDirty = before, beforeDirty
			r.err = ferr
			if _, err := s.exec(context.Background(), tx, "ROLLBACK TO w"); err != nil {
				abort()
				return
			}
			if _, err := s.exec(context.Background(), tx, "RELEASE w"); err != nil {
				abort()
				return
			}
			continue
		}
		if _, err := s.exec(context.Background(), tx, "RELEASE w"); err != nil {
			abort()
			return
		}
		if !r.ledger {
			s.groupHead = nil
		}
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		tx.Rollback()
		finish(live, nil)
		return
	}
	if err := s.flushHead(tx); err != nil {
		abort()
		return
	}
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	if err := awaitConds(s.groupConds); err != nil {
		tx.Rollback()
		finish(live, err)
		return
	}
	if err := s.commit(tx); err != nil {
		finish(live, commitUnknown{wrapDBErr("commit", err)})
		return
	}
	s.commits.Add(1)
	s.writes.Add(uint64(len(ok)))
	finish(live, nil)
}

// ErrCommitCondition is matched (errors.Is) by the error of the writes of
// a group that did not commit because a commit condition failed
// (LedgerTx.CommitAfter); the condition's error is matched too.
var ErrCommitCondition = errors.New("store: a commit condition of the group failed")

// condTimeout bounds how long a group waits for its commit conditions,
// holding the database's write lock.
const condTimeout = BusyTimeout

// awaitConds waits for every commit condition, in order, and returns the
// first that fails (or does not return within condTimeout), wrapped.
func awaitConds(conds []func(context.Context) error) error {
	if len(conds) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), condTimeout)
	defer cancel()
	for _, c := range conds {
		if err := c(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrCommitCondition, err)
		}
	}
	return nil
}

// ErrNotCommitted is matched (errors.Is) by the error of a write whose
// group commit did not commit: nothing of the group was written, whether the
// write's own fn succeeded or failed (its error is kept, and matched too),
// unless ErrCommitUnknown is matched too.
var ErrNotCommitted = errors.New("store: the write's group did not commit")

// ErrCommitUnknown is matched, with ErrNotCommitted, when the COMMIT itself
// failed: SQLite may have written the group's frames to the WAL before the
// error (a failed fsync), and a later open may then find them committed.
// This process reads the database without them; whether they are on disk is
// unknown until the next open. SQLite lists a commit's frames in the WAL
// index only after their fsync succeeded, and the next commit by any
// connection, of any process, is written from the last listed frame on, over
// the unlisted ones (or from the WAL's start under a new salt, after a
// checkpoint): once anything commits after the failure, the group is
// lost for good and a later open cannot find it. So the group can only
// appear at a later open if nothing committed in between, and every write
// that spends (a reservation) is such a commit.
var ErrCommitUnknown = errors.New("store: the commit failed; whether it reached the disk is unknown")

type commitUnknown struct{ error }

func (e commitUnknown) Unwrap() error        { return e.error }
func (e commitUnknown) Is(target error) bool { return target == ErrCommitUnknown }

// commit commits a group's transaction; tests replace it (Store.commitFn).
func (s *Store) commit(tx *sql.Tx) error {
	if s.commitFn != nil {
		return s.commitFn(tx)
	}
	return tx.Commit()
}

type notCommitted struct{ error }

func (e notCommitted) Unwrap() error        { return e.error }
func (e notCommitted) Is(target error) bool { return target == ErrNotCommitted }

// wrapDBErr prefixes a driver error with the package and the operation.
func wrapDBErr(op string, err error) error {
	return fmt.Errorf("store: %s: %w", op, err)
}
