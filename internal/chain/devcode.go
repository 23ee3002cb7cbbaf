package chain

import (
	"bytes"
	"sync"

	"github.com/ethereum/go-ethereum/common"
)

// codeCache keeps the code read at one state (the head's root), as
// blockCache keeps balances: a transfer reads its recipient's code every
// time, and opening the head's state for it cost more than the read. An
// entry is returned only for the state it was read at; a new head drops
// every entry, so an answer never outlives its block. At most
// maxCachedPerBlock entries are kept.
type codeCache struct {
	mu    sync.Mutex
	root  common.Hash
	codes map[common.Address][]byte
}

// get returns a copy of addr's code at the state root, if kept.
func (c *codeCache) get(root common.Hash, addr common.Address) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil || c.root != root {
		return nil, false
	}
	code, ok := c.codes[addr]
	return bytes.Clone(code), ok
}

// put keeps addr's code read at the state root, dropping the entries of
// another state.
func (c *codeCache) put(root common.Hash, addr common.Address, code []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil || c.root != root {
		c.root, c.codes = root, make(map[common.Address][]byte)
	}
	if len(c.codes) < maxCachedPerBlock {
		c.codes[addr] = bytes.Clone(code)
	}
}
