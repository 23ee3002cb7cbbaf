//go:build !nodev

package chain

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
)

// Dev is a Chain on an embedded chain: go-ethereum's dev-mode stack (what
// its simulated backend runs), chain id 1337, in memory or
// (DevOptions.DataDir) on disk. A goroutine commits pending transactions
// into a block MineDelay after each Send and commits a block every
// IdleBlockTime; Close stops it. Balances, nonces and calls are read from
// the chain directly, not through JSON-RPC (devread.go), and so are what a
// transfer asks besides (the head, the tip suggestion, the recipient's code)
// and its broadcast (devclient.go). Dev is safe for concurrent use.
type Dev struct {
	conn
	backend *stackBackend
	chain   *core.BlockChain
	pool    *txpool.TxPool
	cache   blockCache // balances, calls and code at the head, see Balance

	kick      chan struct{} // a Send happened; capacity 1
	stop      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the miner goroutine has returned
	closeOnce sync.Once
	closeErr  error
}

var _ Chain = (*Dev)(nil)

// devBackend is the embedded chain Dev drives: go-ethereum's dev-mode stack
// in memory or on disk (stackBackend).
type devBackend interface {
	// Commit seals the pending transactions into a new block.
	Commit() common.Hash
	// Client is the in-process JSON-RPC client of the chain.
	Client() simulated.Client
	// Close stops the chain.
	Close() error
}

// NewDev starts an embedded dev chain with opts.Alloc funded at genesis. It
// commits one empty block before returning, so the chain starts at block 1.
func NewDev(opts *DevOptions) (*Dev, error) {
	if opts == nil {
		opts = &DevOptions{}
	}
	delay, idle := opts.MineDelay, opts.IdleBlockTime
	if delay <= 0 {
		delay = DefaultMineDelay
	}
	if idle <= 0 {
		idle = DefaultIdleBlockTime
	}
	if opts.MaxFeePerGas != nil && opts.MaxFeePerGas.Sign() <= 0 {
		return nil, errors.New("chain: dev: DevOptions.MaxFeePerGas must be positive")
	}
	alloc := make(types.GenesisAlloc, len(opts.Alloc))
	for addr, wei := range opts.Alloc {
		if wei == nil || wei.Sign() < 0 {
			return nil, fmt.Errorf("chain: dev: invalid genesis balance for %s", addr)
		}
		alloc[addr] = types.Account{Balance: new(big.Int).Set(wei)}
	}
	var (
		backend *stackBackend
		gen     *core.Genesis
		faucet  *ecdsa.PrivateKey
		err     error
	)
	if opts.DataDir != "" {
		backend, gen, faucet, err = openDiskBackend(opts.DataDir, alloc)
	} else {
		backend, err = newMemBackend(alloc)
	}
	if err != nil {
		return nil, err
	}
	cl := backend.Client()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	id, err := cl.ChainID(ctx)
	if err != nil || id.Cmp(big.NewInt(DevChainID)) != 0 {
		return nil, errors.Join(fmt.Errorf("chain: dev: unexpected chain id %v (%v)", id, err), backend.Close())
	}
	if err := warmUp(backend); err != nil {
		return nil, errors.Join(err, backend.Close())
	}
	dc := &devClient{Client: cl, eth: backend.Eth(), chain: backend.Eth().BlockChain()}
	d := &Dev{
		conn:    newConn(dc, id, opts.MaxFeePerGas, opts.Timeout),
		backend: backend,
		chain:   backend.Eth().BlockChain(),
		pool:    backend.Eth().TxPool(),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	dc.cache = &d.cache
	if faucet != nil {
		if err := d.fundNew(gen, faucet, opts.Alloc); err != nil {
			return nil, errors.Join(err, backend.Close())
		}
	}
	go d.mine(delay, idle)
	return d, nil
}

// warmUp commits a first block, which lets go-ethereum's transaction indexer
// start, and waits until it has finished: until then the chain answers every
// lookup of an unknown transaction with "indexing in progress" instead of
// "not found".
func warmUp(b devBackend) error {
	b.Commit()
	// Generous: on a loaded machine the in-process pipe can be slow.
	ctx, cancel := context.WithTimeout(context.Background(), 3*DefaultTimeout)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		_, err := b.Client().TransactionReceipt(ctx, common.Hash{})
		if err == nil || errors.Is(err, ethereum.NotFound) {
			return nil
		}
		// "indexing in progress" is expected; anything else (an in-process
		// pipe timing out on a loaded machine) is retried until the deadline.
		if !isIndexing(err) {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("chain: dev: probing the transaction index: %w", last)
			}
			return errors.New("chain: dev: transaction index not ready")
		case <-tick.C:
		}
	}
}

// mine is the miner goroutine: the only caller of backend.Commit.
func (d *Dev) mine(delay, idle time.Duration) {
	defer close(d.stopped)
	ticker := time.NewTicker(idle)
	defer ticker.Stop()
	var timer *time.Timer
	var due <-chan time.Time // non-nil while a commit after a Send is scheduled
	for {
		select {
		case <-d.stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-d.kick:
			if due == nil {
				timer = time.NewTimer(delay)
				due = timer.C
			}
		case <-due:
			due = nil
			d.backend.Commit()
			ticker.Reset(idle)
		case <-ticker.C:
			d.backend.Commit()
		}
	}
}

// Send broadcasts a signed transaction to the dev chain's pool; it is mined
// MineDelay later.
func (d *Dev) Send(ctx context.Context, tx *types.Transaction) error {
	if err := d.conn.Send(ctx, tx); err != nil {
		return err
	}
	select {
	case d.kick <- struct{}{}:
	default: // a kick is already queued
	}
	return nil
}

// Close stops the miner goroutine and the chain. Calls after the first return
// the first call's result.
func (d *Dev) Close() error {
	d.closeOnce.Do(func() {
		close(d.stop)
		<-d.stopped
		d.closeErr = d.backend.Close()
	})
	return d.closeErr
}

// devTipJitterWei bounds the random amount Dev adds to each suggested
// priority fee.
const devTipJitterWei = 1_000_000

// SuggestFees is conn's suggestion plus a random jitter of under 0.001 gwei
// on the tip. An in-memory chain starts afresh on every run with the same
// fees, so without it the same transfer after a restart would be signed into
// the very transaction (same nonce, same fields) recorded before the restart.
// A real chain (and a persistent Dev) never reuses a nonce; the jitter is
// harmless there.
func (d *Dev) SuggestFees(ctx context.Context) (Fees, error) {
	f, err := d.conn.SuggestFees(ctx)
	if err != nil {
		return f, err
	}
	j, err := rand.Int(rand.Reader, big.NewInt(devTipJitterWei))
	if err != nil {
		return Fees{}, fmt.Errorf("chain: dev: random: %w", err)
	}
	f.TipCap = new(big.Int).Add(f.TipCap, j)
	f.FeeCap = new(big.Int).Add(f.FeeCap, j)
	return f, nil
}
