package hsm

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/miekg/pkcs11"
)

// acquire takes a session from the pool, reopening it if a token error
// closed it.
func (t *Token) acquire(ctx context.Context) (*session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var s *session
	select {
	case <-t.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	case s = <-t.pool:
	}
	select {
	case <-t.closing:
		t.pool <- s
		return nil, ErrClosed
	default:
	}
	if s.handle == 0 {
		if err := t.reopen(s); err != nil {
			t.pool <- s
			return nil, err
		}
	}
	return s, nil
}

// reopen opens a new session for s and logs in again if the token forgot the
// login. A PIN the token refuses is never tried again.
func (t *Token) reopen(s *session) error {
	t.loginMu.Lock()
	defer t.loginMu.Unlock()
	t.mu.Lock()
	bad := t.pinBad
	t.mu.Unlock()
	if bad {
		return ErrPINIncorrect
	}
	if now := t.now(); now.Before(s.retryAt) {
		return fmt.Errorf("%w: no session: reopening failed %v ago (%v); next try in %v",
			ErrToken, t.backoff-s.retryAt.Sub(now), s.lastErr, s.retryAt.Sub(now))
	}
	h, err := t.mod.OpenSession(t.slot, sessionFlags)
	if err != nil {
		s.retryAt, s.lastErr = t.now().Add(t.backoff), err
		return fmt.Errorf("%w: reopening a session: C_OpenSession: %w", ErrToken, err)
	}
	// The PIN is only wiped by shutdown, which waits for this session.
	if err := login(t.mod, h, t.pin.Reveal(), false); err != nil {
		_ = t.mod.CloseSession(h)
		s.retryAt, s.lastErr = t.now().Add(t.backoff), err
		if errors.Is(err, ErrPINIncorrect) || errors.Is(err, ErrPINLocked) {
			t.mu.Lock()
			t.pinBad = true
			t.mu.Unlock()
		}
		return err
	}
	s.handle, s.retryAt, s.lastErr = h, time.Time{}, nil
	return nil
}

// withSession runs fn on a pooled session. If fn fails with a PKCS#11
// error, the session is closed and reopened on its next use.
func (t *Token) withSession(ctx context.Context, fn func(h uint) error) error {
	s, err := t.acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { t.pool <- s }()
	err = fn(s.handle)
	if _, isCode := codeOf(err); isCode {
		_ = t.mod.CloseSession(s.handle)
		s.handle = 0
	}
	return err
}

// find returns up to max handles of objects matching template.
func (t *Token) find(h uint, template []Attribute, max int) ([]uint, error) {
	if err := t.mod.FindObjectsInit(h, template); err != nil {
		return nil, fmt.Errorf("%w: C_FindObjectsInit: %w", ErrToken, err)
	}
	objs, _, err := t.mod.FindObjects(h, max)
	if ferr := t.mod.FindObjectsFinal(h); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: C_FindObjects: %w", ErrToken, err)
	}
	return objs, nil
}

// keyTemplate matches secp256k1 EC keys of class (CKO_PUBLIC_KEY or
// CKO_PRIVATE_KEY), with the CKA_ID id when id is not nil.
func keyTemplate(class uint, id []byte) []Attribute {
	a := []Attribute{
		{pkcs11.CKA_CLASS, class},
		{pkcs11.CKA_KEY_TYPE, uint(pkcs11.CKK_EC)},
		{pkcs11.CKA_EC_PARAMS, OIDSecp256k1},
	}
	if id != nil {
		a = append(a, Attribute{pkcs11.CKA_ID, id})
	}
	return a
}

// maxKeys bounds how many keys one listing reads.
const maxKeys = 1000

// Keys lists the token's secp256k1 key pairs (a public key with CKA_ID,
// CKA_LABEL and CKA_EC_POINT, and a private key with the same CKA_ID),
// sorted by label then id.
func (t *Token) Keys(ctx context.Context) ([]KeyInfo, error) {
	var out []KeyInfo
	err := t.withSession(ctx, func(h uint) error {
		pubs, err := t.find(h, keyTemplate(pkcs11.CKO_PUBLIC_KEY, nil), maxKeys)
		if err != nil {
			return err
		}
		for _, o := range pubs {
			ki, err := t.readPublic(h, o)
			if err != nil {
				return err
			}
			privs, err := t.find(h, keyTemplate(pkcs11.CKO_PRIVATE_KEY, ki.ID), 2)
			if err != nil {
				return err
			}
			if len(privs) == 1 {
				out = append(out, ki)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b KeyInfo) int {
		if c := strings.Compare(a.Label, b.Label); c != 0 {
			return c
		}
		return bytes.Compare(a.ID, b.ID)
	})
	return out, nil
}

// readPublic reads the id, label and point of the public key object o.
func (t *Token) readPublic(h, o uint) (KeyInfo, error) {
	v, err := t.mod.GetAttributeValue(h, o, []uint{pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_EC_POINT})
	if err != nil {
		return KeyInfo{}, fmt.Errorf("%w: C_GetAttributeValue: %w", ErrToken, err)
	}
	pt, err := parsePoint(v[2])
	if err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{ID: bytes.Clone(v[0]), Label: string(v[1]), Point: pt}, nil
}

// parsePoint returns the uncompressed point in a CKA_EC_POINT: a DER OCTET
// STRING as PKCS#11 specifies, or the raw 65 bytes some tokens return.
func parsePoint(v []byte) ([]byte, error) {
	if len(v) == 65 && v[0] == 0x04 {
		return bytes.Clone(v), nil
	}
	var pt []byte
	rest, err := asn1.Unmarshal(v, &pt)
	if err != nil || len(rest) != 0 || len(pt) != 65 || pt[0] != 0x04 {
		return nil, fmt.Errorf("%w: CKA_EC_POINT is not an uncompressed secp256k1 point", ErrToken)
	}
	return pt, nil
}

// ValidateLabel checks a key label: 1 to 64 printable characters.
func ValidateLabel(label string) error {
	if label == "" || len(label) > 64 {
		return ErrLabel
	}
	for _, r := range label {
		if !unicode.IsPrint(r) {
			return ErrLabel
		}
	}
	return nil
}

// GenerateKey generates a secp256k1 key pair on the token (CKM_EC_KEY_PAIR_GEN)
// labelled label, with a random 16-byte CKA_ID. The private key has
// CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE and CKA_SIGN true and CKA_EXTRACTABLE
// false; the public key has CKA_TOKEN and CKA_VERIFY true.
func (t *Token) GenerateKey(ctx context.Context, label string) (KeyInfo, error) {
	if err := ValidateLabel(label); err != nil {
		return KeyInfo{}, err
	}
	id := make([]byte, 16)
	if _, err := io.ReadFull(t.rand, id); err != nil {
		return KeyInfo{}, fmt.Errorf("hsm: key id: %w", err)
	}
	var ki KeyInfo
	// A pooled session bounds the calls in flight and carries the login; a
	// token object is created in a read-write session, opened for this
	// call (the login is the application's, so it applies to it too).
	err := t.withSession(ctx, func(uint) error {
		h, err := t.mod.OpenSession(t.slot, rwSessionFlags)
		if err != nil {
			return fmt.Errorf("%w: C_OpenSession (read-write): %w", ErrToken, err)
		}
		defer func() { _ = t.mod.CloseSession(h) }()
		pub := []Attribute{
			{pkcs11.CKA_CLASS, uint(pkcs11.CKO_PUBLIC_KEY)},
			{pkcs11.CKA_KEY_TYPE, uint(pkcs11.CKK_EC)},
			{pkcs11.CKA_TOKEN, true},
			{pkcs11.CKA_PRIVATE, false},
			{pkcs11.CKA_VERIFY, true},
			{pkcs11.CKA_EC_PARAMS, OIDSecp256k1},
			{pkcs11.CKA_ID, id},
			{pkcs11.CKA_LABEL, label},
		}
		priv := []Attribute{
			{pkcs11.CKA_CLASS, uint(pkcs11.CKO_PRIVATE_KEY)},
			{pkcs11.CKA_KEY_TYPE, uint(pkcs11.CKK_EC)},
			{pkcs11.CKA_TOKEN, true},
			{pkcs11.CKA_PRIVATE, true},
			{pkcs11.CKA_SENSITIVE, true},
			{pkcs11.CKA_EXTRACTABLE, false},
			{pkcs11.CKA_SIGN, true},
			{pkcs11.CKA_ID, id},
			{pkcs11.CKA_LABEL, label},
		}
		po, _, err := t.mod.GenerateKeyPair(h, pkcs11.CKM_EC_KEY_PAIR_GEN, pub, priv)
		if err != nil {
			return fmt.Errorf("%w: C_GenerateKeyPair: %w", ErrToken, err)
		}
		ki, err = t.readPublic(h, po)
		return err
	})
	return ki, err
}

// Key finds the secp256k1 key pair whose CKA_ID is id. It fails with
// ErrKeyNotFound unless exactly one private and one public key have it.
func (t *Token) Key(ctx context.Context, id []byte) (*Key, error) {
	if len(id) == 0 {
		return nil, fmt.Errorf("%w: empty id", ErrKeyNotFound)
	}
	k := &Key{t: t}
	err := t.withSession(ctx, func(h uint) error {
		pubs, err := t.find(h, keyTemplate(pkcs11.CKO_PUBLIC_KEY, id), 2)
		if err != nil {
			return err
		}
		if len(pubs) != 1 {
			return fmt.Errorf("%w: %d public keys have id %x", ErrKeyNotFound, len(pubs), id)
		}
		if k.info, err = t.readPublic(h, pubs[0]); err != nil {
			return err
		}
		k.handle, err = k.findPrivate(h)
		return err
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Key is a secp256k1 private key on an open Token. It is safe for concurrent use.
type Key struct {
	t    *Token
	info KeyInfo

	mu     sync.Mutex
	handle uint // private key object; 0 after a token error: find it again
}

// Info returns the key's id, label and public point.
func (k *Key) Info() KeyInfo {
	return KeyInfo{ID: bytes.Clone(k.info.ID), Label: k.info.Label, Point: bytes.Clone(k.info.Point)}
}

// findPrivate finds the one private key with the key's id.
func (k *Key) findPrivate(h uint) (uint, error) {
	privs, err := k.t.find(h, keyTemplate(pkcs11.CKO_PRIVATE_KEY, k.info.ID), 2)
	if err != nil {
		return 0, err
	}
	if len(privs) != 1 {
		return 0, fmt.Errorf("%w: %d private keys have id %x", ErrKeyNotFound, len(privs), k.info.ID)
	}
	return privs[0], nil
}

// Sign signs the 32-byte digest with CKM_ECDSA and returns the token's
// signature, r ‖ s (64 bytes). Its s may be high; nothing is normalised.
// Errors wrap ErrToken (with the Code), ErrKeyNotFound, ErrPINIncorrect,
// ErrClosed or ctx.Err(); on error no signature is returned.
func (k *Key) Sign(ctx context.Context, digest []byte) ([]byte, error) {
	if len(digest) != 32 {
		return nil, errors.New("hsm: digest must be 32 bytes")
	}
	var sig []byte
	err := k.t.withSession(ctx, func(h uint) error {
		k.mu.Lock()
		obj := k.handle
		k.mu.Unlock()
		if obj == 0 {
			var err error
			if obj, err = k.findPrivate(h); err != nil {
				return err
			}
			k.mu.Lock()
			k.handle = obj
			k.mu.Unlock()
		}
		forget := func() {
			k.mu.Lock()
			if k.handle == obj {
				k.handle = 0
			}
			k.mu.Unlock()
		}
		if err := k.t.mod.SignInit(h, pkcs11.CKM_ECDSA, obj); err != nil {
			forget()
			return fmt.Errorf("%w: C_SignInit: %w", ErrToken, err)
		}
		out, err := k.t.mod.Sign(h, digest)
		if err != nil {
			forget()
			return fmt.Errorf("%w: C_Sign: %w", ErrToken, err)
		}
		if len(out) != 64 {
			return fmt.Errorf("%w: C_Sign returned %d bytes, want 64", ErrToken, len(out))
		}
		sig = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sig, nil
}
