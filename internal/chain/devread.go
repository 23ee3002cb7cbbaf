//go:build !nodev

package chain

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Dev's reads go to the embedded chain directly (its head, its state, its
// pool), not through the in-process JSON-RPC client: no encoding, no
// handler, no header decode per read. Balances and calls are kept per block
// (blockCache) and the head is read on every call, so a read after a new
// block never returns the old block's value.

// errDevClosed is returned by Dev's reads after Close.
var errDevClosed = errors.New("chain: dev: the dev chain is closed")

// head returns the current head and moves the cache to it.
func (d *Dev) head() (*types.Header, error) {
	select {
	case <-d.stop:
		return nil, errDevClosed
	default:
	}
	h := d.chain.CurrentBlock()
	if h == nil || h.Number == nil || !h.Number.IsUint64() {
		return nil, implausible("dev chain has no valid head")
	}
	d.cache.advance(h.Number.Uint64())
	return h, nil
}

// Balance returns addr's balance at the head and the head's number, read
// from the chain's state; a second read within the same block is answered
// from the cache.
func (d *Dev) Balance(ctx context.Context, addr common.Address) (*big.Int, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("chain: balance: %w", err)
	}
	h, err := d.head()
	if err != nil {
		return nil, 0, err
	}
	n := h.Number.Uint64()
	if wei, ok := d.cache.balance(n, addr); ok {
		return wei, n, nil
	}
	st, err := d.chain.StateAt(h.Root, h.Number, h.Time)
	if err != nil {
		return nil, 0, fmt.Errorf("chain: dev: state of block %d: %w", n, err)
	}
	wei := st.GetBalance(addr).ToBig()
	d.cache.putBalance(n, addr, wei)
	return wei, n, nil
}

// Nonce returns the next nonce of addr at the head, from the chain's state.
func (d *Dev) Nonce(ctx context.Context, addr common.Address) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("chain: nonce: %w", err)
	}
	h, err := d.head()
	if err != nil {
		return 0, err
	}
	st, err := d.chain.StateAt(h.Root, h.Number, h.Time)
	if err != nil {
		return 0, fmt.Errorf("chain: dev: state of block %d: %w", h.Number.Uint64(), err)
	}
	return st.GetNonce(addr), nil
}

// PendingNonce returns the next nonce of addr counting the pool's pending
// transactions, from the pool (what eth_getTransactionCount "pending"
// answers).
func (d *Dev) PendingNonce(ctx context.Context, addr common.Address) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("chain: pending nonce: %w", err)
	}
	if _, err := d.head(); err != nil {
		return 0, err
	}
	return d.pool.PoolNonce(addr), nil
}

// Call executes msg against the head block, on its state directly
// (devClient.CallContract, as eth_call does). A call that depends only on the
// block (balanceOf, decimals...) is answered from the cache when it was made
// at the same head before.
func (d *Dev) Call(ctx context.Context, msg ethereum.CallMsg) ([]byte, error) {
	h, err := d.head()
	if err != nil {
		return nil, err
	}
	n := h.Number.Uint64()
	key, ok := cacheableCall(msg)
	if ok {
		if out, hit := d.cache.call(n, key); hit {
			return out, nil
		}
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	out, err := d.c.CallContract(ctx, msg, h.Number)
	if err != nil {
		return nil, d.fail("eth_call", err)
	}
	if ok {
		d.cache.putCall(n, key, out)
	}
	return out, nil
}
