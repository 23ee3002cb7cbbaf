package chain

import (
	"context"
	"math"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// RPC's reads ask the node for its head (eth_blockNumber) every time, so an
// answer is never from a block older than the node's head at the call, and
// then read at that block number: a balance or a side-effect-free call
// already read at that block is answered from the cache (one round trip
// instead of two); a new head drops the cache. A read whose context is
// marked AtPushedHead, on a websocket node whose heads RPC follows, is read
// at the pushed head instead (no round trip when already kept).

// head asks the node for its latest block number and moves the cache to it.
func (c *RPC) head(ctx context.Context) (uint64, error) {
	n, err := c.c.BlockNumber(ctx)
	if err != nil {
		return 0, c.fail("eth_blockNumber", err)
	}
	if n > math.MaxInt64 {
		return 0, implausible("latest block number %d is out of range", n)
	}
	c.heads.confirm(n)
	return n, nil
}

// readHead returns the block a read is made at and the cache epoch its
// answer must find to be kept: the pushed head for a read marked
// AtPushedHead when it can be vouched for, else the node's answer to
// eth_blockNumber now.
func (c *RPC) readHead(ctx context.Context) (n, epoch uint64, err error) {
	if atPushedHead(ctx) {
		if n, ok := c.heads.fresh(); ok {
			return n, c.cache.at(n), nil
		}
	}
	if n, err = c.head(ctx); err != nil {
		return 0, 0, err
	}
	return n, c.cache.at(n), nil
}

// Balance returns addr's balance at the node's latest block and that
// block's number: eth_blockNumber (or the pushed head, see AtPushedHead),
// then eth_getBalance at that number unless addr was read at the same block
// before.
func (c *RPC) Balance(ctx context.Context, addr common.Address) (*big.Int, uint64, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	n, ep, err := c.readHead(ctx)
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
	c.cache.putBalanceIn(ep, n, addr, wei)
	return wei, n, nil
}

// Call executes msg at the node's latest block (or the pushed head, see
// AtPushedHead); a call that depends only on the block is answered from the
// cache when made at that block before.
func (c *RPC) Call(ctx context.Context, msg ethereum.CallMsg) ([]byte, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	n, ep, err := c.readHead(ctx)
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
		c.cache.putCallIn(ep, n, key, out)
	}
	return out, nil
}

// Receipt returns the receipt of a mined transaction (see Chain). Its block
// is known to exist: a later read at the pushed head reads at it or later,
// so that a transfer seen mined is seen in a balance too.
func (c *RPC) Receipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	r, err := c.conn.Receipt(ctx, hash)
	if err == nil {
		c.heads.raise(r.BlockNumber.Uint64())
	}
	return r, err
}

// TxStatus reports a transaction's status (see Chain); a mined one's block
// is kept as Receipt does.
func (c *RPC) TxStatus(ctx context.Context, hash common.Hash) (TxStatus, error) {
	st, err := c.conn.TxStatus(ctx, hash)
	if err == nil && st.BlockNumber > 0 {
		c.heads.raise(st.BlockNumber)
	}
	return st, err
}
