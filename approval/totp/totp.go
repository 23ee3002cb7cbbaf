// Package totp is the second factor of human approvals: RFC 6238 time-based
// one-time passwords (HMAC-SHA-1, 6 digits, 30-second steps, one step of clock
// skew either way), computed with github.com/pquerna/otp, with replay
// protection, failure counters and an authenticated state kept in
// internal/store.
//
// The secret is created by NewSecret, shown once to the human as an
// otpauth:// URI and QR code, and stored only sealed (Seal: AES-256-GCM under a
// key derived from the home passphrase) by Enrol. A Verifier checks codes.
//
// # Security model
//
// The TOTP secret and the codes are the human's, never the agent's: no MCP
// tool takes a code, and nothing here writes a code or the secret to an
// error, a log or the audit log. Errors are the sentinels and types below,
// whose messages name the rule that failed and nothing that was typed;
// Message turns them into sentences for the human.
//
// A code is accepted at most once, ever: the matching time step is found
// (steps t-1, t and t+1 are all computed and compared in constant time, with
// no early exit) and accepted only if it is later than every step accepted
// before, in one write transaction of the store (UpdateTOTP), so two
// processes offering the same code cannot both succeed. A code from an
// earlier step than one already used is refused too: steps never go back,
// also across a re-enrolment. Verify returns the accepted step, so that a
// decision can record which code made it.
//
// Wrong codes lock what received them, never the human. The agent is handed
// the approval link, and with any HTTP client it can load the page and post
// codes with the page's own form token and Origin; so the approval page (and
// URL elicitation, which opens the same page) is a channel the agent can
// reach, and every failure there is counted, in the store (so that every
// process on the home sees the same counts) and never only in memory:
//
//   - per approval: MaxFailures wrong codes for one approval lock that
//     approval's link for LockFor ("totp_lockout"); other approvals' links
//     keep working;
//   - on the whole page: per-approval counters alone would let an agent park
//     many approvals (up to approval.max_pending per account) and guess
//     through each, so wrong codes on the page also spend one budget of
//     PageMaxFailures per PageWindow; when it is spent the page accepts no
//     code at all for PageLockFor, doubled for each further page lockout
//     without an accepted code in between, up to MaxPageLockFor
//     ("totp_page_lockout").
//
// A right code is refused too while its scope is locked (it is not looked at,
// and not spent). Rejecting needs no code and is never locked.
//
// The terminal (walletmcp approve, policy attest, totp enroll, store
// ChannelCLI) is never locked and counts nothing: it needs the home
// passphrase first, and whoever has the passphrase can unseal the TOTP
// secret and compute every code, so a lock there would protect nothing and
// would let the agent lock the human out. Its failures are still audited.
// With the budget above, an agent guessing on the page gets about
// PageMaxFailures tries per PageLockFor at first and fewer later, each
// lockout an audited security event, against a 3-in-a-million chance per
// guess.
//
// The state that makes these rules (the sealed secret, the last accepted
// step, the page's counts and lockouts, and each approval's counter) is
// authenticated with HMAC-SHA-256 under a key derived with HKDF from the
// sealing key (MasterKey.Derive("totp"), from the home passphrase), which the
// store never sees. Verify checks the MACs before it looks at a code; a state
// that does not verify (edited in state.db, for instance to reset the last
// step and replay a used code, or to clear a lock) refuses every code on
// every channel and is a security event ("totp_state_invalid"), until the
// human re-enrols in a terminal (Enrol). A deleted counter row reads as a
// zero counter, so deleting rows resets approvals' counters; the page budget
// lives in the enrolment's own row, which cannot be deleted without
// unenrolling. An older copy of that row written back passes its MAC: a
// Verifier refuses a state that went back from what it saw itself (so
// serve's, behind the page, refuses the page's budget restored; see
// seenState), but a fresh process cannot tell, and rolling the whole
// database back before serve starts is not detected here.
//
// Every failure and every success is audited ("totp_failed" with a reason,
// "totp_accepted" with the step; both with the channel and the approval).
// Verify fails closed: a store or audit error, an unset clock, a missing
// enrolment, a missing key or an unknown channel is a refusal.
//
// pquerna/otp takes the secret as a Go string, so each verification makes a
// short-lived copy of the base32 secret that cannot be wiped; the long-lived
// keys (the Verifier's) are secret.Bytes, wiped by Wipe.
package totp

import (
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

	"github.com/walletmcp/walletmcp/internal/secret"
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
	// DefaultMaxFailures is how many wrong codes lock one approval's link.
	DefaultMaxFailures = 5
	// DefaultLockFor is how long an approval's link stays locked.
	DefaultLockFor = 15 * time.Minute
	// DefaultPageMaxFailures is the approval page's budget of wrong codes
	// per PageWindow, over all approvals.
	DefaultPageMaxFailures = 10
	// DefaultPageWindow is the window the page's budget counts in.
	DefaultPageWindow = 15 * time.Minute
	// DefaultPageLockFor is how long the page first refuses every code once
	// its budget is spent.
	DefaultPageLockFor = time.Hour
	// MaxPageLockFor caps the doubling of the page's lock.
	MaxPageLockFor = 24 * time.Hour
	// DefaultIssuer names the service in authenticator apps.
	DefaultIssuer = "walletmcp"
)

// Errors returned by Verify and Check. Their messages never contain the code
// or the secret.
var (
	ErrWrongCode   = errors.New("totp: wrong code")
	ErrReplay      = errors.New("totp: code already used")
	ErrLocked      = errors.New("totp: locked after too many wrong codes")
	ErrMalformed   = errors.New("totp: a code is exactly 6 digits")
	ErrNotEnrolled = errors.New("totp: not enrolled (run `walletmcp totp enroll`)")
	// ErrStateInvalid is a stored TOTP state whose MAC does not verify:
	// changed outside walletmcp, or written before states were
	// authenticated. Every code is refused until a re-enrolment.
	ErrStateInvalid = errors.New("totp: the stored TOTP state does not verify; re-enrol with `walletmcp totp enroll`")
)

// ErrSealed is returned by Open when the blob does not open under the key:
// another home's key, or a blob that was changed.
var ErrSealed = errors.New("totp: the sealed secret does not open (wrong key or tampered state)")

// LockedError is the refusal while an approval's link, or the whole approval
// page, accepts no code. It matches ErrLocked.
type LockedError struct {
	// Until is when codes are accepted again.
	Until time.Time
	// Page is true when the whole approval page is locked, false when only
	// the link of ApprovalID is.
	Page bool
	// ApprovalID is the approval the refused code was for.
	ApprovalID string
}

// Error implements error.
func (e *LockedError) Error() string {
	what := "this approval's link"
	if e.Page {
		what = "the approval page"
	}
	return ErrLocked.Error() + ": " + what + " accepts no code until " + e.Until.UTC().Format(time.RFC3339)
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// FailedError is a code that was refused and counted: Err is ErrWrongCode,
// ErrMalformed or ErrReplay. It matches Err, and ErrLocked when this failure
// locked a scope.
type FailedError struct {
	// Err is why the code was refused.
	Err error
	// Left is how many more wrong codes the page takes before a lock (the
	// smaller of the approval's and the page's), or -1 where failures are
	// not counted (the terminal).
	Left int
	// Lock is the lock this failure caused, or nil.
	Lock *LockedError
}

// Error implements error.
func (e *FailedError) Error() string {
	switch {
	case e.Lock != nil:
		return e.Err.Error() + "; " + e.Lock.Error()
	case e.Left >= 0:
		return fmt.Sprintf("%s; %d tries left", e.Err, e.Left)
	}
	return e.Err.Error()
}

// Unwrap returns Err and the lock, if any.
func (e *FailedError) Unwrap() []error {
	if e.Lock != nil {
		return []error{e.Err, e.Lock}
	}
	return []error{e.Err}
}

// Options configures NewSecret and Verifiers. A nil *Options means all
// defaults; a zero field means its default.
type Options struct {
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxFailures is how many wrong codes for one approval on the page lock
	// that approval's link. Default 5.
	MaxFailures int
	// LockFor is how long an approval's link is locked. Default 15 minutes.
	LockFor time.Duration
	// PageMaxFailures is the page's budget of wrong codes per PageWindow,
	// over all approvals. Default 10.
	PageMaxFailures int
	// PageWindow is the window PageMaxFailures counts in. Default 15 minutes.
	PageWindow time.Duration
	// PageLockFor is how long the page first refuses every code once its
	// budget is spent; it doubles with each further page lockout (up to
	// MaxPageLockFor) until a code is accepted. Default 1 hour.
	PageLockFor time.Duration
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
	if r.PageMaxFailures <= 0 {
		r.PageMaxFailures = DefaultPageMaxFailures
	}
	if r.PageWindow <= 0 {
		r.PageWindow = DefaultPageWindow
	}
	if r.PageLockFor <= 0 {
		r.PageLockFor = DefaultPageLockFor
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
