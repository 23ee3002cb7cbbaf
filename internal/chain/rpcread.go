package chain

import (
	"context"
	"math"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// headWatch is what an RPC knows of the node's head: the highest block
// number seen, when the node last told it, and the balances and calls read
// at that block.
type headWatch struct {
	maxAge time.Duration    // a head told longer ago than this is not used
	now    func() time.Time // the clock; time.Now

	mu    sync.Mutex
	block uint64
	at    time.Time // when the node last answered eth_blockNumber; zero: never
	cache blockCache
}

// told records the node's answer to eth_blockNumber. The head only moves
// forward: a lagging answer (a load-balanced endpoint) keeps the higher
// block, whose reads then fail or wait rather than go back in time.
func (w *headWatch) told(n uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at = w.now()
	if n >= w.block {
		w.block = n
		w.cache.advance(n)
	}
}

// saw records that block n exists (a receipt in it): the head is at least n.
func (w *headWatch) saw(n uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n > w.block {
		w.block = n
		w.cache.advance(n)
	}
}

// head returns the head to read at, and false when the node has not told
// it recently enough.
func (w *headWatch) head() (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at.IsZero() || w.now().Sub(w.at) > w.maxAge {
		return 0, false
	}
	return w.block, true
}

// pollHeads asks the node for its head every interval until Close.
func (c *RPC) pollHeads(interval time.Duration) {
	defer close(c.pollDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.stopPoll:
			return
		case <-t.C:
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-c.stopPoll:
					cancel()
				case <-ctx.Done():
				}
			}()
			c.pollHead(ctx)
			cancel()
		}
	}
}

// pollHead asks the node for its head once; a failure leaves the head to
// age (reads then ask for the block number themselves).
func (c *RPC) pollHead(ctx context.Context) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if n, err := c.c.BlockNumber(ctx); err == nil && n <= math.MaxInt64 {
		c.heads.told(n)
	}
}

// Balance returns addr's balance at the latest block the node told and that
// block's number: one eth_getBalance at that number, or none when addr was
// read at the same block before. Without a recent head it asks for the
// block number first (conn.Balance) and learns the head from the answer.
func (c *RPC) Balance(ctx context.Context, addr common.Address) (*big.Int, uint64, error) {
	n, ok := c.heads.head()
	if !ok {
		wei, n, err := c.conn.Balance(ctx, addr)
		if err != nil {
			return nil, 0, err
		}
		c.heads.told(n)
		c.heads.cache.putBalance(n, addr, wei)
		return wei, n, nil
	}
	if wei, hit := c.heads.cache.balance(n, addr); hit {
		return wei, n, nil
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
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
	c.heads.cache.putBalance(n, addr, wei)
	return wei, n, nil
}

// Call executes msg at the latest block the node told; a call that depends
// only on the block is answered from the cache when made at that block
// before. Without a recent head it calls at "latest" and keeps nothing.
func (c *RPC) Call(ctx context.Context, msg ethereum.CallMsg) ([]byte, error) {
	n, ok := c.heads.head()
	if !ok {
		return c.conn.Call(ctx, msg)
	}
	key, cacheable := cacheableCall(msg)
	if cacheable {
		if out, hit := c.heads.cache.call(n, key); hit {
			return out, nil
		}
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	out, err := c.c.CallContract(ctx, msg, new(big.Int).SetUint64(n))
	if err != nil {
		return nil, c.fail("eth_call", err)
	}
	if cacheable {
		c.heads.cache.putCall(n, key, out)
	}
	return out, nil
}

// Receipt is conn.Receipt; a receipt's block moves the known head forward,
// so a read after a transfer was mined never answers from an older block.
func (c *RPC) Receipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	r, err := c.conn.Receipt(ctx, hash)
	if err == nil {
		c.heads.saw(r.BlockNumber.Uint64())
	}
	return r, err
}

// TxStatus is conn.TxStatus; a mined transaction's block moves the known
// head forward, as in Receipt.
func (c *RPC) TxStatus(ctx context.Context, hash common.Hash) (TxStatus, error) {
	st, err := c.conn.TxStatus(ctx, hash)
	if err == nil && st.BlockNumber > 0 {
		c.heads.saw(st.BlockNumber)
	}
	return st, err
}
