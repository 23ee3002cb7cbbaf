package chain

import (
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
)

// Bounds of a blockCache: a hostile agent may read as many addresses and
// tokens as it likes within one block; what it can make the cache hold is
// bounded.
const (
	// maxCachedPerBlock bounds the balances and call results kept for one
	// block; reads beyond it are answered but not kept.
	maxCachedPerBlock = 4096
	// maxCachedCallData bounds the calldata of a call whose result is kept.
	maxCachedCallData = 256
	// maxCachedCallResult bounds the size of a call result that is kept.
	maxCachedCallResult = 1024
)

// blockCache keeps balance reads, eth_call results and (on Dev) contract
// code of one block, keyed
// by that block's number: an entry is returned only for the block it was
// read at, and moving to another block (advance) drops every entry. So an
// answer never outlives its block; a caller that knows the head reads
// at most once per block and address.
type blockCache struct {
	mu    sync.Mutex
	block uint64
	// epoch counts the times the entries were dropped: a read started
	// before a drop (reset for a new head at the same number, after a
	// reorganisation) is not kept after it (putBalanceIn, putCallIn).
	epoch    uint64
	balances map[common.Address]*big.Int
	calls    map[callKey][]byte
	codes    map[common.Address][]byte
}

// callKey identifies an eth_call whose result depends only on the block:
// no value, no gas price fields.
type callKey struct {
	from common.Address
	to   common.Address
	gas  uint64
	data string
}

// cacheableCall returns msg's key when its result may be kept for a block.
func cacheableCall(msg ethereum.CallMsg) (callKey, bool) {
	if msg.To == nil || len(msg.Data) > maxCachedCallData || (msg.Value != nil && msg.Value.Sign() != 0) ||
		msg.GasPrice != nil || msg.GasFeeCap != nil || msg.GasTipCap != nil ||
		len(msg.AccessList) > 0 || len(msg.BlobHashes) > 0 || msg.BlobGasFeeCap != nil || len(msg.AuthorizationList) > 0 {
		return callKey{}, false
	}
	return callKey{from: msg.From, to: *msg.To, gas: msg.Gas, data: string(msg.Data)}, true
}

// advance moves the cache to block n, dropping every entry of another block.
// It reports whether the block changed.
func (c *blockCache) advance(n uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.advanceLocked(n)
}

func (c *blockCache) advanceLocked(n uint64) bool {
	if n == c.block && c.balances != nil {
		return false
	}
	c.dropLocked(n)
	return true
}

func (c *blockCache) dropLocked(n uint64) {
	c.block = n
	c.epoch++
	c.balances = make(map[common.Address]*big.Int)
	c.calls = make(map[callKey][]byte)
	c.codes = make(map[common.Address][]byte)
}

// reset moves the cache to block n and drops every entry, even when n is
// its block already: a pushed head at the same number is another block.
func (c *blockCache) reset(n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(n)
}

// at moves the cache to block n like advance and returns the epoch that a
// read at n must still find when its answer is kept (putBalanceIn,
// putCallIn).
func (c *blockCache) at(n uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(n)
	return c.epoch
}

// balance returns a copy of addr's balance read at block n, if kept.
func (c *blockCache) balance(n uint64, addr common.Address) (*big.Int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.balances == nil || c.block != n {
		return nil, false
	}
	b, ok := c.balances[addr]
	if !ok {
		return nil, false
	}
	return new(big.Int).Set(b), true
}

// putBalance keeps addr's balance read at block n, unless the cache has
// moved to another block (a newer one: the read is already old).
func (c *blockCache) putBalance(n uint64, addr common.Address, wei *big.Int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putBalanceLocked(n, addr, wei)
}

// putBalanceIn keeps addr's balance read at block n unless the entries were
// dropped since epoch ep.
func (c *blockCache) putBalanceIn(ep, n uint64, addr common.Address, wei *big.Int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch == ep {
		c.putBalanceLocked(n, addr, wei)
	}
}

func (c *blockCache) putBalanceLocked(n uint64, addr common.Address, wei *big.Int) {
	if c.balances == nil || c.block != n || len(c.balances) >= maxCachedPerBlock {
		return
	}
	c.balances[addr] = new(big.Int).Set(wei)
}

// call returns a copy of a call's result at block n, if kept.
func (c *blockCache) call(n uint64, k callKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil || c.block != n {
		return nil, false
	}
	out, ok := c.calls[k]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), out...), true
}

// putCall keeps a call's result at block n, as putBalance.
func (c *blockCache) putCall(n uint64, k callKey, out []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putCallLocked(n, k, out)
}

// putCallIn keeps a call's result at block n unless the entries were
// dropped since epoch ep.
func (c *blockCache) putCallIn(ep, n uint64, k callKey, out []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch == ep {
		c.putCallLocked(n, k, out)
	}
}

func (c *blockCache) putCallLocked(n uint64, k callKey, out []byte) {
	if c.calls == nil || c.block != n || len(c.calls) >= maxCachedPerBlock || len(out) > maxCachedCallResult {
		return
	}
	c.calls[k] = append([]byte(nil), out...)
}

// code returns a copy of addr's code read at block n, if kept.
func (c *blockCache) code(n uint64, addr common.Address) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil || c.block != n {
		return nil, false
	}
	code, ok := c.codes[addr]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), code...), true
}

// putCode keeps addr's code read at block n, as putBalance.
func (c *blockCache) putCode(n uint64, addr common.Address, code []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil || c.block != n || len(c.codes) >= maxCachedPerBlock {
		return
	}
	c.codes[addr] = append([]byte(nil), code...)
}
