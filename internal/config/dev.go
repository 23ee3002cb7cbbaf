package config

import (
	"encoding/hex"
	"fmt"
	"io"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// devPassphraseBytes is the entropy of a dev home's passphrase (192 bits).
const devPassphraseBytes = 24

// NewDevPassphrase returns a random passphrase for a dev home (throwaway
// funds only: it is kept in the home, in DevPasswordFile): 24 bytes read
// from rand, hex-encoded. The caller wipes it.
func NewDevPassphrase(rand io.Reader) (*secret.Bytes, error) {
	raw := make([]byte, devPassphraseBytes)
	defer secret.Wipe(raw)
	if _, err := io.ReadFull(rand, raw); err != nil {
		return nil, fmt.Errorf("config: dev passphrase: %w", err)
	}
	pw := make([]byte, hex.EncodedLen(len(raw)))
	hex.Encode(pw, raw)
	return secret.NewBytes(pw), nil
}

// WriteDevPassphrase keeps pass in the home's DevPasswordFile (mode 0600),
// where the commands on a dev home find it.
func (h *Home) WriteDevPassphrase(pass *secret.Bytes) error {
	if err := h.EnsureDir(); err != nil {
		return err
	}
	line := append(append([]byte{}, pass.Reveal()...), '\n')
	defer secret.Wipe(line)
	return WriteFileAtomic(h.Path(DevPasswordFile), line)
}
