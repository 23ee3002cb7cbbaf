package approval

import (
	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/signer"
)

// KeyMap is a Keyring over a fixed set of signers.
type KeyMap map[common.Address]signer.Signer

// Signer returns the signer of addr.
func (k KeyMap) Signer(addr common.Address) (signer.Signer, bool) {
	s, ok := k[addr]
	return s, ok
}
