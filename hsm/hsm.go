// Package hsm is a small PKCS#11 client: it loads a module, finds a token by
// its label, logs in once with the user PIN, keeps a pool of sessions,
// generates secp256k1 key pairs inside the token, lists them, reads their
// public points and signs 32-byte digests with raw CKM_ECDSA. It knows
// nothing of Ethereum: addresses, low s and recovery ids are signer/pkcs11's.
//
// The PKCS#11 library is reached through the Module interface; LoadModule
// loads a real one with github.com/miekg/pkcs11, which needs cgo. A build
// without cgo compiles, and LoadModule then fails with ErrNeedsCgo.
//
// # Security model
//
// Private keys are generated on the token with CKA_TOKEN, CKA_PRIVATE,
// CKA_SENSITIVE true and CKA_EXTRACTABLE false: the token refuses to reveal
// them, and this package has no call that would ask. It only ever reads
// public attributes (CKA_ID, CKA_LABEL, CKA_EC_PARAMS, CKA_EC_POINT).
//
// The PIN is tried once at Open: a wrong PIN fails with ErrPINIncorrect and is
// never retried, because a token locks its user PIN after a few wrong tries.
// A PIN that has logged in is kept (in a wipeable secret.Bytes, wiped by
// Close) to log in again if the token forgets the login, for instance after
// every session was closed under the server; if the token then calls it
// wrong, the Token stops using it for good. The PIN never appears in an
// error. miekg/pkcs11 takes the PIN as a Go string: that one copy per login
// cannot be wiped.
//
// A token error while signing fails that signature (no signature is
// returned), closes the session it happened on and forgets the cached key
// handle; the next signature opens a fresh session (logging in again if
// needed) and finds the key again by its CKA_ID, so a key deleted from the
// token fails with ErrKeyNotFound instead of being signed with.
package hsm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// Errors of this package. Callers branch on them with errors.Is; each is
// wrapped with the detail that names the cause (never the PIN).
var (
	// ErrNeedsCgo is returned by LoadModule in a build without cgo.
	ErrNeedsCgo = errors.New("hsm: PKCS#11 needs a walletmcp built with cgo (CGO_ENABLED=1); this build has none")
	// ErrModule is returned when the PKCS#11 module cannot be loaded or initialised.
	ErrModule = errors.New("hsm: cannot load the PKCS#11 module")
	// ErrTokenNotFound is returned when no token has the configured label.
	ErrTokenNotFound = errors.New("hsm: token not found")
	// ErrPINIncorrect is returned when the token refuses the PIN. The PIN is
	// not tried again.
	ErrPINIncorrect = errors.New("hsm: the token refused the PIN (not retried: a token locks after a few wrong PINs)")
	// ErrPINLocked is returned when the token's user PIN is locked.
	ErrPINLocked = errors.New("hsm: the token's user PIN is locked")
	// ErrNoPIN is returned by Open for an empty PIN.
	ErrNoPIN = errors.New("hsm: no PIN given")
	// ErrKeyNotFound is returned when no secp256k1 private key has the id.
	ErrKeyNotFound = errors.New("hsm: key not found on the token")
	// ErrToken is returned for a token error while signing or reading keys;
	// the PKCS#11 return value is wrapped as a Code.
	ErrToken = errors.New("hsm: token error")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("hsm: token closed")
	// ErrLabel is returned by GenerateKey for an empty, long or unprintable label.
	ErrLabel = errors.New("hsm: key label must be 1 to 64 printable characters")
)

// OIDSecp256k1 is the DER encoding of the secp256k1 curve's OID
// (1.3.132.0.10), the CKA_EC_PARAMS of every key this package makes or lists.
var OIDSecp256k1 = []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}

// Config says which module and token to use. A nil *Config is invalid: the
// module path and token label have no defaults.
type Config struct {
	// ModulePath is the file of the PKCS#11 library.
	ModulePath string
	// TokenLabel is the label of the token to use; a token is found by label,
	// never by slot number (slot ids can change).
	TokenLabel string
	// Sessions is the number of sessions kept open, which bounds concurrent
	// signatures. Zero means 4.
	Sessions int
	// Load loads the module. Nil means LoadModule.
	Load func(path string) (Module, error)
	// Rand is the source of key ids. Nil means crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock for ReopenBackoff. Nil means time.Now.
	Now func() time.Time
	// ReopenBackoff is how long a session that could not be reopened waits
	// before it is tried again (signatures on it fail at once meanwhile).
	// Zero means one second.
	ReopenBackoff time.Duration
}

// KeyInfo describes a secp256k1 key pair on the token.
type KeyInfo struct {
	// ID is the key pair's CKA_ID.
	ID []byte
	// Label is the key pair's CKA_LABEL.
	Label string
	// Point is the public key, uncompressed (0x04 ‖ X ‖ Y, 65 bytes), from
	// the public key's CKA_EC_POINT. It is not checked to be on the curve.
	Point []byte
}

// session is one pooled PKCS#11 session; handle 0 means it must be reopened.
type session struct {
	handle  uint
	retryAt time.Time // after a failed reopen: not before then
	lastErr error     // why the last reopen failed
}

// Token is an open, logged-in token. It is safe for concurrent use; at most
// Config.Sessions operations run at once.
type Token struct {
	mod     Module
	slot    uint
	rand    io.Reader
	now     func() time.Time
	backoff time.Duration
	pool    chan *session
	size    int // sessions put in pool

	mu     sync.Mutex // guards pin, closed
	pin    *secret.Bytes
	pinBad bool
	// loginMu makes the pinBad check, C_Login and its verdict one step, so
	// sessions reopening at once never spend more than one try of a bad PIN.
	loginMu sync.Mutex
	closed  bool
	closing chan struct{}
}

// sessionFlags opens the pool's sessions read-only: signing and listing
// need no more, and SoftHSM signs about 20 µs faster in a read-only session
// (BENCHMARKS.md). Key generation opens its own read-write session
// (rwSessionFlags) for the call.
const (
	sessionFlags   = pkcs11.CKF_SERIAL_SESSION
	rwSessionFlags = pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION
)

// Open loads the module, finds the token labelled cfg.TokenLabel, opens
// cfg.Sessions sessions and logs in with pin, once. pin is copied; the
// caller wipes its own copy. Errors wrap ErrModule, ErrTokenNotFound,
// ErrPINIncorrect, ErrPINLocked or ErrNoPIN; on error nothing stays open.
func Open(ctx context.Context, cfg *Config, pin []byte) (*Token, error) {
	if cfg == nil {
		return nil, errors.New("hsm: no configuration")
	}
	if len(pin) == 0 {
		return nil, ErrNoPIN
	}
	if cfg.TokenLabel == "" {
		return nil, fmt.Errorf("%w: no token label configured", ErrTokenNotFound)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := cfg.Sessions
	if n == 0 {
		n = 4
	}
	if n < 0 || n > 1024 {
		return nil, fmt.Errorf("hsm: sessions must be between 1 and 1024, not %d", n)
	}
	load := cfg.Load
	if load == nil {
		load = LoadModule
	}
	mod, err := load(cfg.ModulePath)
	if err != nil {
		return nil, err
	}
	if err := mod.Initialize(); err != nil {
		mod.Destroy()
		return nil, fmt.Errorf("%w: %s: C_Initialize: %w", ErrModule, cfg.ModulePath, err)
	}
	t := &Token{
		mod: mod, rand: cfg.Rand, now: cfg.Now, backoff: cfg.ReopenBackoff,
		pool: make(chan *session, n), closing: make(chan struct{}),
	}
	if t.rand == nil {
		t.rand = rand.Reader
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.backoff == 0 {
		t.backoff = time.Second
	}
	fail := func(err error) (*Token, error) {
		t.shutdown()
		return nil, err
	}
	if t.slot, err = findSlot(mod, cfg.TokenLabel); err != nil {
		return fail(err)
	}
	first, err := mod.OpenSession(t.slot, sessionFlags)
	if err != nil {
		return fail(fmt.Errorf("%w: C_OpenSession: %w", ErrToken, err))
	}
	t.pool <- &session{handle: first}
	t.size++
	if err := login(mod, first, pin, true); err != nil {
		return fail(err)
	}
	t.pin = secret.CopyBytes(pin)
	for range n - 1 {
		h, err := mod.OpenSession(t.slot, sessionFlags)
		if err != nil {
			return fail(fmt.Errorf("%w: C_OpenSession: %w", ErrToken, err))
		}
		t.pool <- &session{handle: h}
		t.size++
	}
	return t, nil
}

// findSlot returns the slot of the one token labelled label.
func findSlot(mod Module, label string) (uint, error) {
	slots, err := mod.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("%w: C_GetSlotList: %w", ErrModule, err)
	}
	var found []uint
	for _, s := range slots {
		ti, err := mod.GetTokenInfo(s)
		if err != nil {
			continue // a slot whose token went away is not ours
		}
		if strings.TrimRight(ti.Label, " \x00") == label {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w: no token labelled %q among %d present", ErrTokenNotFound, label, len(slots))
	case 1:
		return found[0], nil
	default:
		return 0, fmt.Errorf("%w: %d tokens are labelled %q; labels must be unique", ErrTokenNotFound, len(found), label)
	}
}

// login logs the user in on session unless the token says the application
// already is (force skips that question); already logged in is success.
func login(mod Module, s uint, pin []byte, force bool) error {
	if !force {
		st, err := mod.GetSessionState(s)
		if err != nil {
			return fmt.Errorf("%w: C_GetSessionInfo: %w", ErrToken, err)
		}
		if st == pkcs11.CKS_RW_USER_FUNCTIONS || st == pkcs11.CKS_RO_USER_FUNCTIONS {
			return nil
		}
	}
	err := mod.Login(s, pkcs11.CKU_USER, pin)
	if err == nil {
		return nil
	}
	switch c, _ := codeOf(err); c {
	case pkcs11.CKR_USER_ALREADY_LOGGED_IN:
		return nil
	case pkcs11.CKR_PIN_INCORRECT:
		return ErrPINIncorrect
	case pkcs11.CKR_PIN_LOCKED:
		return ErrPINLocked
	}
	return fmt.Errorf("%w: C_Login: %w", ErrToken, err)
}

// Close closes every session, finalises and unloads the module, and wipes
// the PIN. It waits for operations in progress. It is idempotent.
func (t *Token) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.closing)
	t.mu.Unlock()
	t.shutdown()
	return nil
}

// shutdown takes back every session (waiting for operations in progress),
// closes them, unloads the module and wipes the PIN.
func (t *Token) shutdown() {
	for range t.size {
		s := <-t.pool
		if s.handle != 0 {
			_ = t.mod.CloseSession(s.handle)
		}
	}
	_ = t.mod.Finalize()
	t.mod.Destroy()
	t.mu.Lock()
	t.pin.Wipe()
	t.mu.Unlock()
}
