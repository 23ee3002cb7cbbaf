package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// MaxSealedTOTPLen bounds the sealed TOTP secret UpdateTOTP accepts.
const MaxSealedTOTPLen = 1024

// MaxTOTPScopeLen bounds the scope of a TOTP failure counter.
const MaxTOTPScopeLen = 200

// MaxTOTPMACLen bounds the MAC of the TOTP state and of a counter.
const MaxTOTPMACLen = 64

// schemaV4TOTPGuard gives the TOTP enrolment the fields of the approval
// page's budget of wrong codes (failures in a window, lockouts, lock end) and
// a MAC of its security state, and creates totp_counters: the wrong codes
// offered for one approval's link (scope), each row MAC'd. The MACs are made
// and checked by approval/totp with a key this package never sees; a missing
// counter row is a zero counter. It also indexes the pending approvals by
// sender, which CreateApproval counts.
const schemaV4TOTPGuard = `
ALTER TABLE totp ADD COLUMN window_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE totp ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0 CHECK (lockouts >= 0);
ALTER TABLE totp ADD COLUMN mac BLOB;
CREATE TABLE totp_counters (
	scope        TEXT    NOT NULL PRIMARY KEY CHECK (length(scope) BETWEEN 1 AND 200),
	failures     INTEGER NOT NULL CHECK (failures >= 0),
	locked_until INTEGER NOT NULL DEFAULT 0,
	updated_at   INTEGER NOT NULL,
	mac          BLOB    NOT NULL CHECK (length(mac) > 0)
) STRICT;
CREATE INDEX totp_counters_updated ON totp_counters (updated_at);
CREATE INDEX approvals_pending_from ON approvals (from_addr) WHERE status = 'pending';
`

// TOTPState is the one TOTP enrolment: the sealed secret (the store cannot
// open it), the last accepted time step, the approval page's budget of wrong
// codes, and the MAC that authenticates all of it.
type TOTPState struct {
	Sealed      []byte    // the secret, sealed with a key derived from the home passphrase
	EnrolledAt  time.Time // when it was (last) enrolled (UTC)
	LastStep    int64     // the last accepted time step; -1 when none ever was
	Failures    int       // wrong codes on the approval page since WindowStart
	WindowStart time.Time // start of the window Failures counts in; zero when none
	LockedUntil time.Time // the approval page accepts no code before this; zero when never locked
	Lockouts    int       // page lockouts since the last accepted code
	MAC         []byte    // approval/totp's MAC of the fields above; nil when never set
}

// TOTPCounter counts the wrong codes offered in one scope (the approval
// page's link of one approval).
type TOTPCounter struct {
	Scope       string    // what the counter is for
	Failures    int       // wrong codes since the last lockout
	LockedUntil time.Time // the scope accepts no code before this; zero when never locked
	MAC         []byte    // approval/totp's MAC of the fields above; nil for a counter never stored
}

// TOTPUpdate is what UpdateTOTP hands its function to read and change.
type TOTPUpdate struct {
	// State is the enrolment, nil when TOTP is not enrolled. Setting it
	// enrols; it cannot be set back to nil.
	State *TOTPState
	// Counter is the counter of the scope UpdateTOTP was given (a zero
	// counter when none is stored), nil when the scope is "".
	Counter *TOTPCounter
}

// TOTP returns the enrolment, or ErrNotFound when TOTP is not enrolled.
func (s *Store) TOTP(ctx context.Context) (*TOTPState, error) {
	return scanTOTP(s.db.QueryRowContext(ctx, qTOTP))
}

// TOTPCounter returns the counter of scope; a scope with no stored counter
// has a zero one (nil MAC).
func (s *Store) TOTPCounter(ctx context.Context, scope string) (*TOTPCounter, error) {
	return scanCounter(s.db.QueryRowContext(ctx, qTOTPCounter, scope), scope)
}

const (
	qTOTP        = `SELECT sealed, enrolled_at, last_step, failures, window_start, locked_until, lockouts, mac FROM totp WHERE id = 1`
	qTOTPCounter = `SELECT failures, locked_until, mac FROM totp_counters WHERE scope = ?`
)

func scanTOTP(row interface{ Scan(...any) error }) (*TOTPState, error) {
	var st TOTPState
	var enrolled, window, locked int64
	err := row.Scan(&st.Sealed, &enrolled, &st.LastStep, &st.Failures, &window, &locked, &st.Lockouts, &st.MAC)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrapDBErr("read totp", err)
	}
	st.EnrolledAt = time.Unix(0, enrolled).UTC()
	st.WindowStart = fromNano(window)
	st.LockedUntil = fromNano(locked)
	return &st, nil
}

func scanCounter(row interface{ Scan(...any) error }, scope string) (*TOTPCounter, error) {
	c := TOTPCounter{Scope: scope}
	var locked int64
	err := row.Scan(&c.Failures, &locked, &c.MAC)
	if errors.Is(err, sql.ErrNoRows) {
		return &TOTPCounter{Scope: scope}, nil
	}
	if err != nil {
		return nil, wrapDBErr("read totp counter", err)
	}
	c.LockedUntil = fromNano(locked)
	return &c, nil
}

// UpdateTOTP runs fn in one write transaction over the TOTP enrolment and,
// when scope is not "", the failure counter of scope, so that processes
// sharing the database see each code, failure and lockout exactly once. When
// fn returns nil, what it left in the update is written: the state (if
// enrolled or newly set) and the counter (a zero counter is deleted, which
// is the same as never stored); otherwise nothing is written and fn's error
// is returned. The store neither makes nor checks the MACs: fn does.
func (s *Store) UpdateTOTP(ctx context.Context, scope string, fn func(u *TOTPUpdate) error) error {
	if len(scope) > MaxTOTPScopeLen {
		return errors.New("store: totp counter scope too long")
	}
	now, err := s.timestamp()
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		u := &TOTPUpdate{}
		st, err := scanTOTP(tx.QueryRowContext(ctx, qTOTP))
		switch {
		case err == nil:
			u.State = st
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if scope != "" {
			if u.Counter, err = scanCounter(tx.QueryRowContext(ctx, qTOTPCounter, scope), scope); err != nil {
				return err
			}
		}
		enrolled := u.State != nil
		if err := fn(u); err != nil {
			return err
		}
		if u.State == nil && enrolled {
			return errors.New("store: the totp enrolment cannot be removed")
		}
		if u.State != nil {
			if err := putTOTP(ctx, tx, u.State); err != nil {
				return err
			}
		}
		if scope != "" && u.Counter != nil {
			if err := putCounter(ctx, tx, scope, u.Counter, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func putTOTP(ctx context.Context, tx *sql.Tx, st *TOTPState) error {
	switch {
	case len(st.Sealed) == 0 || len(st.Sealed) > MaxSealedTOTPLen:
		return errors.New("store: sealed totp secret empty or too large")
	case st.LastStep < -1:
		return errors.New("store: invalid last totp step")
	case st.Failures < 0 || st.Lockouts < 0:
		return errors.New("store: negative totp counter")
	case len(st.MAC) == 0 || len(st.MAC) > MaxTOTPMACLen:
		return errors.New("store: totp state without a MAC")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO totp (id, sealed, enrolled_at, last_step, failures, window_start, locked_until, lockouts, mac)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed, enrolled_at = excluded.enrolled_at,
			last_step = excluded.last_step, failures = excluded.failures, window_start = excluded.window_start,
			locked_until = excluded.locked_until, lockouts = excluded.lockouts, mac = excluded.mac`,
		st.Sealed, unixNano(st.EnrolledAt), st.LastStep, st.Failures, toNano(st.WindowStart), toNano(st.LockedUntil), st.Lockouts, st.MAC)
	if err != nil {
		return wrapDBErr("write totp", err)
	}
	return nil
}

func putCounter(ctx context.Context, tx *sql.Tx, scope string, c *TOTPCounter, now time.Time) error {
	if c.Failures < 0 {
		return errors.New("store: negative totp counter")
	}
	if c.Failures == 0 && c.LockedUntil.IsZero() {
		if _, err := tx.ExecContext(ctx, `DELETE FROM totp_counters WHERE scope = ?`, scope); err != nil {
			return wrapDBErr("write totp counter", err)
		}
		return nil
	}
	if len(c.MAC) == 0 || len(c.MAC) > MaxTOTPMACLen {
		return errors.New("store: totp counter without a MAC")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO totp_counters (scope, failures, locked_until, updated_at, mac) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (scope) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until,
			updated_at = excluded.updated_at, mac = excluded.mac`,
		scope, c.Failures, toNano(c.LockedUntil), now.UnixNano(), c.MAC)
	if err != nil {
		return wrapDBErr("write totp counter", err)
	}
	return nil
}

// PruneTOTPCounters deletes the counters last changed before before whose
// lock (if any) ended before it too, and returns how many it deleted.
func (s *Store) PruneTOTPCounters(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		b := unixNano(before)
		res, err := tx.ExecContext(ctx, `DELETE FROM totp_counters WHERE updated_at < ? AND locked_until < ?`, b, b)
		if err != nil {
			return wrapDBErr("prune totp counters", err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return wrapDBErr("prune totp counters", err)
		}
		return nil
	})
	return int(n), err
}

// DeleteTOTPCounters deletes every counter (a re-enrolment starts the
// approvals' counts afresh).
func (s *Store) DeleteTOTPCounters(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM totp_counters`); err != nil {
			return wrapDBErr("delete totp counters", err)
		}
		return nil
	})
}

// toNano is t in Unix nanoseconds, 0 for the zero time.
func toNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return unixNano(t)
}

// fromNano is the inverse of toNano.
func fromNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
