package web

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// csrfTTL is how long a rendered form stays usable.
const csrfTTL = 10 * time.Minute

// csrfPerID bounds the outstanding CSRF tokens of one approval id: a page
// loaded once more drops that id's oldest token, never another id's, so
// that loading one link in a loop (the agent holds its own approvals'
// links) cannot expire the form the human has open for another.
const csrfPerID = 8

// csrfMax bounds the number of outstanding CSRF tokens in all (a backstop
// far above csrfPerID times the pending approvals a home allows); when
// full, the oldest is dropped.
const csrfMax = 16384

// A CSRF token is "<handle>.<secret>": the handle (8 random bytes, hex) finds
// the entry, the secret (32 random bytes, base64url) is compared in constant
// time. The handle alone is worthless.
const (
	csrfHandleLen = 8
	csrfSecretLen = 32
)

type csrfEntry struct {
	id      string
	secret  []byte
	expires time.Time
	seq     uint64
}

// csrfStore holds the outstanding CSRF tokens. Each is bound to one approval
// id, expires after csrfTTL and is removed the first time it is presented.
type csrfStore struct {
	rand io.Reader
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]*csrfEntry
	seq     uint64
}

func newCSRFStore(rand io.Reader, now func() time.Time) *csrfStore {
	return &csrfStore{rand: rand, now: now, entries: make(map[string]*csrfEntry)}
}

// issue returns a fresh token for approval id.
func (c *csrfStore) issue(id string) (string, error) {
	var b [csrfHandleLen + csrfSecretLen]byte
	if _, err := io.ReadFull(c.rand, b[:]); err != nil {
		return "", fmt.Errorf("web: csrf token: %w", err)
	}
	handle := hex.EncodeToString(b[:csrfHandleLen])
	secret := append([]byte(nil), b[csrfHandleLen:]...)
	now := c.now()

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.entries[handle]; dup {
		return "", fmt.Errorf("web: csrf token: random source repeated itself")
	}
	c.pruneLocked(now, id)
	c.seq++
	c.entries[handle] = &csrfEntry{id: id, secret: secret, expires: now.Add(csrfTTL), seq: c.seq}
	return handle + "." + base64.RawURLEncoding.EncodeToString(secret), nil
}

// take checks token for approval id and consumes it: a token found by its
// handle is removed whatever the outcome, so it can be presented only once.
func (c *csrfStore) take(id, token string) bool {
	handle, enc, ok := strings.Cut(token, ".")
	if !ok || len(handle) != 2*csrfHandleLen || len(enc) > 64 {
		return false
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil || len(secret) != csrfSecretLen {
		return false
	}
	now := c.now()

	c.mu.Lock()
	e, found := c.entries[handle]
	if found {
		delete(c.entries, handle)
	}
	c.mu.Unlock()
	if !found {
		return false
	}
	okSecret := subtle.ConstantTimeCompare(secret, e.secret) == 1
	okID := subtle.ConstantTimeCompare([]byte(id), []byte(e.id)) == 1
	return okSecret && okID && now.Before(e.expires)
}

// pruneLocked drops expired entries, then the oldest of id's when id holds
// csrfPerID, then, if the store is still full, the oldest one.
func (c *csrfStore) pruneLocked(now time.Time, id string) {
	mine, oldestMine := 0, ""
	for h, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, h)
			continue
		}
		if e.id == id {
			mine++
			if oldestMine == "" || e.seq < c.entries[oldestMine].seq {
				oldestMine = h
			}
		}
	}
	if mine >= csrfPerID {
		delete(c.entries, oldestMine)
	}
	for len(c.entries) >= csrfMax {
		var oldest string
		var seq uint64
		for h, e := range c.entries {
			if oldest == "" || e.seq < seq {
				oldest, seq = h, e.seq
			}
		}
		delete(c.entries, oldest)
	}
}

// len reports the number of outstanding tokens (for tests).
func (c *csrfStore) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
