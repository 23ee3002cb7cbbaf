package config

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"unicode/utf8"

	"golang.org/x/crypto/scrypt"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// KDF parameters of the home passphrase.
const (
	standardN = 1 << 18
	lightN    = 1 << 12
	kdfR      = 8
	kdfP      = 1
	keyLen    = 32
)

type homeFile struct {
	Version int    `json:"version"`
	Salt    string `json:"salt"`
	N       int    `json:"n"`
	R       int    `json:"r"`
	P       int    `json:"p"`
	Check   string `json:"check"`
}

// MinPassphraseLen is the fewest characters a new home passphrase may have.
const MinPassphraseLen = 10

// ErrShortPassphrase refuses a new home passphrase shorter than
// MinPassphraseLen characters.
var ErrShortPassphrase = fmt.Errorf("config: the home passphrase must have at least %d characters", MinPassphraseLen)

// CheckNewPassphrase refuses a passphrase for a new home that is empty or
// shorter than MinPassphraseLen characters (runes of its UTF-8 text).
func CheckNewPassphrase(pass *secret.Bytes) error {
	if pass.Len() == 0 {
		return secret.ErrEmpty
	}
	if utf8.RuneCount(pass.Reveal()) < MinPassphraseLen {
		return ErrShortPassphrase
	}
	return nil
}

// MasterKey is the scrypt output of the home passphrase. It never leaves
// memory and is wiped by Wipe.
type MasterKey struct {
	k *secret.Bytes
	// light: the verified home.json it was derived from has the light
	// scrypt parameters.
	light bool
}

// Light reports whether the home this key unlocked uses the light scrypt
// parameters (init --light-kdf): read from the home.json the passphrase was
// checked against, not from the file again.
func (m *MasterKey) Light() bool { return m != nil && m.light }

// Wipe zeroes the key.
func (m *MasterKey) Wipe() {
	if m != nil {
		m.k.Wipe()
	}
}

// The Derive purposes (subkey labels) of the keys derived from the home
// passphrase. Each names one use; a label is never reused for another.
const (
	// StateKeyPurpose is the Derive purpose of the key that authenticates the
	// state database (store.Options.Key): approvals, decisions, the ledger.
	StateKeyPurpose = "state-mac"
	// AuditKeyPurpose is the Derive purpose of the key of the audit log's
	// head file MAC: without it, records cut off the end of the log cannot be
	// hidden by rewriting the head. Every command that writes the log holds it.
	AuditKeyPurpose = "audit-head"
	// TOTPKeyPurpose is the Derive purpose of the key that seals the TOTP
	// secret.
	TOTPKeyPurpose = "totp"
)

// Derive returns a 32-byte subkey for purpose (HKDF-SHA256). The caller wipes it.
func (m *MasterKey) Derive(purpose string) (*secret.Bytes, error) {
	k, err := hkdf.Key(sha256.New, m.k.Reveal(), nil, "walletmcp/"+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("config: derive key: %w", err)
	}
	return secret.NewBytes(k), nil
}

func (m *MasterKey) check() []byte {
	mac := hmac.New(sha256.New, m.k.Reveal())
	mac.Write([]byte("walletmcp home passphrase check v1"))
	return mac.Sum(nil)
}

// Init creates the home and its passphrase verifier (home.json). light selects
// cheap scrypt parameters (tests and dev homes only). It refuses an existing
// home and a passphrase that CheckNewPassphrase refuses.
func (h *Home) Init(pass *secret.Bytes, light bool) (*MasterKey, error) {
	if err := CheckNewPassphrase(pass); err != nil {
		return nil, err
	}
	if err := h.EnsureDir(); err != nil {
		return nil, err
	}
	if h.Initialised() {
		return nil, fmt.Errorf("%w: %s", ErrHomeExists, h.Dir)
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("config: random: %w", err)
	}
	n := standardN
	if light {
		n = lightN
	}
	mk, err := deriveMaster(pass, salt, n, kdfR, kdfP)
	if err != nil {
		return nil, err
	}
	f := homeFile{Version: 1, Salt: hex.EncodeToString(salt), N: n, R: kdfR, P: kdfP, Check: hex.EncodeToString(mk.check())}
	if err := h.writeJSON(HomeFile, f); err != nil {
		mk.Wipe()
		return nil, err
	}
	return mk, nil
}

// Unlock checks pass against home.json and returns the master key.
func (h *Home) Unlock(pass *secret.Bytes) (*MasterKey, error) {
	if err := h.Require(); err != nil {
		return nil, err
	}
	var f homeFile
	if err := h.readJSON(HomeFile, &f); err != nil {
		return nil, err
	}
	salt, err := hex.DecodeString(f.Salt)
	if err != nil || len(salt) < 16 {
		return nil, fmt.Errorf("config: %s: bad salt", HomeFile)
	}
	want, err := hex.DecodeString(f.Check)
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("config: %s: bad check value", HomeFile)
	}
	if f.N < lightN || f.N > 1<<22 || f.R < 1 || f.R > 32 || f.P < 1 || f.P > 16 {
		return nil, fmt.Errorf("config: %s: scrypt parameters out of range", HomeFile)
	}
	mk, err := deriveMaster(pass, salt, f.N, f.R, f.P)
	if err != nil {
		return nil, err
	}
	if !secret.Equal(mk.check(), want) {
		mk.Wipe()
		return nil, ErrPassphrase
	}
	return mk, nil
}

func deriveMaster(pass *secret.Bytes, salt []byte, n, r, p int) (*MasterKey, error) {
	k, err := scrypt.Key(pass.Reveal(), salt, n, r, p, keyLen)
	if err != nil {
		return nil, fmt.Errorf("config: scrypt: %w", err)
	}
	return &MasterKey{k: secret.NewBytes(k), light: n <= lightN}, nil
}

// ReadPassphrase returns the passphrase from file if set, else from
// $WALLETMCP_PASSWORD_FILE, else an error naming both.
func ReadPassphrase(file string) (*secret.Bytes, error) {
	if file == "" {
		file = os.Getenv("WALLETMCP_PASSWORD_FILE")
	}
	if file == "" {
		return nil, fmt.Errorf("config: no passphrase source: use --password-file or WALLETMCP_PASSWORD_FILE, or run in a terminal")
	}
	return secret.ReadFile(file)
}
