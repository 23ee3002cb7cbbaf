package totp

import (
	"context"
	"errors"
	"time"

	"github.com/pquerna/otp"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
)

// Audit events of an enrolment.
const (
	// EventEnrolFailed: a confirmation code for a new secret was refused.
	EventEnrolFailed = "totp_enroll_failed"
	// EventReenrolInvalidState: a re-enrolment found a stored state that
	// does not verify; the old code is checked against the sealed secret alone.
	EventReenrolInvalidState = "totp_reenrol_invalid_state"
	// EventReenrolSecretLost: a re-enrolment found the sealed secret itself
	// unreadable (state.db changed outside walletmcp): no code of it can be
	// checked, so the re-enrolment goes on on the home passphrase alone.
	EventReenrolSecretLost = "totp_reenrol_secret_unreadable"
)

// Enrolment is the TOTP enrolment protocol, one step at a time so that a
// command can ask the human between them:
//
//  1. BeginEnrolment reads the current enrolment. Re-enrolling replaces the
//     second factor, so it takes a current code of the enrolled secret
//     (CheckOldCode), verified and spent like any other. A stored state that
//     does not verify cannot say which steps were used and only a
//     re-enrolment repairs it: the old code is then checked against the
//     sealed secret alone (its seal is authenticated), and this is audited.
//     When the sealed secret itself does not open (someone who can write
//     state.db but not read the passphrase broke it), no code can be
//     checked: the re-enrolment, which the passphrase already unlocked,
//     goes on without one, audited (SecretLost). Otherwise the human would
//     be locked out of every approval for good.
//  2. NewSecret makes the new secret (shown to the human once).
//  3. Confirm checks a code of the new secret (a refused one is audited);
//     Save then stores the secret sealed, with the step of that code spent.
//
// Nothing is stored before Save.
type Enrolment struct {
	st      Store
	lg      Auditor
	sealKey *secret.Bytes
	now     func() time.Time

	reenrol      bool
	stateInvalid bool
	secretLost   bool
	oldChecked   bool
	enrolled     *store.TOTPState
	newKey       *otp.Key
	newSecret    *secret.Bytes
	confirmed    bool
	step         int64
	at           time.Time
}

// BeginEnrolment starts an enrolment over st with sealKey
// (MasterKey.Derive(config.TOTPKeyPurpose)); events go to lg; now is the
// clock (nil: time.Now). It keeps sealKey; the caller wipes it after Wipe.
// A stored state that does not verify is audited (EventStateInvalid, then
// EventReenrolInvalidState) here.
func BeginEnrolment(ctx context.Context, st Store, lg Auditor, sealKey *secret.Bytes, now func() time.Time) (*Enrolment, error) {
	if now == nil {
		now = time.Now
	}
	e := &Enrolment{st: st, lg: lg, sealKey: sealKey, now: now}
	enrolled, err := st.TOTP(ctx)
	switch {
	case err == nil:
		e.reenrol, e.enrolled = true, enrolled
	case errors.Is(err, store.ErrNotFound):
		return e, nil
	default:
		return nil, err
	}
	v := NewSealedVerifier(st, lg, secret.CopyBytes(sealKey.Reveal()), nil)
	defer v.Wipe()
	switch err := v.CheckState(ctx); {
	case errors.Is(err, ErrStateInvalid):
		e.stateInvalid = true
		if err := lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": EventReenrolInvalidState}); err != nil {
			return nil, err
		}
		old, err := Open(sealKey, enrolled.Sealed)
		if errors.Is(err, ErrSealed) {
			e.secretLost = true
			if err := lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": EventReenrolSecretLost}); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		} else {
			old.Wipe()
		}
	case err != nil:
		return nil, err
	}
	return e, nil
}

// Reenrol reports whether a secret is enrolled already (CheckOldCode is
// then needed before Confirm).
func (e *Enrolment) Reenrol() bool { return e.reenrol }

// StateInvalid reports whether the stored state did not verify (the
// re-enrolment repairs it).
func (e *Enrolment) StateInvalid() bool { return e.stateInvalid }

// SecretLost reports whether the enrolled secret does not open: no old code
// can be checked, and CheckOldCode is not needed.
func (e *Enrolment) SecretLost() bool { return e.secretLost }

// CheckOldCode verifies, and spends, a current code of the enrolled secret.
// Its errors are the Verifier's (or Check's, when the state is invalid).
func (e *Enrolment) CheckOldCode(ctx context.Context, code string) error {
	if !e.reenrol {
		return ErrNotEnrolled
	}
	if e.secretLost {
		e.oldChecked = true // nothing can be checked: see SecretLost
		return nil
	}
	if e.stateInvalid {
		old, err := Open(e.sealKey, e.enrolled.Sealed)
		if err != nil {
			return err
		}
		defer old.Wipe()
		if _, err := Check(old, code, e.now()); err != nil {
			return err
		}
	} else {
		v := NewSealedVerifier(e.st, e.lg, secret.CopyBytes(e.sealKey.Reveal()), &Options{Now: e.now})
		defer v.Wipe()
		if _, err := v.Verify(ctx, code, Scope{Channel: store.ChannelCLI}); err != nil {
			return err
		}
	}
	e.oldChecked = true
	return nil
}

// NewSecret makes the new secret for account (an authenticator label) and
// returns its key (URI, QR). It refuses while a re-enrolment has not
// checked an old code.
func (e *Enrolment) NewSecret(account string) (*otp.Key, error) {
	if e.reenrol && !e.oldChecked && !e.secretLost {
		return nil, errors.New("totp: re-enrolling needs a current code of the enrolled secret first")
	}
	k, err := NewSecret(account, nil)
	if err != nil {
		return nil, err
	}
	e.newSecret.Wipe()
	e.newKey, e.newSecret = k, secret.CopyBytes([]byte(k.Secret()))
	return k, nil
}

// Confirm checks code against the new secret; a refused code is audited
// (EventEnrolFailed) and may be retried with the same secret.
func (e *Enrolment) Confirm(ctx context.Context, code string) error {
	if e.newKey == nil {
		return errors.New("totp: no new secret to confirm")
	}
	now := e.now()
	step, err := Check(e.newSecret, code, now)
	if err != nil {
		_ = e.lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": EventEnrolFailed, "reenrol": e.reenrol})
		return err
	}
	e.confirmed, e.step, e.at = true, step, now
	return nil
}

// Save stores the confirmed new secret, sealed, replacing any earlier
// enrolment. The confirmation code is spent too (if a later step was
// already accepted, the old secret's code a moment ago, the last step stays).
func (e *Enrolment) Save(ctx context.Context) error {
	if !e.confirmed {
		return errors.New("totp: the new secret is not confirmed")
	}
	return Enrol(ctx, e.st, e.sealKey, e.newKey.Secret(), e.step, e.at)
}

// Wipe erases the new secret the enrolment holds.
func (e *Enrolment) Wipe() { e.newSecret.Wipe() }
