package wallet

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/google/uuid"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// Errors returned by Keystore. Callers branch on them with errors.Is.
var (
	// ErrWrongPassphrase is returned when a passphrase does not decrypt a key file.
	ErrWrongPassphrase = errors.New("wallet: wrong passphrase")
	// ErrNoKey is returned by Unlock when no key file holds the address.
	ErrNoKey = errors.New("wallet: no key for address")
	// ErrExists is returned when importing a key whose address already has a key file.
	ErrExists = errors.New("wallet: key already exists")
	// ErrAmbiguous is returned by Unlock when several key files claim the address.
	ErrAmbiguous = errors.New("wallet: several key files for one address")
	// ErrInvalidKey is returned for a private key that is not 64 hex digits
	// (ImportHex) or not a valid secp256k1 scalar.
	ErrInvalidKey = errors.New("wallet: invalid private key")
	// ErrEmptyPassphrase is returned when a key would be written under an
	// empty passphrase.
	ErrEmptyPassphrase = errors.New("wallet: empty passphrase")
)

// KeystoreOptions configures a Keystore. A nil *KeystoreOptions means all
// defaults.
type KeystoreOptions struct {
	// ScryptN is scrypt's cost parameter N for files this keystore writes, a
	// power of two. Zero means keystore.StandardScryptN (2^18, 256 MiB, about
	// a second).
	ScryptN int
	// ScryptP is scrypt's parallelisation parameter p for files this keystore
	// writes. Zero means keystore.StandardScryptP (1).
	ScryptP int
	// Rand is the source of new private keys. Nil means crypto/rand.Reader.
	// (Salts, IVs, key ids and sealing keys always come from crypto/rand.)
	Rand io.Reader
	// Now gives the creation time written into new file names. Nil means
	// time.Now.
	Now func() time.Time
}

// LightKeystoreOptions returns options with go-ethereum's light scrypt
// parameters (N=2^12, p=6: 4 MiB, a few milliseconds). For tests only: a
// file written with them is easy to brute-force.
func LightKeystoreOptions() *KeystoreOptions {
	return &KeystoreOptions{ScryptN: keystore.LightScryptN, ScryptP: keystore.LightScryptP}
}

// Keystore is a directory of V3 key files, compatible with go-ethereum's
// keystore. It is safe for concurrent use within one process; writes are
// serialised so that the duplicate check and the write are atomic, but two
// processes writing the same directory at once may both add one address.
type Keystore struct {
	dir     string
	scryptN int
	scryptP int
	rand    io.Reader
	now     func() time.Time

	mu sync.Mutex // serialises writes
}

// NewKeystore returns the keystore in dir. Nothing is touched on disk until a
// key is written: dir is then created with mode 0700 and files with 0600.
func NewKeystore(dir string, opts *KeystoreOptions) *Keystore {
	k := &Keystore{
		dir:     dir,
		scryptN: keystore.StandardScryptN,
		scryptP: keystore.StandardScryptP,
		rand:    rand.Reader,
		now:     time.Now,
	}
	if opts != nil {
		if opts.ScryptN != 0 {
			k.scryptN = opts.ScryptN
		}
		if opts.ScryptP != 0 {
			k.scryptP = opts.ScryptP
		}
		if opts.Rand != nil {
			k.rand = opts.Rand
		}
		if opts.Now != nil {
			k.now = opts.Now
		}
	}
	return k
}

// Dir returns the keystore's directory.
func (k *Keystore) Dir() string { return k.dir }

// String describes the keystore by its directory.
func (k *Keystore) String() string { return "wallet.Keystore(" + k.dir + ")" }

// Format implements fmt.Formatter: every verb prints String.
func (k *Keystore) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// maxKeyCandidates bounds New's rejection sampling; reaching it means the
// random source is broken (a working one fails with probability ~2^-2000).
const maxKeyCandidates = 16

// New generates a key, writes it encrypted under pass and returns its
// address. pass must not be empty.
func (k *Keystore) New(pass *secret.Bytes) (common.Address, error) {
	if pass.Len() == 0 {
		return common.Address{}, ErrEmptyPassphrase
	}
	priv := make([]byte, PrivateKeyLength)
	defer secret.Wipe(priv)
	var addr common.Address
	for i := 0; ; i++ {
		if i == maxKeyCandidates {
			return common.Address{}, errors.New("wallet: new key: the random source gives no valid key")
		}
		if _, err := io.ReadFull(k.rand, priv); err != nil {
			return common.Address{}, fmt.Errorf("wallet: new key: read random: %w", err)
		}
		// Rejection sampling: about one candidate in 2^128 is not in [1, n-1].
		a, err := addressOf(priv)
		if err == nil {
			addr = a
			break
		}
	}
	if err := k.store(priv, addr, uuid.UUID{}, pass); err != nil {
		return common.Address{}, err
	}
	return addr, nil
}

// ImportHex imports a raw private key given as 64 hex digits, with an
// optional 0x prefix and surrounding white space, and writes it encrypted
// under pass. It refuses a key whose address already has a file
// (ErrExists). key and pass are not modified; errors never contain either.
func (k *Keystore) ImportHex(key *secret.Bytes, pass *secret.Bytes) (common.Address, error) {
	if pass.Len() == 0 {
		return common.Address{}, ErrEmptyPassphrase
	}
	priv, err := parseHexKey(key.Reveal())
	if err != nil {
		return common.Address{}, err
	}
	defer secret.Wipe(priv)
	addr, err := addressOf(priv)
	if err != nil {
		return common.Address{}, err
	}
	if err := k.store(priv, addr, uuid.UUID{}, pass); err != nil {
		return common.Address{}, err
	}
	return addr, nil
}

// parseHexKey decodes 64 hex digits (optional 0x, surrounding white space)
// into a new 32-byte buffer that the caller wipes. Its error is always
// ErrInvalidKey, which describes the expected shape and quotes nothing.
func parseHexKey(in []byte) ([]byte, error) {
	s := bytes.TrimSpace(in)
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if len(s) != 2*PrivateKeyLength {
		return nil, fmt.Errorf("%w: want 64 hex digits", ErrInvalidKey)
	}
	priv := make([]byte, PrivateKeyLength)
	if _, err := hex.Decode(priv, s); err != nil {
		secret.Wipe(priv)
		return nil, fmt.Errorf("%w: want 64 hex digits", ErrInvalidKey)
	}
	return priv, nil
}

// ImportV3 decrypts a V3 key file (as written by geth, MetaMask, MyCrypto and
// other Web3 Secret Storage tools) with filePass and writes it re-encrypted
// under newPass with this keystore's scrypt parameters, keeping its id. It
// refuses a file whose key does not match its address field
// (ErrKeyMismatch), KDF parameters beyond the package's bounds
// (ErrInvalidKeyFile), and a key that is already present (ErrExists).
func (k *Keystore) ImportV3(keyJSON []byte, filePass, newPass *secret.Bytes) (common.Address, error) {
	if newPass.Len() == 0 {
		return common.Address{}, ErrEmptyPassphrase
	}
	kf, err := parseKeyFile(keyJSON)
	if err != nil {
		return common.Address{}, err
	}
	if kf.hasAddr {
		// Refuse early, before an expensive KDF, when the claimed address is taken.
		if paths, err := k.paths(kf.addr); err != nil {
			return common.Address{}, err
		} else if len(paths) > 0 {
			return common.Address{}, ErrExists
		}
	}
	priv, addr, err := kf.open(filePass)
	if err != nil {
		return common.Address{}, err
	}
	defer secret.Wipe(priv)
	if err := k.store(priv, addr, kf.id, newPass); err != nil {
		return common.Address{}, err
	}
	return addr, nil
}

// store encrypts priv and writes it as a new key file, refusing an address
// that already has one.
func (k *Keystore) store(priv []byte, addr common.Address, id uuid.UUID, pass *secret.Bytes) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	paths, err := k.paths(addr)
	if err != nil {
		return err
	}
	if len(paths) > 0 {
		return ErrExists
	}
	data, err := encryptKeyFile(priv, addr, id, pass, k.scryptN, k.scryptP)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(k.dir, keyFileName(addr, k.now())), data)
}

// keyFileName is geth's naming convention: UTC--<ISO 8601 time>--<address hex>.
func keyFileName(addr common.Address, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("UTC--%04d-%02d-%02dT%02d-%02d-%02d.%09dZ--%s",
		t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(),
		hex.EncodeToString(addr[:]))
}

// writeFileAtomic writes data to a hidden 0600 temporary file next to name,
// syncs it and renames it into place, creating the directory 0700 if needed.
// It refuses to replace an existing file.
func writeFileAtomic(name string, data []byte) (err error) {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("wallet: create keystore directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp")
	if err != nil {
		return fmt.Errorf("wallet: write key file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("wallet: write key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("wallet: write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("wallet: write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wallet: write key file: %w", err)
	}
	if _, err := os.Lstat(name); err == nil {
		return fmt.Errorf("wallet: write key file: %s already exists", filepath.Base(name))
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("wallet: write key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: make the rename durable
		d.Close()
	}
	return nil
}

// Accounts returns the addresses of the key files in the directory, sorted
// and without duplicates. A missing directory has no accounts. Files whose
// names start with "." or end with "~", non-regular files, files larger than
// MaxKeyFileSize and files without a readable address field are skipped, as
// geth does.
func (k *Keystore) Accounts() ([]common.Address, error) {
	files, err := k.scan()
	if err != nil {
		return nil, err
	}
	addrs := make([]common.Address, 0, len(files))
	for _, f := range files {
		addrs = append(addrs, f.addr)
	}
	slices.SortFunc(addrs, func(a, b common.Address) int { return a.Cmp(b) })
	return slices.Compact(addrs), nil
}

type scannedFile struct {
	path string
	addr common.Address
}

// scan lists the key files in the directory with the address each claims.
func (k *Keystore) scan() ([]scannedFile, error) {
	entries, err := os.ReadDir(k.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wallet: read keystore directory: %w", err)
	}
	var out []scannedFile
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(k.dir, name)
		data, err := readBounded(path)
		if err != nil {
			continue
		}
		addr, ok := claimedAddress(data)
		if !ok {
			continue
		}
		out = append(out, scannedFile{path: path, addr: addr})
	}
	return out, nil
}

// claimedAddress returns the non-zero address field of a JSON file, if any.
// Like geth, it looks at nothing else: a key file that Unlock will refuse
// (say, for KDF parameters beyond this package's bounds) is still listed, so
// that its address is not imported a second time and Unlock can say why.
func claimedAddress(data []byte) (common.Address, bool) {
	var j struct {
		Address string `json:"address"`
	}
	if json.Unmarshal(data, &j) != nil {
		return common.Address{}, false
	}
	a, err := parseAddress(j.Address)
	if err != nil || a == (common.Address{}) {
		return common.Address{}, false
	}
	return a, true
}

// paths returns the key files claiming addr.
func (k *Keystore) paths(addr common.Address) ([]string, error) {
	files, err := k.scan()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if f.addr == addr {
			out = append(out, f.path)
		}
	}
	return out, nil
}

// readBounded reads at most MaxKeyFileSize bytes of a file and fails if it is
// longer.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxKeyFileSize {
		return nil, invalidKeyFile("too large")
	}
	return data, nil
}

// Unlock decrypts the key file of addr with pass and returns the key sealed
// in memory (see SealedKey). It fails with ErrNoKey when no file holds addr,
// ErrAmbiguous when several do, ErrWrongPassphrase when pass is wrong, and
// ErrKeyMismatch when the file's key is not addr's. pass is not modified.
func (k *Keystore) Unlock(addr common.Address, pass *secret.Bytes) (*SealedKey, error) {
	paths, err := k.paths(addr)
	if err != nil {
		return nil, err
	}
	switch len(paths) {
	case 0:
		return nil, ErrNoKey
	case 1:
	default:
		return nil, ErrAmbiguous
	}
	data, err := readBounded(paths[0])
	if err != nil {
		return nil, fmt.Errorf("wallet: read key file: %w", err)
	}
	kf, err := parseKeyFile(data)
	if err != nil {
		return nil, err
	}
	priv, got, err := kf.open(pass)
	if err != nil {
		return nil, err
	}
	defer secret.Wipe(priv)
	if got != addr {
		return nil, ErrKeyMismatch
	}
	return seal(addr, priv)
}
