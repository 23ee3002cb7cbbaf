// Package totp is the second factor of human approvals: RFC 6238 time-based
// one-time passwords (HMAC-SHA-1, 6 digits, 30-second steps, one step of clock
// skew either way), computed with github.com/pquerna/otp, with replay
// protection and a lockout kept in internal/store.
//
// The secret is created by NewSecret, shown once to the human as an
// otpauth:// URI and QR code, and stored only sealed (Seal: AES-256-GCM under a
// key derived from the home passphrase). A Verifier checks codes.
//
// # Security model
//
// The TOTP secret and the codes are the human's, never the agent's: no MCP
// tool takes a code, and nothing here writes a code or the secret to an
// error, a log or the audit log. Errors are the sentinels below, whose
// messages name the rule that failed and nothing that was typed.
//
// A code is accepted at most once, ever: the matching time step is found
// (steps t-1, t and t+1 are all computed and compared in constant time, with
// no early exit) and the store accepts it only if it is later than every step
// accepted before (AcceptTOTPStep, one write transaction, so two processes
// offering the same code cannot both succeed). A code from an earlier step
// than one already used is refused too: steps never go back, also across a
// re-enrolment.
//
// Wrong, malformed and replayed codes count as failures; MaxFailures of them
// in a row lock every verification for LockFor, including a right code, and
// raise a TypeSecurity audit event ("totp_lockout"). Every failure and every
// success is audited ("totp_failed" with a reason, "totp_accepted" with the
// step). Verify fails closed: a store or audit error, an unset clock or a
// missing enrolment is a refusal.
//
// pquerna/otp takes the secret as a Go string, so each verification makes a
// short-lived copy of the base32 secret that cannot be wiped; the long-lived
// copies (the Verifier's) are secret.Bytes, wiped by Wipe.
package totp

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
)

// Parameters of the codes (RFC 6238 with the defaults authenticator apps expect).
const (
	// Digits is the length of a code.
	Digits = 6
	// Period is the length of a time step.
	Period = 30 * time.Second
	// Skew is how many steps before and after the current one are accepted.
	Skew = 1
	// SecretSize is the size of a new secret in bytes (160 bits, RFC 4226 §4).
	SecretSize = 20
)

// Defaults of Options.
const (
	DefaultMaxFailures = 5
	DefaultLockFor     = 15 * time.Minute
	DefaultIssuer      = "walletmcp"
)

// Errors returned by Verify and Check. Their messages never contain the code
// or the secret.
var (
	ErrWrongCode   = errors.New("totp: wrong code")
	ErrReplay      = errors.New("totp: code already used")
	ErrLocked      = errors.New("totp: locked after too many wrong codes")
	ErrMalformed   = errors.New("totp: a code is exactly 6 digits")
	ErrNotEnrolled = errors.New("totp: not enrolled (run `walletmcp totp enroll`)")
)

// ErrSealed is returned by Open when the blob does not open under the key:
// another home's key, or a blob that was changed.
var ErrSealed = errors.New("totp: the sealed secret does not open (wrong key or tampered state)")

// LockedError is the refusal while TOTP is locked. It matches ErrLocked.
type LockedError struct {
	// Until is when codes are accepted again.
	Until time.Time
}

// Error implements error.
func (e *LockedError) Error() string {
	return ErrLocked.Error() + " until " + e.Until.UTC().Format(time.RFC3339)
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Options configures NewSecret and Verifiers. A nil *Options means all defaults.
type Options struct {
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxFailures is how many failed codes in a row lock verification.
	// Default 5.
	MaxFailures int
	// LockFor is how long a lockout lasts. Default 15 minutes.
	LockFor time.Duration
	// Issuer names the service in authenticator apps. Default "walletmcp".
	Issuer string
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.MaxFailures <= 0 {
		r.MaxFailures = DefaultMaxFailures
	}
	if r.LockFor <= 0 {
		r.LockFor = DefaultLockFor
	}
	if r.Issuer == "" {
		r.Issuer = DefaultIssuer
	}
	return r
}

// NewSecret creates a TOTP secret of SecretSize random bytes for account
// (the name shown in authenticator apps). key.URL() is the otpauth:// URI to
// show the human once; key.Secret() is the base32 secret to Seal.
func NewSecret(account string, opts *Options) (key *otp.Key, err error) {
	o := opts.withDefaults()
	if account == "" || strings.ContainsAny(account, ":") {
		return nil, errors.New("totp: the account name must be non-empty and without ':'")
	}
	key, err = pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer: o.Issuer, AccountName: account, Period: uint(Period / time.Second),
		SecretSize: SecretSize, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader,
	})
	if err != nil {
		return nil, fmt.Errorf("totp: new secret: %w", err)
	}
	return key, nil
}

// sealVersion is the first byte of a sealed blob: AES-256-GCM, 12-byte random
// nonce, the base32 secret as plaintext, sealAD as additional data.
const sealVersion = 1

var sealAD = []byte("walletmcp totp secret v1")

// Seal encrypts the base32 secret under k, a 32-byte key (the home's
// MasterKey.Derive("totp")), with a random nonce. The blob is
// version(1) || nonce(12) || ciphertext and tag.
func Seal(k *secret.Bytes, secretB32 string) ([]byte, error) {
	aead, err := newAEAD(k)
	if err != nil {
		return nil, err
	}
	plain := []byte(secretB32)
	defer secret.Wipe(plain)
	if err := checkBase32(plain); err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("totp: random nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plain, additionalData()), nil
}

// Open decrypts a blob made by Seal under k and returns the base32 secret.
// The caller wipes it.
func Open(k *secret.Bytes, sealed []byte) (*secret.Bytes, error) {
	aead, err := newAEAD(k)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1+aead.NonceSize()+aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrSealed
	}
	n := 1 + aead.NonceSize()
	plain, err := aead.Open(nil, sealed[1:n], sealed[n:], additionalData())
	if err != nil {
		return nil, ErrSealed
	}
	if err := checkBase32(plain); err != nil {
		secret.Wipe(plain)
		return nil, err
	}
	return secret.NewBytes(plain), nil
}

func additionalData() []byte { return append([]byte{sealVersion}, sealAD...) }

func newAEAD(k *secret.Bytes) (cipher.AEAD, error) {
	if k.Len() != 32 {
		return nil, errors.New("totp: the sealing key must be 32 bytes")
	}
	block, err := aes.NewCipher(k.Reveal())
	if err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	return aead, nil
}

// checkBase32 accepts an unpadded upper-case base32 secret of at least 16
// bytes (RFC 4226 §4 requires 128 bits at least).
func checkBase32(b32 []byte) error {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	raw := make([]byte, enc.DecodedLen(len(b32)))
	defer secret.Wipe(raw)
	n, err := enc.Decode(raw, b32)
	if err != nil || n < 16 {
		return errors.New("totp: the secret is not base32 of at least 128 bits")
	}
	return nil
}

// Auditor is the audit log as a Verifier uses it.
type Auditor interface {
	// Append records an event and returns once it is on disk.
	Append(ctx context.Context, typ string, fields any) error
}

var _ Auditor = (*audit.Log)(nil)

// Verifier checks codes against the enrolled secret, accepting each time step
// at most once, and locks out after repeated failures. It is safe for
// concurrent use, and Verifiers in several processes over the same state
// database exclude each other.
type Verifier struct {
	st          *store.Store
	lg          Auditor
	secretB32   *secret.Bytes // NewVerifier: the open secret
	sealKey     *secret.Bytes // NewSealedVerifier: opens the store's sealed secret per Verify
	now         func() time.Time
	maxFailures int
	lockFor     time.Duration
}

// NewVerifier returns a Verifier of codes for secretB32 (the base32 secret,
// opened with Open), with its state (last step, failures, lockout) in st and
// its events in lg. It keeps secretB32, which the caller must not wipe before
// calling Wipe. A re-enrolment does not reach this Verifier: a long-running
// process should use NewSealedVerifier.
func NewVerifier(st *store.Store, lg Auditor, secretB32 *secret.Bytes, opts *Options) *Verifier {
	o := opts.withDefaults()
	return &Verifier{st: st, lg: lg, secretB32: secretB32, now: o.Now, maxFailures: o.MaxFailures, lockFor: o.LockFor}
}

// NewSealedVerifier returns a Verifier that opens the secret sealed in st
// with sealKey (MasterKey.Derive("totp")) at each Verify and wipes it after,
// so that the secret is held only sealed and a re-enrolment applies at once.
// TOTP need not be enrolled yet (Verify then returns ErrNotEnrolled). It keeps
// sealKey, which the caller must not wipe before calling Wipe.
func NewSealedVerifier(st *store.Store, lg Auditor, sealKey *secret.Bytes, opts *Options) *Verifier {
	o := opts.withDefaults()
	return &Verifier{st: st, lg: lg, sealKey: sealKey, now: o.Now, maxFailures: o.MaxFailures, lockFor: o.LockFor}
}

// Wipe erases the secret or key the Verifier holds; every later Verify fails.
func (v *Verifier) Wipe() {
	v.secretB32.Wipe()
	v.sealKey.Wipe()
}

// Audit events, all of type audit.TypeSecurity.
const (
	EventAccepted = "totp_accepted"
	EventFailed   = "totp_failed"
	EventLockout  = "totp_lockout"
)

// Verify checks code and, if it is right and its time step was never used,
// records the step as used. Otherwise it returns ErrMalformed, ErrWrongCode,
// ErrReplay (the three count as failures, and the failure that reaches
// MaxFailures also matches ErrLocked), a *LockedError while locked (the code
// is not even looked at), ErrNotEnrolled, or the store's or audit log's error.
func (v *Verifier) Verify(ctx context.Context, code string) error {
	if v == nil || v.st == nil || v.lg == nil {
		return errors.New("totp: verifier not configured")
	}
	now := v.now()
	st, err := v.st.TOTP(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return v.refuse(ctx, ErrNotEnrolled, "not_enrolled")
	}
	if err != nil {
		return err
	}
	if now.Before(st.LockedUntil) {
		return v.refuse(ctx, &LockedError{Until: st.LockedUntil}, "locked")
	}
	if !wellFormed(code) {
		return v.fail(ctx, now, ErrMalformed, "malformed")
	}
	sec, err := v.secret(st)
	if err != nil {
		return err
	}
	step, err := match(sec, code, now)
	if v.sealKey != nil {
		sec.Wipe()
	}
	if errors.Is(err, ErrWrongCode) {
		return v.fail(ctx, now, ErrWrongCode, "wrong_code")
	}
	if err != nil {
		return err
	}
	switch err := v.st.AcceptTOTPStep(ctx, step, now); {
	case errors.Is(err, store.ErrReplay):
		return v.fail(ctx, now, ErrReplay, "replay")
	case errors.Is(err, store.ErrLocked):
		// Locked by another process since we looked.
		until := now.Add(v.lockFor)
		if st, err := v.st.TOTP(ctx); err == nil {
			until = st.LockedUntil
		}
		return v.refuse(ctx, &LockedError{Until: until}, "locked")
	case errors.Is(err, store.ErrNotFound):
		return v.refuse(ctx, ErrNotEnrolled, "not_enrolled")
	case err != nil:
		return err
	}
	return v.lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": EventAccepted, "step": step})
}

// secret returns the secret to check codes against: the Verifier's own, or
// the store's opened with the sealing key (the caller wipes that one).
func (v *Verifier) secret(st *store.TOTPState) (*secret.Bytes, error) {
	if v.sealKey != nil {
		if v.sealKey.Len() == 0 {
			return nil, errors.New("totp: verifier wiped")
		}
		return Open(v.sealKey, st.Sealed)
	}
	if v.secretB32.Len() == 0 {
		return nil, errors.New("totp: verifier has no secret (not enrolled, or wiped)")
	}
	return v.secretB32, nil
}

// refuse audits a refusal that is not counted as a failure and returns cause.
func (v *Verifier) refuse(ctx context.Context, cause error, reason string) error {
	if err := v.lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": EventFailed, "reason": reason}); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// fail counts a failure, audits it (and the lockout it may cause) and returns
// cause, joined with a *LockedError when this failure locked verification.
func (v *Verifier) fail(ctx context.Context, now time.Time, cause error, reason string) error {
	until, rerr := v.st.RecordTOTPFailure(ctx, now, v.maxFailures, v.lockFor)
	errs := []error{cause}
	if rerr != nil {
		errs = append(errs, rerr)
	}
	if err := v.lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": EventFailed, "reason": reason}); err != nil {
		errs = append(errs, err)
	}
	if !until.IsZero() {
		errs = append(errs, &LockedError{Until: until})
		if err := v.lg.Append(ctx, audit.TypeSecurity, map[string]any{
			"event": EventLockout, "until": until.UTC().Format(time.RFC3339), "max_failures": v.maxFailures,
		}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 1 {
		return cause
	}
	return errors.Join(errs...)
}

// Check reports the time step whose code is code for secretB32 at now, among
// the current step and Skew steps either side; it is ErrMalformed or
// ErrWrongCode otherwise. It records nothing: Verify is what makes a code
// single-use. Enrolment uses it to check a code for a secret not stored yet.
func Check(secretB32 *secret.Bytes, code string, now time.Time) (step int64, err error) {
	if !wellFormed(code) {
		return 0, ErrMalformed
	}
	return match(secretB32, code, now)
}

// wellFormed reports whether code is exactly Digits ASCII digits.
func wellFormed(code string) bool {
	if len(code) != Digits {
		return false
	}
	ok := true
	for i := 0; i < len(code); i++ {
		ok = ok && code[i] >= '0' && code[i] <= '9'
	}
	return ok
}

// match computes the codes of steps t-Skew .. t+Skew and compares each with
// code in constant time, without stopping at a match. It returns the matching
// step (the latest, in the unlikely case of several) or ErrWrongCode.
func match(secretB32 *secret.Bytes, code string, now time.Time) (int64, error) {
	period := int64(Period / time.Second)
	t := now.Unix()
	if t < period*(Skew+1) {
		return 0, errors.New("totp: the clock is not set")
	}
	if secretB32.Len() == 0 {
		return 0, ErrNotEnrolled
	}
	sec := string(secretB32.Reveal())
	cur := t / period
	found, step := 0, 0
	for s := cur - Skew; s <= cur+Skew; s++ {
		c, err := hotp.GenerateCodeCustom(sec, uint64(s), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, errors.New("totp: the secret is not valid base32")
		}
		eq := subtle.ConstantTimeCompare([]byte(c), []byte(code))
		found |= eq
		step = subtle.ConstantTimeSelect(eq, int(s), step)
	}
	if found != 1 {
		return 0, ErrWrongCode
	}
	return int64(step), nil
}
