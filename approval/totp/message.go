package totp

import (
	"errors"
	"fmt"
)

// Message is err, a refusal of Verify or Check, as sentences for the human
// who typed the code: what went wrong, how many tries are left on the page,
// what to do. It carries no package prefix and nothing that was typed. ok is
// false when err is not one of this package's refusals.
func Message(err error) (msg string, ok bool) {
	var fe *FailedError
	var le *LockedError
	switch {
	case errors.As(err, &fe):
		msg = causeSentence(fe.Err)
		switch {
		case fe.Lock != nil:
			msg += " " + lockSentence(fe.Lock)
		case fe.Left == 1:
			msg += " 1 try left for this request on this page."
		case fe.Left > 1:
			msg += fmt.Sprintf(" %d tries left for this request on this page.", fe.Left)
		}
		return msg, true
	case errors.As(err, &le):
		return lockSentence(le), true
	case errors.Is(err, ErrWrongCode), errors.Is(err, ErrReplay), errors.Is(err, ErrMalformed):
		return causeSentence(err), true
	case errors.Is(err, ErrNotEnrolled):
		return "TOTP is not enrolled: run `walletmcp totp enroll` in a terminal.", true
	case errors.Is(err, ErrStateInvalid):
		return "The stored TOTP state does not verify (it was changed outside walletmcp), so every code is refused. " +
			"Re-enrol with `walletmcp totp enroll` in a terminal.", true
	case errors.Is(err, ErrSealed):
		return "The TOTP secret does not open with this home's passphrase, so the code cannot be checked.", true
	}
	return "", false
}

func causeSentence(err error) string {
	switch {
	case errors.Is(err, ErrReplay):
		return "This code was already used: wait for the next code from your authenticator (a new one every 30 seconds)."
	case errors.Is(err, ErrMalformed):
		return "A code is the 6 digits your authenticator shows."
	}
	return "Wrong code: check that it is the walletmcp entry of your authenticator and that its clock is right."
}

func lockSentence(l *LockedError) string {
	until := l.Until.UTC().Format("2006-01-02 15:04:05 UTC")
	cli := "`walletmcp approve` in a terminal still works."
	if l.ApprovalID != "" {
		cli = "`walletmcp approve " + l.ApprovalID + "` in a terminal still works."
	}
	if l.Page {
		return "Too many wrong codes on the approval page: it accepts no code until " + until +
			". This was recorded as a security event. " + cli
	}
	return "Too many wrong codes for this request: this page accepts no code for it until " + until + ". " + cli
}
