package wallet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/google/uuid"

	"github.com/walletmcp/walletmcp/internal/fslock"
	"github.com/walletmcp/walletmcp/internal/secret"
)

// Errors of the seed vault.
var (
	// ErrNoHDWallet is returned when no wallet in the vault has the label
	// asked for, or when the vault is empty.
	ErrNoHDWallet = errors.New("wallet: no such hd wallet")
	// ErrHDWalletAmbiguous is returned when no label is given and the vault
	// holds several wallets.
	ErrHDWalletAmbiguous = errors.New("wallet: several hd wallets: name one by its label")
)

// HDWallet is the public description of one encrypted seed in an HDVault:
// nothing in it is secret.
type HDWallet struct {
	// ID is the wallet's random UUID; its file is <ID>.json.
	ID string
	// Label is the wallet's name, unique in the vault.
	Label string
	// Address0 is the address of m/44'/60'/0'/0/0, used to recognise the
	// same seed imported twice.
	Address0 common.Address

	path string
}

// hdFile is the JSON form of a vault file. The crypto object is a Web3
// Secret Storage (V3) one, encrypting the 64-byte seed.
type hdFile struct {
	Version  int                 `json:"version"`
	ID       string              `json:"id"`
	Label    string              `json:"label"`
	Address0 string              `json:"address0"`
	Crypto   keystore.CryptoJSON `json:"crypto"`
}

// hdFileVersion is the version of the vault file format.
const hdFileVersion = 1

// HDVault is a directory of encrypted BIP-39 seeds, one file per wallet
// (<id>.json, 0600, in a 0700 directory), each encrypted like a V3 key file:
// scrypt with the home passphrase, AES-128-CTR, Keccak-256 MAC. The mnemonic
// is never stored. It is safe for concurrent use in one process.
type HDVault struct {
	dir     string
	scryptN int
	scryptP int

	mu sync.Mutex // serialises writes
}

// NewHDVault returns the vault in dir, with the scrypt parameters of opts
// (nil: go-ethereum's standard ones). Nothing is written until Create.
func NewHDVault(dir string, opts *KeystoreOptions) *HDVault {
	k := NewKeystore(dir, opts)
	return &HDVault{dir: dir, scryptN: k.scryptN, scryptP: k.scryptP}
}

// Dir returns the vault's directory.
func (v *HDVault) Dir() string { return v.dir }

// Create encrypts the 64-byte seed under pass and writes it as a new wallet
// called label, with address0, the address of m/44'/60'/0'/0/0 of the seed,
// which the caller derives (package wallet/hd: hd.CreateWallet). It refuses
// an empty passphrase, a label already used, and a seed already in the vault
// (ErrExists, recognised by address0). seed and pass are not modified or
// retained.
func (v *HDVault) Create(label string, seed *secret.Bytes, address0 common.Address, pass *secret.Bytes) (*HDWallet, error) {
	if pass.Len() == 0 {
		return nil, ErrEmptyPassphrase
	}
	if label == "" || len(label) > 64 || strings.ContainsAny(label, "/\\") || strings.IndexFunc(label, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return nil, errors.New("wallet: hd wallet label must be 1 to 64 printable bytes without slashes")
	}
	if seed.Len() != SeedLength {
		return nil, errors.New("wallet: hd: the seed must be 64 bytes")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	// The uniqueness check and the write hold the vault's file lock, so
	// that two processes cannot create two wallets with one label or seed.
	var w *HDWallet
	err := fslock.WithLock(filepath.Join(filepath.Dir(v.dir), hdLockFile), func() error {
		var err error
		w, err = v.create(label, seed, address0, pass)
		return err
	})
	return w, err
}

// hdLockFile, beside the vault's directory, is the lock of its creators.
const hdLockFile = ".hd.lock"

// create is Create under the locks.
func (v *HDVault) create(label string, seed *secret.Bytes, address0 common.Address, pass *secret.Bytes) (*HDWallet, error) {
	ws, err := v.Wallets()
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if w.Label == label {
			return nil, fmt.Errorf("wallet: an hd wallet is already labelled %q", label)
		}
		if w.Address0 == address0 {
			return nil, fmt.Errorf("%w: this seed is already the hd wallet %q", ErrExists, w.Label)
		}
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, fmt.Errorf("wallet: hd wallet id: %w", err)
	}
	c, err := keystore.EncryptDataV3(seed.Reveal(), pass.Reveal(), v.scryptN, v.scryptP)
	if err != nil {
		return nil, errors.New("wallet: encrypt: bad scrypt parameters")
	}
	data, err := json.MarshalIndent(hdFile{
		Version: hdFileVersion, ID: id.String(), Label: label,
		Address0: address0.Hex(), Crypto: c,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(v.dir, id.String()+".json")
	if err := writeFileAtomic(path, data); err != nil {
		return nil, err
	}
	return &HDWallet{ID: id.String(), Label: label, Address0: address0, path: path}, nil
}

// Wallets lists the vault's wallets sorted by label. A missing directory is
// an empty vault; a file that is not a well-formed vault file is an error
// (ErrInvalidKeyFile), so that a damaged wallet is noticed.
func (v *HDVault) Wallets() ([]*HDWallet, error) {
	entries, err := os.ReadDir(v.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wallet: read hd directory: %w", err)
	}
	var out []*HDWallet
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(v.dir, name)
		f, err := readHDFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, name)
		}
		a, _ := parseAddress(f.Address0)
		out = append(out, &HDWallet{ID: f.ID, Label: f.Label, Address0: a, path: path})
	}
	slices.SortFunc(out, func(a, b *HDWallet) int { return strings.Compare(a.Label, b.Label) })
	return out, nil
}

// Find returns the wallet labelled label, or with label "" the only wallet.
func (v *HDVault) Find(label string) (*HDWallet, error) {
	ws, err := v.Wallets()
	if err != nil {
		return nil, err
	}
	if label == "" {
		switch len(ws) {
		case 0:
			return nil, ErrNoHDWallet
		case 1:
			return ws[0], nil
		}
		return nil, ErrHDWalletAmbiguous
	}
	for _, w := range ws {
		if w.Label == label {
			return w, nil
		}
	}
	return nil, ErrNoHDWallet
}

// OpenSeed decrypts w's seed with pass; the caller wipes it. A wrong
// passphrase is ErrWrongPassphrase. It does not derive anything: hd.OpenSeed
// also checks the seed against w's first address.
//
// Like Keystore.Unlock, it hands the passphrase to go-ethereum's
// DecryptDataV3 as a Go string (see the package's security model).
func (v *HDVault) OpenSeed(w *HDWallet, pass *secret.Bytes) (seed *secret.Bytes, err error) {
	f, err := readHDFile(w.path)
	if err != nil {
		return nil, err
	}
	var plain []byte
	defer func() {
		if recover() != nil {
			secret.Wipe(plain)
			seed, err = nil, invalidKeyFile("cannot decrypt")
		}
	}()
	plain, err = keystore.DecryptDataV3(f.Crypto, string(pass.Reveal()))
	if errors.Is(err, keystore.ErrDecrypt) {
		return nil, ErrWrongPassphrase
	}
	if err != nil {
		return nil, invalidKeyFile("cannot decrypt")
	}
	s := secret.NewBytes(plain)
	if s.Len() != SeedLength {
		s.Wipe()
		return nil, invalidKeyFile("seed has the wrong length")
	}
	return s, nil
}

// readHDFile reads and checks one vault file.
func readHDFile(path string) (*hdFile, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, invalidKeyFile("unreadable hd wallet file")
	}
	var f hdFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, invalidKeyFile("not a JSON hd wallet file")
	}
	if f.Version != hdFileVersion {
		return nil, invalidKeyFile("unsupported hd wallet file version")
	}
	if _, err := uuid.Parse(f.ID); err != nil || f.Label == "" || len(f.Label) > 64 {
		return nil, invalidKeyFile("bad hd wallet id or label")
	}
	if _, err := parseAddress(f.Address0); err != nil {
		return nil, invalidKeyFile("bad address0")
	}
	if err := checkCrypto(&f.Crypto, SeedLength); err != nil {
		return nil, err
	}
	return &f, nil
}

// String describes the wallet by its label and first address.
func (w *HDWallet) String() string {
	return "wallet.HDWallet(" + w.Label + " " + w.Address0.Hex() + ")"
}
