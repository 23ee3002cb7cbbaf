package wallet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// PrivateKeyLength is the length in bytes of a secp256k1 private key.
const PrivateKeyLength = 32

// ErrDestroyed is returned by Open on a SealedKey after Destroy.
var ErrDestroyed = errors.New("wallet: key destroyed")

// SealedKey is one secp256k1 private key held encrypted in memory
// (AES-256-GCM under a random key of its own), opened only for the duration
// of an Open callback. See the package's security model.
//
// The sealing is defence in depth, like memguard's Enclave: it keeps the
// plaintext out of memory between signatures, but the sealing key is in the
// same process, so it cannot stop an attacker who reads all of its memory.
//
// A SealedKey is safe for concurrent use: any number of Open calls may run at
// once; Destroy waits for them to finish.
type SealedKey struct {
	addr common.Address

	mu    sync.RWMutex
	key   []byte // AES-256 sealing key from crypto/rand; nil after Destroy
	nonce []byte
	box   []byte // AES-256-GCM(key, nonce, private key, additional data = addr)
}

// SealKey seals a copy of the 32-byte private key priv and returns it with
// its address. priv is not modified or retained: the caller still owns and
// wipes it. It fails if priv is not a valid secp256k1 scalar (0 < d < n).
func SealKey(priv []byte) (*SealedKey, error) {
	addr, err := addressOf(priv)
	if err != nil {
		return nil, err
	}
	return seal(addr, priv)
}

// addressOf checks that priv is a 32-byte secp256k1 scalar in [1, n-1] and
// returns its address. The error never contains priv.
func addressOf(priv []byte) (common.Address, error) {
	if len(priv) != PrivateKeyLength {
		return common.Address{}, ErrInvalidKey
	}
	k, err := crypto.ToECDSA(priv)
	if err != nil {
		return common.Address{}, ErrInvalidKey
	}
	addr := crypto.PubkeyToAddress(k.PublicKey)
	//lint:ignore SA1019 go-ethereum's secp256k1 keys hold their scalar in D; crypto/ecdsa's replacements cover only NIST curves.
	wipeBig(k.D)
	return addr, nil
}

// seal encrypts a copy of priv under a fresh random key. The caller has
// checked that priv belongs to addr.
func seal(addr common.Address, priv []byte) (*SealedKey, error) {
	key := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("wallet: seal: read random: %w", err)
	}
	gcm, err := newGCM(key)
	if err != nil {
		secret.Wipe(key)
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		secret.Wipe(key)
		return nil, fmt.Errorf("wallet: seal: read random: %w", err)
	}
	box := gcm.Seal(make([]byte, 0, len(priv)+gcm.Overhead()), nonce, priv, addr[:])
	return &SealedKey{addr: addr, key: key, nonce: nonce, box: box}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wallet: seal: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("wallet: seal: %w", err)
	}
	return gcm, nil
}

// Address returns the address of the sealed key. It stays valid after
// Destroy.
func (s *SealedKey) Address() common.Address { return s.addr }

// Open unseals the 32-byte private key into a fresh buffer, calls fn with it
// and wipes the buffer when fn returns or panics. fn must not retain priv or
// any slice of it, and must not call s.Destroy (that would deadlock). Open
// returns fn's error, or ErrDestroyed after Destroy.
func (s *SealedKey) Open(fn func(priv []byte) error) error {
	if s == nil {
		return ErrDestroyed
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.key == nil {
		return ErrDestroyed
	}
	gcm, err := newGCM(s.key)
	if err != nil {
		return err
	}
	buf := make([]byte, PrivateKeyLength)
	defer secret.Wipe(buf)
	priv, err := gcm.Open(buf[:0], s.nonce, s.box, s.addr[:])
	if err != nil {
		return errors.New("wallet: sealed key is corrupt")
	}
	defer secret.Wipe(priv) // the same memory as buf unless Open reallocated
	return fn(priv)
}

// Destroy wipes the sealing key and the sealed private key. It waits for
// running Open calls, is idempotent, and makes later Open calls fail with
// ErrDestroyed.
func (s *SealedKey) Destroy() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	secret.Wipe(s.key)
	secret.Wipe(s.nonce)
	secret.Wipe(s.box)
	s.key, s.nonce, s.box = nil, nil, nil
}

// String describes the key by its address only.
func (s *SealedKey) String() string {
	if s == nil {
		return "wallet.SealedKey(nil)"
	}
	return "wallet.SealedKey(" + s.addr.Hex() + ")"
}

// Format implements fmt.Formatter so that every verb, %#v and %x included,
// prints String and never the sealed bytes.
func (s *SealedKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer: the key logs as its address.
func (s *SealedKey) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("nil")
	}
	return slog.StringValue(s.addr.Hex())
}

// wipeBig zeroes the words of x and sets it to zero.
func wipeBig(x *big.Int) {
	if x == nil {
		return
	}
	clear(x.Bits())
	x.SetInt64(0)
}
