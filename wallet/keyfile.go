package wallet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/google/uuid"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// MaxKeyFileSize is the largest key file read, in bytes. Real V3 files are
// under 1 KiB.
const MaxKeyFileSize = 64 << 10

// Bounds on the KDF parameters of a key file, checked before any derivation
// runs. geth's standard parameters (scrypt N=2^18, r=8, p=1: 256 MiB) and the
// Web3 Secret Storage test vectors fit with room to spare.
const (
	// MaxScryptMemory bounds scrypt's memory, 128·N·r bytes (512 MiB).
	MaxScryptMemory = 512 << 20
	// MaxScryptWork bounds scrypt's work, N·r·p (4× geth's standard).
	MaxScryptWork = 1 << 23
	// MaxPBKDF2Iterations bounds the PBKDF2 iteration count c.
	MaxPBKDF2Iterations = 1 << 22
)

// ErrInvalidKeyFile is returned for a key file that is not a well-formed V3
// file within this package's bounds. Errors wrapping it say which part is
// wrong, never what it contained.
var ErrInvalidKeyFile = errors.New("wallet: invalid key file")

// ErrKeyMismatch is returned when a key file decrypts to a key whose address
// is not the one the file (or its name) claims.
var ErrKeyMismatch = errors.New("wallet: key file content does not match its address")

// keyFileJSON is the envelope of a V3 key file. The crypto object is
// go-ethereum's.
type keyFileJSON struct {
	Address string              `json:"address"`
	Crypto  keystore.CryptoJSON `json:"crypto"`
	ID      string              `json:"id"`
	Version json.RawMessage     `json:"version"`
}

// keyFile is a parsed and bounds-checked V3 key file.
type keyFile struct {
	addr    common.Address // zero when the file has no address field
	hasAddr bool
	id      uuid.UUID // zero when the file's id is absent or invalid
	crypto  keystore.CryptoJSON
}

func invalidKeyFile(what string) error {
	return fmt.Errorf("%w: %s", ErrInvalidKeyFile, what)
}

// parseKeyFile parses a V3 key file and checks its parameters against the
// package's bounds. Its errors describe the defect without quoting the input.
func parseKeyFile(data []byte) (*keyFile, error) {
	if len(data) > MaxKeyFileSize {
		return nil, invalidKeyFile("too large")
	}
	var j keyFileJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, invalidKeyFile("not a JSON key file")
	}
	if string(bytes.TrimSpace(j.Version)) != "3" {
		return nil, invalidKeyFile("unsupported version (want 3)")
	}
	kf := &keyFile{crypto: j.Crypto}
	if j.Address != "" {
		a, err := parseAddress(j.Address)
		if err != nil {
			return nil, invalidKeyFile("bad address field")
		}
		kf.addr, kf.hasAddr = a, true
	}
	if id, err := uuid.Parse(j.ID); err == nil {
		kf.id = id
	}
	if err := checkCrypto(&kf.crypto, PrivateKeyLength); err != nil {
		return nil, err
	}
	return kf, nil
}

// parseAddress parses 40 hex digits with an optional 0x prefix.
func parseAddress(s string) (common.Address, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	var a common.Address
	if len(s) != 2*common.AddressLength {
		return a, errors.New("bad address")
	}
	if _, err := hex.Decode(a[:], []byte(s)); err != nil {
		return a, errors.New("bad address")
	}
	return a, nil
}

func checkHex(s string, n int, what string) error {
	if len(s) != 2*n {
		return invalidKeyFile(what + " has the wrong length")
	}
	if _, err := hex.DecodeString(s); err != nil {
		return invalidKeyFile(what + " is not hex")
	}
	return nil
}

// checkCrypto validates the crypto object, whose plaintext is n bytes, so
// that go-ethereum's decryption, which type-asserts without checking and
// slices the derived key, can neither panic nor run an unbounded KDF.
func checkCrypto(c *keystore.CryptoJSON, n int) error {
	if c.Cipher != "aes-128-ctr" {
		return invalidKeyFile("unsupported cipher")
	}
	if err := checkHex(c.CipherText, n, "ciphertext"); err != nil {
		return err
	}
	if err := checkHex(c.CipherParams.IV, 16, "iv"); err != nil {
		return err
	}
	if err := checkHex(c.MAC, 32, "mac"); err != nil {
		return err
	}
	p := c.KDFParams
	salt, ok := p["salt"].(string)
	if !ok || len(salt) == 0 || len(salt) > 1024 || len(salt)%2 != 0 {
		return invalidKeyFile("bad kdf salt")
	}
	if _, err := hex.DecodeString(salt); err != nil {
		return invalidKeyFile("bad kdf salt")
	}
	if dk, ok := intParam(p, "dklen"); !ok || dk != 32 {
		return invalidKeyFile("unsupported kdf dklen (want 32)")
	}
	switch c.KDF {
	case "scrypt":
		n, okN := intParam(p, "n")
		r, okR := intParam(p, "r")
		pp, okP := intParam(p, "p")
		if !okN || !okR || !okP || n < 2 || n&(n-1) != 0 || r < 1 || pp < 1 {
			return invalidKeyFile("bad scrypt parameters")
		}
		if n > MaxScryptMemory/128/r {
			return invalidKeyFile("scrypt memory above the limit")
		}
		if n*r > MaxScryptWork/pp {
			return invalidKeyFile("scrypt work above the limit")
		}
	case "pbkdf2":
		iter, ok := intParam(p, "c")
		if !ok || iter < 1 || iter > MaxPBKDF2Iterations {
			return invalidKeyFile("bad pbkdf2 iteration count")
		}
		if prf, _ := p["prf"].(string); prf != "hmac-sha256" {
			return invalidKeyFile("unsupported pbkdf2 prf")
		}
	default:
		return invalidKeyFile("unsupported kdf")
	}
	return nil
}

// intParam returns p[name] if it is a JSON number holding an integer in
// [0, 2^31).
func intParam(p map[string]any, name string) (int, bool) {
	f, ok := p[name].(float64)
	if !ok || f < 0 || f >= 1<<31 || f != math.Trunc(f) {
		return 0, false
	}
	return int(f), true
}

// decrypt derives the key file's key from pass and returns the 32-byte
// private key, which the caller must wipe. A wrong passphrase is
// ErrWrongPassphrase.
//
// go-ethereum's DecryptDataV3 takes the passphrase as a string: the one
// conversion below makes an immutable copy that cannot be wiped (see the
// package's security model). Any panic inside go-ethereum is turned into
// ErrInvalidKeyFile.
func (kf *keyFile) decrypt(pass *secret.Bytes) (priv []byte, err error) {
	defer func() {
		if recover() != nil {
			secret.Wipe(priv)
			priv, err = nil, invalidKeyFile("cannot decrypt")
		}
	}()
	plain, err := keystore.DecryptDataV3(kf.crypto, string(pass.Reveal()))
	if errors.Is(err, keystore.ErrDecrypt) {
		return nil, ErrWrongPassphrase
	}
	if err != nil {
		return nil, invalidKeyFile("cannot decrypt")
	}
	if len(plain) != PrivateKeyLength {
		secret.Wipe(plain)
		return nil, invalidKeyFile("key has the wrong length")
	}
	return plain, nil
}

// open decrypts kf with pass and checks the key against the file's address.
// It returns the private key (the caller wipes it) and its address.
func (kf *keyFile) open(pass *secret.Bytes) ([]byte, common.Address, error) {
	priv, err := kf.decrypt(pass)
	if err != nil {
		return nil, common.Address{}, err
	}
	addr, err := addressOf(priv)
	if err != nil {
		secret.Wipe(priv)
		return nil, common.Address{}, invalidKeyFile("not a valid secp256k1 key")
	}
	if kf.hasAddr && addr != kf.addr {
		secret.Wipe(priv)
		return nil, common.Address{}, ErrKeyMismatch
	}
	return priv, addr, nil
}

// encryptKeyFile encrypts priv under pass with go-ethereum's EncryptDataV3
// and returns the V3 file, in the field order geth writes. id is a fresh
// random UUID when zero.
func encryptKeyFile(priv []byte, addr common.Address, id uuid.UUID, pass *secret.Bytes, scryptN, scryptP int) ([]byte, error) {
	if id == (uuid.UUID{}) {
		var err error
		if id, err = uuid.NewRandom(); err != nil {
			return nil, fmt.Errorf("wallet: key id: %w", err)
		}
	}
	c, err := keystore.EncryptDataV3(priv, pass.Reveal(), scryptN, scryptP)
	if err != nil {
		return nil, errors.New("wallet: encrypt: bad scrypt parameters")
	}
	return json.Marshal(struct {
		Address string              `json:"address"`
		Crypto  keystore.CryptoJSON `json:"crypto"`
		ID      string              `json:"id"`
		Version int                 `json:"version"`
	}{hex.EncodeToString(addr[:]), c, id.String(), 3})
}
