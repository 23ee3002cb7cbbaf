package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"unicode"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/fslock"
)

// Backends an account can have.
const (
	BackendKeystore = "keystore"
	BackendHD       = "hd"
	BackendHSM      = "hsm"
	BackendOffline  = "offline"
)

// MaxLabelLen bounds an account label.
const MaxLabelLen = 64

// Account is one entry of the account registry (accounts.json).
type Account struct {
	// Address is the account's address.
	Address common.Address `json:"address"`
	// Label is a short human name; empty is allowed.
	Label string `json:"label"`
	// Backend is where the key lives: keystore, hd, hsm or offline.
	Backend string `json:"backend"`
	// DerivationPath is the BIP-44 path for hd accounts, and the path an
	// offline account's sign requests carry ("" for offline: m/44'/60'/0'/0/0).
	DerivationPath string `json:"derivation_path,omitempty"`
	// XFP is an offline account's master key fingerprint (8 lowercase hex
	// digits), "" when unknown.
	XFP string `json:"xfp,omitempty"`
}

type accountsFile struct {
	Version  int       `json:"version"`
	Accounts []Account `json:"accounts"`
}

// ValidateLabel checks that a label is short printable text.
func ValidateLabel(label string) error {
	if len(label) > MaxLabelLen {
		return fmt.Errorf("config: label: at most %d bytes", MaxLabelLen)
	}
	for _, r := range label {
		if !unicode.IsPrint(r) {
			return errors.New("config: label: only printable characters are allowed")
		}
	}
	return nil
}

// Accounts returns the registry sorted by address; a missing file is empty.
func (h *Home) Accounts() ([]Account, error) {
	var f accountsFile
	if err := h.readJSON(AccountsFile, &f); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	sort.Slice(f.Accounts, func(i, j int) bool {
		return strings.ToLower(f.Accounts[i].Address.Hex()) < strings.ToLower(f.Accounts[j].Address.Hex())
	})
	return f.Accounts, nil
}

// AddAccount appends a to the registry; an address already present is refused.
func (h *Home) AddAccount(a Account) error {
	if err := ValidateLabel(a.Label); err != nil {
		return err
	}
	switch a.Backend {
	case BackendKeystore, BackendHD, BackendHSM, BackendOffline:
	default:
		return fmt.Errorf("config: unknown backend %q", a.Backend)
	}
	// The read-modify-write holds the registry's lock, so that two
	// processes adding accounts at once do not lose one of them.
	return fslock.WithLock(h.Path(accountsLockFile), func() error {
		accts, err := h.Accounts()
		if err != nil {
			return err
		}
		for _, x := range accts {
			if x.Address == a.Address {
				return fmt.Errorf("config: account %s already exists", a.Address.Hex())
			}
		}
		accts = append(accts, a)
		return h.writeJSON(AccountsFile, accountsFile{Version: 1, Accounts: accts})
	})
}

// accountsLockFile is the lock file of the account registry's writers.
const accountsLockFile = ".accounts.lock"
