package wallet

import (
	"fmt"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// UnlockKeyFile decrypts the one V3 key file at path (at most
// MaxKeyFileSize bytes) with pass and returns its key sealed in memory (see
// SealedKey), for a tool handed a single file rather than a keystore
// directory (airsign). The plaintext key is wiped before it returns. It
// fails with ErrInvalidKeyFile, ErrWrongPassphrase, or ErrKeyMismatch when
// the file's address field names another key. pass is not modified.
func UnlockKeyFile(path string, pass *secret.Bytes) (*SealedKey, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("wallet: read key file: %w", err)
	}
	kf, err := parseKeyFile(data)
	if err != nil {
		return nil, err
	}
	priv, addr, err := kf.open(pass)
	if err != nil {
		return nil, err
	}
	defer secret.Wipe(priv)
	return seal(addr, priv)
}
