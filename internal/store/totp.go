package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// MaxSealedTOTPLen bounds the sealed TOTP secret SetTOTP accepts.
const MaxSealedTOTPLen = 1024

// TOTPState is the one TOTP enrolment: the sealed secret (the store cannot
// open it), the last accepted time step and the lockout counter.
type TOTPState struct {
	Sealed      []byte    // the secret, sealed with a key derived from the home passphrase
	EnrolledAt  time.Time // when it was (last) enrolled (UTC)
	LastStep    int64     // the last accepted time step; -1 when none ever was
	Failures    int       // wrong codes since the last success or lockout
	LockedUntil time.Time // codes are refused before this; zero when never locked
}

// TOTP returns the enrolment, or ErrNotFound when TOTP is not enrolled.
func (s *Store) TOTP(ctx context.Context) (*TOTPState, error) {
	return scanTOTP(s.db.QueryRowContext(ctx, qTOTP))
}

const qTOTP = `SELECT sealed, enrolled_at, last_step, failures, locked_until FROM totp WHERE id = 1`

func scanTOTP(row interface{ Scan(...any) error }) (*TOTPState, error) {
	var st TOTPState
	var enrolled, locked int64
	err := row.Scan(&st.Sealed, &enrolled, &st.LastStep, &st.Failures, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrapDBErr("read totp", err)
	}
	st.EnrolledAt = time.Unix(0, enrolled).UTC()
	if locked != 0 {
		st.LockedUntil = time.Unix(0, locked).UTC()
	}
	return &st, nil
}

// SetTOTP enrols (or re-enrols) the sealed secret, enrolled at at. It keeps
// LastStep, so that time steps never go back, also across a re-enrolment,
// and LockedUntil; it resets Failures.
func (s *Store) SetTOTP(ctx context.Context, sealed []byte, at time.Time) error {
	if len(sealed) == 0 || len(sealed) > MaxSealedTOTPLen {
		return errors.New("store: sealed totp secret empty or too large")
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO totp (id, sealed, enrolled_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed, enrolled_at = excluded.enrolled_at, failures = 0`,
			sealed, unixNano(at))
		if err != nil {
			return wrapDBErr("set totp", err)
		}
		return nil
	})
}

// AcceptTOTPStep records step as used, atomically: while locked (now before
// LockedUntil) it returns ErrLocked, for a step at or before LastStep
// ErrReplay; otherwise LastStep becomes step and Failures 0. It returns
// ErrNotFound when TOTP is not enrolled.
func (s *Store) AcceptTOTPStep(ctx context.Context, step int64, now time.Time) error {
	if step < 0 {
		return errors.New("store: negative totp step")
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		st, err := scanTOTP(tx.QueryRowContext(ctx, qTOTP))
		if err != nil {
			return err
		}
		if now.Before(st.LockedUntil) {
			return ErrLocked
		}
		if step <= st.LastStep {
			return ErrReplay
		}
		if _, err := tx.ExecContext(ctx, `UPDATE totp SET last_step = ?, failures = 0 WHERE id = 1`, step); err != nil {
			return wrapDBErr("accept totp step", err)
		}
		return nil
	})
}

// RecordTOTPFailure counts one wrong code, atomically. When the count reaches
// maxFailures, TOTP is locked until now+lockFor, the count starts again from 0, and
// that time is returned; otherwise lockedUntil is zero. It returns
// ErrNotFound when TOTP is not enrolled.
func (s *Store) RecordTOTPFailure(ctx context.Context, now time.Time, maxFailures int, lockFor time.Duration) (lockedUntil time.Time, err error) {
	if maxFailures < 1 || lockFor <= 0 {
		return time.Time{}, errors.New("store: invalid totp lockout parameters")
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		st, err := scanTOTP(tx.QueryRowContext(ctx, qTOTP))
		if err != nil {
			return err
		}
		failures := st.Failures + 1
		locked := unixNano(st.LockedUntil)
		if st.LockedUntil.IsZero() {
			locked = 0
		}
		if failures >= maxFailures {
			failures = 0
			// Never shorten a lock in force.
			if until := unixNano(now.Add(lockFor)); until > locked {
				locked = until
			}
			lockedUntil = time.Unix(0, locked).UTC()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE totp SET failures = ?, locked_until = ? WHERE id = 1`, failures, locked); err != nil {
			return wrapDBErr("record totp failure", err)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	return lockedUntil, nil
}
