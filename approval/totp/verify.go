package totp

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
)

// Auditor is the audit log as a Verifier uses it.
type Auditor interface {
	// Append records an event and returns once it is on disk.
	Append(ctx context.Context, typ string, fields any) error
}

var _ Auditor = (*audit.Log)(nil)

// Audit events, all of type audit.TypeSecurity.
const (
	EventAccepted     = "totp_accepted"
	EventFailed       = "totp_failed"
	EventLockout      = "totp_lockout"       // one approval's link locked
	EventPageLockout  = "totp_page_lockout"  // the whole approval page locked
	EventStateInvalid = "totp_state_invalid" // a stored state whose MAC does not verify
)

// Scope says where a code was entered, which decides what wrong codes lock.
type Scope struct {
	// Channel is store.ChannelCLI (the human's terminal: never locked),
	// store.ChannelWeb or store.ChannelElicitation (the approval page:
	// counted and locked).
	Channel string
	// ApprovalID is the approval the code is offered for. Required on the
	// page's channels; "" in the terminal for a command that decides no
	// approval (policy attest, totp enroll).
	ApprovalID string
}

// page reports whether the scope is the approval page, or an error for an
// unknown channel or a page scope without an approval.
func (sc Scope) page() (bool, error) {
	switch sc.Channel {
	case store.ChannelCLI:
		return false, nil
	case store.ChannelWeb, store.ChannelElicitation:
		if sc.ApprovalID == "" || len(sc.ApprovalID) > store.MaxTOTPScopeLen-len(counterPrefix) {
			return false, errors.New("totp: a code on the approval page needs its approval id")
		}
		return true, nil
	}
	return false, errors.New("totp: unknown channel")
}

// counterPrefix starts the store scope of an approval's counter.
const counterPrefix = "page:"

// counterRetention is how long an approval's counter is kept after its last
// change (approvals live minutes).
const counterRetention = 24 * time.Hour

// Verifier checks codes against the enrolled secret, accepting each time step
// at most once, and counts and locks failures on the approval page. It opens
// the secret sealed in the store at each Verify and wipes it after, so that
// the secret is held only sealed and a re-enrolment applies at once. It is
// safe for concurrent use, and Verifiers in several processes over the same
// state database exclude each other.
type Verifier struct {
	st      Store
	lg      Auditor
	sealKey *secret.Bytes // opens the store's sealed secret
	macKey  *secret.Bytes // authenticates the stored state
	now     func() time.Time
	o       Options
	seen    seenState
}

// seenState is the furthest enrolment state, and approval counters, a
// Verifier has read or written. The MAC authenticates a row, not its age:
// an older copy of the totp row written back (with the counters deleted)
// passes it, and would give the page its budget of wrong codes again and
// again. A long-lived Verifier (serve's, behind the approval page) refuses
// a stored state that went back from what it saw (ErrStateInvalid,
// audited). While no code is accepted (the same LastStep, the same
// enrolment) the page's counts only move forward: more lockouts, a later
// lock, a later window, more failures in it; an accepted code or a
// re-enrolment, by any process, moves LastStep or EnrolledAt forward and
// may reset them.
type seenState struct {
	mu       sync.Mutex
	set      bool
	state    store.TOTPState              // its counting fields only
	counters map[string]store.TOTPCounter // by scope, for the state's LastStep
}

// stateBehind reports whether st went back from seen.
func stateBehind(st, seen *store.TOTPState) bool {
	switch {
	case !st.EnrolledAt.Equal(seen.EnrolledAt):
		return st.EnrolledAt.Before(seen.EnrolledAt)
	case st.LastStep != seen.LastStep:
		return st.LastStep < seen.LastStep
	case st.LockedUntil.Before(seen.LockedUntil):
		return true
	case st.Lockouts != seen.Lockouts:
		return st.Lockouts < seen.Lockouts
	case !st.WindowStart.Equal(seen.WindowStart):
		return st.WindowStart.Before(seen.WindowStart)
	}
	return st.Failures < seen.Failures
}

// counterBehind reports whether c went back from seen (same state step).
func counterBehind(c, seen *store.TOTPCounter) bool {
	if !c.LockedUntil.Equal(seen.LockedUntil) {
		return c.LockedUntil.Before(seen.LockedUntil)
	}
	return c.Failures < seen.Failures
}

// behind reports whether st (and c, the counter of scope, when not nil)
// went back from what this Verifier saw.
func (s *seenState) behind(st *store.TOTPState, scope string, c *store.TOTPCounter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.set {
		return false
	}
	if stateBehind(st, &s.state) {
		return true
	}
	if c == nil || !st.EnrolledAt.Equal(s.state.EnrolledAt) || st.LastStep != s.state.LastStep {
		return false
	}
	prev, ok := s.counters[scope]
	return ok && counterBehind(c, &prev)
}

// record moves what this Verifier saw forward to st and c (of scope).
func (s *seenState) record(st *store.TOTPState, scope string, c *store.TOTPCounter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set && stateBehind(st, &s.state) {
		return
	}
	if !s.set || !st.EnrolledAt.Equal(s.state.EnrolledAt) || st.LastStep != s.state.LastStep {
		s.counters = map[string]store.TOTPCounter{}
	}
	s.set = true
	s.state = store.TOTPState{EnrolledAt: st.EnrolledAt, LastStep: st.LastStep, Failures: st.Failures,
		WindowStart: st.WindowStart, LockedUntil: st.LockedUntil, Lockouts: st.Lockouts}
	if c != nil && scope != "" {
		if prev, ok := s.counters[scope]; !ok || !counterBehind(c, &prev) {
			if len(s.counters) >= maxSeenCounters {
				clear(s.counters) // bounded; forgetting only loosens the check
			}
			s.counters[scope] = store.TOTPCounter{Failures: c.Failures, LockedUntil: c.LockedUntil}
		}
	}
}

// maxSeenCounters bounds the approval counters a Verifier remembers.
const maxSeenCounters = 4096

// NewSealedVerifier returns a Verifier over the secret sealed in st with
// sealKey (MasterKey.Derive("totp")), from which it also derives the key
// that authenticates the stored state; its events go to lg. TOTP need not be
// enrolled yet (Verify then returns ErrNotEnrolled). It keeps sealKey, which
// the caller must not wipe before calling Wipe.
func NewSealedVerifier(st Store, lg Auditor, sealKey *secret.Bytes, opts *Options) *Verifier {
	o := opts.withDefaults()
	v := &Verifier{st: st, lg: lg, sealKey: sealKey, now: o.Now, o: o}
	v.macKey, _ = deriveMACKey(sealKey) // nil on error: every Verify fails
	return v
}

// Wipe erases the keys the Verifier holds; every later Verify fails.
func (v *Verifier) Wipe() {
	v.sealKey.Wipe()
	v.macKey.Wipe()
}

// macInfo is the HKDF info of the state's MAC key: distinct from every other
// use of the sealing key.
const macInfo = "walletmcp totp state mac v1"

// deriveMACKey derives the state's MAC key from the 32-byte sealing key with
// HKDF-SHA-256.
func deriveMACKey(sealKey *secret.Bytes) (*secret.Bytes, error) {
	if sealKey.Len() != 32 {
		return nil, errors.New("totp: the sealing key must be 32 bytes")
	}
	k, err := hkdf.Key(sha256.New, sealKey.Reveal(), nil, macInfo, 32)
	if err != nil {
		return nil, errors.New("totp: deriving the state key failed")
	}
	return secret.NewBytes(k), nil
}

// stateMAC authenticates the security state of the enrolment.
func stateMAC(key *secret.Bytes, st *store.TOTPState) []byte {
	m := hmac.New(sha256.New, key.Reveal())
	m.Write([]byte("walletmcp totp state v1\x00"))
	sum := sha256.Sum256(st.Sealed)
	m.Write(sum[:])
	var b []byte
	for _, n := range []int64{nanos(st.EnrolledAt), st.LastStep, int64(st.Failures), nanos(st.WindowStart), nanos(st.LockedUntil), int64(st.Lockouts)} {
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	m.Write(b)
	return m.Sum(nil)
}

// counterMAC authenticates an approval's failure counter.
func counterMAC(key *secret.Bytes, c *store.TOTPCounter) []byte {
	m := hmac.New(sha256.New, key.Reveal())
	m.Write([]byte("walletmcp totp counter v1\x00"))
	b := binary.BigEndian.AppendUint32(nil, uint32(len(c.Scope)))
	b = append(b, c.Scope...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Failures))
	b = binary.BigEndian.AppendUint64(b, uint64(nanos(c.LockedUntil)))
	m.Write(b)
	return m.Sum(nil)
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// stateValid reports whether the stored state carries its MAC.
func stateValid(key *secret.Bytes, st *store.TOTPState) bool {
	return len(st.MAC) > 0 && hmac.Equal(st.MAC, stateMAC(key, st))
}

// counterValid reports whether a counter carries its MAC; a counter never
// stored (no MAC) must be zero.
func counterValid(key *secret.Bytes, c *store.TOTPCounter) bool {
	if c.MAC == nil {
		return c.Failures == 0 && c.LockedUntil.IsZero()
	}
	return hmac.Equal(c.MAC, counterMAC(key, c))
}

// errNoChange rolls back an update that has nothing to write.
var errNoChange = errors.New("totp: nothing to write")

// outcome is what one verification decided.
type outcome struct {
	step      int64
	err       error        // the refusal; nil when accepted
	reason    string       // audit reason of a refusal
	invalid   bool         // the stored state did not verify
	lock      *LockedError // the approval's link locked by this failure
	pageLock  *LockedError // the page locked by this failure
	pageFails int          // the page's failures in the window after this one
	fails     int          // the approval's failures after this one
}

// Verify checks code, entered in scope sc, and if it is right and its time
// step was never used, records the step as used and returns it. Otherwise it
// returns -1 and a *FailedError (ErrMalformed, ErrWrongCode or ErrReplay;
// counted on the approval page, and matching ErrLocked when it locked the
// approval's link or the page), a *LockedError while the scope is locked
// (the code is not even looked at), ErrStateInvalid, ErrNotEnrolled, or
// another error (store, audit log, clock, key).
func (v *Verifier) Verify(ctx context.Context, code string, sc Scope) (int64, error) {
	if v == nil || v.st == nil || v.lg == nil {
		return -1, errors.New("totp: verifier not configured")
	}
	if v.sealKey.Len() == 0 || v.macKey.Len() == 0 {
		return -1, errors.New("totp: verifier wiped or without a valid key")
	}
	page, err := sc.page()
	if err != nil {
		return -1, err
	}
	counterScope := ""
	if page {
		counterScope = counterPrefix + sc.ApprovalID
	}
	now := v.now()
	var out outcome
	var after *store.TOTPState
	var afterCounter *store.TOTPCounter
	err = v.st.UpdateTOTP(ctx, counterScope, func(u *store.TOTPUpdate) error {
		out = v.decide(u, code, sc, page, now)
		after, afterCounter = nil, nil
		if !out.invalid && u.State != nil {
			s := *u.State
			after = &s
			if u.Counter != nil {
				c := *u.Counter
				afterCounter = &c
			}
		}
		if out.err != nil && !page {
			return errNoChange // the terminal counts nothing
		}
		if out.err != nil && out.reason == "" {
			return errNoChange // a refusal that is not a failure
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return -1, err
	}
	if after != nil {
		// Written, or read unchanged: either way the store holds it now.
		v.seen.record(after, counterScope, afterCounter)
	}
	return v.report(ctx, sc, now, &out)
}

// decide checks the state and the code and changes u for what must be
// written: the accepted step, or the failure counts.
func (v *Verifier) decide(u *store.TOTPUpdate, code string, sc Scope, page bool, now time.Time) outcome {
	st := u.State
	if st == nil {
		return outcome{err: ErrNotEnrolled}
	}
	if !stateValid(v.macKey, st) || (page && !counterValid(v.macKey, u.Counter)) {
		return outcome{err: ErrStateInvalid, invalid: true}
	}
	scope := ""
	if page {
		scope = counterPrefix + sc.ApprovalID
	}
	if v.seen.behind(st, scope, u.Counter) {
		// An older copy written back (see seenState).
		return outcome{err: ErrStateInvalid, invalid: true}
	}
	if page && now.Before(st.LockedUntil) {
		return outcome{err: &LockedError{Until: st.LockedUntil, Page: true, ApprovalID: sc.ApprovalID}}
	}
	if page && now.Before(u.Counter.LockedUntil) {
		return outcome{err: &LockedError{Until: u.Counter.LockedUntil, ApprovalID: sc.ApprovalID}}
	}
	if !wellFormed(code) {
		return v.fail(u, page, now, ErrMalformed, "malformed")
	}
	sec, err := Open(v.sealKey, st.Sealed)
	if err != nil {
		return outcome{err: err}
	}
	step, err := match(sec, code, now)
	sec.Wipe()
	switch {
	case errors.Is(err, ErrWrongCode):
		return v.fail(u, page, now, ErrWrongCode, "wrong_code")
	case err != nil:
		return outcome{err: err}
	case step <= st.LastStep:
		return v.fail(u, page, now, ErrReplay, "replay")
	}
	st.LastStep = step
	st.Lockouts = 0
	st.MAC = stateMAC(v.macKey, st)
	if page {
		u.Counter.Failures, u.Counter.LockedUntil, u.Counter.MAC = 0, time.Time{}, nil
	}
	return outcome{step: step}
}

// fail counts a failure on the page (the approval's counter and the page's
// budget, locking either when it is spent); in the terminal it counts
// nothing.
func (v *Verifier) fail(u *store.TOTPUpdate, page bool, now time.Time, cause error, reason string) outcome {
	out := outcome{err: cause, reason: reason}
	if !page {
		return out
	}
	st, c := u.State, u.Counter
	if st.WindowStart.IsZero() || !now.Before(st.WindowStart.Add(v.o.PageWindow)) {
		st.WindowStart, st.Failures = now, 0
	}
	st.Failures++
	c.Failures++
	if c.Failures >= v.o.MaxFailures {
		c.Failures = 0
		// Never shorten a lock in force.
		if until := now.Add(v.o.LockFor); until.After(c.LockedUntil) {
			c.LockedUntil = until
		}
		out.lock = &LockedError{Until: c.LockedUntil}
	}
	out.pageFails, out.fails = st.Failures, c.Failures
	if st.Failures >= v.o.PageMaxFailures {
		lockFor := v.o.PageLockFor
		for i := 0; i < st.Lockouts && lockFor < MaxPageLockFor; i++ {
			lockFor *= 2
		}
		lockFor = min(lockFor, MaxPageLockFor)
		st.LockedUntil = now.Add(lockFor)
		st.Lockouts++
		st.Failures, st.WindowStart = 0, time.Time{}
		out.pageLock = &LockedError{Until: st.LockedUntil, Page: true}
	}
	st.MAC = stateMAC(v.macKey, st)
	if c.Failures != 0 || !c.LockedUntil.IsZero() {
		c.MAC = counterMAC(v.macKey, c)
	} else {
		c.MAC = nil
	}
	return out
}

// report audits the outcome and returns Verify's result.
func (v *Verifier) report(ctx context.Context, sc Scope, now time.Time, out *outcome) (int64, error) {
	fields := func(event string) map[string]any {
		f := map[string]any{"event": event, "channel": sc.Channel}
		if sc.ApprovalID != "" {
			f["approval_id"] = sc.ApprovalID
		}
		return f
	}
	if out.err == nil {
		f := fields(EventAccepted)
		f["step"] = out.step
		if err := v.lg.Append(ctx, audit.TypeSecurity, f); err != nil {
			return -1, err
		}
		// Counters of approvals long gone are of no use; a failure to prune
		// changes no decision.
		_, _ = v.st.PruneTOTPCounters(ctx, now.Add(-counterRetention))
		return out.step, nil
	}
	refusal := out.err
	var events []map[string]any
	switch {
	case out.invalid:
		events = append(events, fields(EventStateInvalid))
	case out.reason == "":
		f := fields(EventFailed)
		f["reason"] = refusalReason(out.err)
		events = append(events, f)
	default:
		page, _ := sc.page()
		fe := &FailedError{Err: out.err, Left: -1}
		f := fields(EventFailed)
		f["reason"] = out.reason
		if page {
			fe.Lock = out.pageLock
			if fe.Lock == nil {
				fe.Lock = out.lock
			}
			if fe.Lock != nil {
				fe.Left = 0
			} else {
				fe.Left = min(v.o.MaxFailures-out.fails, v.o.PageMaxFailures-out.pageFails)
			}
			f["tries_left"] = fe.Left
		}
		events = append(events, f)
		for _, l := range []*LockedError{out.lock, out.pageLock} {
			if l == nil {
				continue
			}
			l.ApprovalID = sc.ApprovalID
			e := fields(EventLockout)
			e["max_failures"] = v.o.MaxFailures
			if l.Page {
				e = fields(EventPageLockout)
				e["window"] = v.o.PageWindow.String()
				e["max_failures"] = v.o.PageMaxFailures
			}
			e["until"] = l.Until.UTC().Format(time.RFC3339)
			events = append(events, e)
		}
		refusal = fe
	}
	errs := []error{refusal}
	for _, e := range events {
		if err := v.lg.Append(ctx, audit.TypeSecurity, e); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 1 {
		return -1, errors.Join(errs...)
	}
	return -1, refusal
}

func refusalReason(err error) string {
	switch {
	case errors.Is(err, ErrNotEnrolled):
		return "not_enrolled"
	case errors.Is(err, ErrLocked):
		return "locked"
	}
	return "error"
}

// CheckState reports whether TOTP is enrolled (else ErrNotEnrolled) and its
// stored state verifies (else ErrStateInvalid, audited), without looking at
// any code.
func (v *Verifier) CheckState(ctx context.Context) error {
	if v == nil || v.st == nil || v.lg == nil || v.macKey.Len() == 0 {
		return errors.New("totp: verifier not configured")
	}
	st, err := v.st.TOTP(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotEnrolled
	}
	if err != nil {
		return err
	}
	if !stateValid(v.macKey, st) {
		if err := v.lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": EventStateInvalid}); err != nil {
			return errors.Join(ErrStateInvalid, err)
		}
		return ErrStateInvalid
	}
	return nil
}

// Enrol stores secretB32, sealed under sealKey (MasterKey.Derive("totp")),
// as the TOTP enrolment at now, replacing any earlier one, and authenticates
// the state with the key derived from sealKey. used is the time step of the
// code that confirmed the new secret (or -1): it is recorded as used, and
// the last used step never goes back. The page's failure counts and lock are
// kept when the earlier state verifies; a state that does not verify (and
// its values) is discarded, which is how a human in a terminal repairs it.
// The approvals' counters are deleted: their counts start afresh.
func Enrol(ctx context.Context, st Store, sealKey *secret.Bytes, secretB32 string, used int64, now time.Time) error {
	mk, err := deriveMACKey(sealKey)
	if err != nil {
		return err
	}
	defer mk.Wipe()
	sealed, err := Seal(sealKey, secretB32)
	if err != nil {
		return err
	}
	err = st.UpdateTOTP(ctx, "", func(u *store.TOTPUpdate) error {
		next := &store.TOTPState{Sealed: sealed, EnrolledAt: now, LastStep: -1}
		if cur := u.State; cur != nil && stateValid(mk, cur) {
			next.LastStep, next.Failures, next.WindowStart, next.LockedUntil, next.Lockouts =
				cur.LastStep, cur.Failures, cur.WindowStart, cur.LockedUntil, cur.Lockouts
		}
		next.LastStep = max(next.LastStep, used, -1)
		next.MAC = stateMAC(mk, next)
		u.State = next
		return nil
	})
	if err != nil {
		return err
	}
	return st.DeleteTOTPCounters(ctx)
}
