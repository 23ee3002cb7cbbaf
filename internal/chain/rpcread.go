package chain

import (
	"context"
	"math"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
)

// RPC's reads ask the node for its head (eth_blockNumber) every time, so an
// answer is never from a block older than the node's head at the call, and
// then read at that block number: a balance or a side-effect-free call
// already read at that block is answered from the cache (one round trip
// instead of two); a new head drops the cache.

// head asks the node for its latest block number and moves the cache to it.
func (c *RPC) head(ctx context.Context) (uint64, error) {
	n, err := c.c.BlockNumber(ctx)
	if err != nil {
		return 0, c.fail("eth_blockNumber", err)
	}
	if n > math.MaxInt64 {
		return 0, implausible("latest block number %d is out of range", n)
	}
	c.cache.advance(n)
	return n, nil
}

// Balance returns addr's balance at the node's latest block and that
// block's number: eth_blockNumber, then eth_getBalance at that number unless
// addr was read at the same block before.
func (c *RPC) Balance(ctx context.Context, addr common.Address) (*big.Int, uint64, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	n, err := c.head(ctx)
	if err != nil {
		return nil, 0, err
	}
	if wei, hit := c.cache.balance(n, addr); hit {
		return wei, n, nil
	}
	wei, err := c.c.BalanceAt(ctx, addr, new(big.Int).SetUint64(n))
	if err != nil {
		return nil, 0, c.fail("eth_getBalance", err)
	}
	if wei == nil {
		return nil, 0, implausible("node returned no balance")
	}
	if wei.Sign() < 0 {
		return nil, 0, implausible("negative balance %s", wei)
	}
	c.cache.putBalance(n, addr, wei)
	return wei, n, nil
}

// Call executes msg at the node's latest block; a call that depends only on
// the block is answered from the cache when made at that block before.
func (c *RPC) Call(ctx context.Context, msg ethereum.CallMsg) ([]byte, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	n, err := c.head(ctx)
	if err != nil {
		return nil, err
	}
	key, cacheable := cacheableCall(msg)
	if cacheable {
		if out, hit := c.cache.call(n, key); hit {
			return out, nil
		}
	}
	out, err := c.c.CallContract(ctx, msg, new(big.Int).SetUint64(n))
	if err != nil {
		return nil, c.fail("eth_call", err)
	}
	if cacheable {
		c.cache.putCall(n, key, out)
	}
	return out, nil
}
