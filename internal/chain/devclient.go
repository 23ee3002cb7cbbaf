//go:build !nodev

package chain

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"
)

// devClient is the client conn uses on the Dev chain: the in-process
// JSON-RPC client, except for what a transfer asks on every call, which goes
// to the go-ethereum stack directly (no JSON encoding, no handler, no second
// decode and signature recovery of a sent transaction):
//   - SendTransaction hands the transaction to the pool as
//     eth_sendRawTransaction does (the same fee-cap check, the same pool call,
//     the same error texts, as JSON-RPC errors so that conn classifies them
//     exactly as before);
//   - HeaderByNumber(nil) is the current head;
//   - SuggestGasTipCap is the node's gas price oracle;
//   - CodeAt(nil) reads the head's state, once per head and account (kept
//     in Dev's blockCache with its balances and calls);
//   - TransactionByHash and TransactionReceipt (what the settling loop asks
//     of every transfer) look in the chain's index and the pool, as
//     eth_getTransactionByHash and eth_getTransactionReceipt do, with the
//     same "not found" and "indexing in progress" answers;
//   - EstimateGas runs go-ethereum's estimator on the head's state (devgas.go);
//   - CallContract at the head runs the EVM on the head's state, as eth_call
//     does (devcall.go).
//
// Everything else (other blocks, blob and set-code messages) still goes
// through JSON-RPC.
type devClient struct {
	simulated.Client
	eth   *eth.Ethereum
	chain *core.BlockChain
	cache *blockCache // Dev's: CodeAt's answers at the head are kept there
	// head, when set, replaces the chain's current block number in
	// inHead (tests hold the head back to open the window described there).
	head func() uint64
}

// inHead reports whether a block the transaction index names is at or below
// the chain's head. go-ethereum writes a new head block's index entries
// before it moves its current block (core.BlockChain.writeHeadBlock), so for
// a moment a transaction is found in a block that Balance, Nonce and
// HeaderByNumber do not see yet. Such a transaction is answered as pending,
// as a node answers one that is not in its chain: a receipt is never seen
// before the head that contains it.
func (c *devClient) inHead(number uint64) bool {
	if c.head != nil {
		return number <= c.head()
	}
	h := c.chain.CurrentBlock()
	return h != nil && h.Number != nil && number <= h.Number.Uint64()
}

var _ client = (*devClient)(nil)

// devRPCError is a pool error as the JSON-RPC handler would have answered it
// (code -32000, the message as is): conn's rejection and "already known"
// checks see the same error as through JSON-RPC.
type devRPCError struct {
	err  error
	code int // the JSON-RPC error code; 0 means -32000
}

func (e *devRPCError) Error() string { return e.err.Error() }
func (e *devRPCError) ErrorCode() int {
	if e.code != 0 {
		return e.code
	}
	return -32000
}
func (e *devRPCError) Unwrap() error { return e.err }

// SendTransaction adds tx to the pool, as eth_sendRawTransaction does.
func (c *devClient) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkTxFee(tx, c.eth.APIBackend.RPCTxFeeCap()); err != nil {
		return &devRPCError{err: err}
	}
	if err := c.eth.APIBackend.SendTx(ctx, tx); err != nil {
		return &devRPCError{err: err}
	}
	return nil
}

// checkTxFee is go-ethereum's eth_sendRawTransaction fee sanity check: the
// transaction's maximum fee may not exceed capEther (0: no cap).
func checkTxFee(tx *types.Transaction, capEther float64) error {
	if capEther == 0 {
		return nil
	}
	fee := new(big.Float).Quo(new(big.Float).SetInt(new(big.Int).Mul(tx.GasPrice(), new(big.Int).SetUint64(tx.Gas()))), new(big.Float).SetInt(big.NewInt(params.Ether)))
	feeEth, _ := fee.Float64()
	if feeEth > capEther {
		return fmt.Errorf("tx fee (%.2f ether) exceeds the configured cap (%.2f ether)", feeEth, capEther)
	}
	return nil
}

// HeaderByNumber returns the current head for nil (latest), and asks
// JSON-RPC for any other block.
func (c *devClient) HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error) {
	if number != nil {
		return c.Client.HeaderByNumber(ctx, number)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := c.chain.CurrentBlock()
	if h == nil {
		return nil, errors.New("no current block")
	}
	return types.CopyHeader(h), nil
}

// SuggestGasTipCap is the node's priority fee suggestion (what
// eth_maxPriorityFeePerGas answers).
func (c *devClient) SuggestGasTipCap(ctx context.Context) (*big.Int, error) {
	return c.eth.APIBackend.SuggestGasTipCap(ctx)
}

// CodeAt returns the code at account in the head's state for nil (latest),
// and asks JSON-RPC for any other block.
func (c *devClient) CodeAt(ctx context.Context, account common.Address, number *big.Int) ([]byte, error) {
	if number != nil {
		return c.Client.CodeAt(ctx, account, number)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := c.chain.CurrentBlock()
	if h == nil {
		return nil, errors.New("no current block")
	}
	n := h.Number.Uint64()
	c.cache.advance(n)
	if code, ok := c.cache.code(n, account); ok {
		return code, nil
	}
	st, err := c.chain.StateAt(h.Root, h.Number, h.Time)
	if err != nil {
		return nil, err
	}
	code := st.GetCode(account)
	c.cache.putCode(n, account, code)
	return code, nil
}

// TransactionByHash finds a transaction in the canonical chain, else in the
// pool (pending), as eth_getTransactionByHash does.
func (c *devClient) TransactionByHash(ctx context.Context, hash common.Hash) (*types.Transaction, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	be := c.eth.APIBackend
	found, tx, _, number, _ := be.GetCanonicalTransaction(hash)
	if found && c.inHead(number) {
		return tx, false, nil
	}
	if found { // in a block the head has not reached yet (see inHead)
		return tx, true, nil
	}
	if tx := be.GetPoolTransaction(hash); tx != nil {
		return tx, true, nil
	}
	return nil, false, c.notFound()
}

// TransactionReceipt returns the receipt of a transaction in the canonical
// chain, as eth_getTransactionReceipt does (a copy: the chain caches its
// receipts).
func (c *devClient) TransactionReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	be := c.eth.APIBackend
	found, tx, blockHash, blockNumber, index := be.GetCanonicalTransaction(hash)
	if !found {
		return nil, c.notFound()
	}
	if !c.inHead(blockNumber) { // see inHead
		return nil, ethereum.NotFound
	}
	r, err := be.GetCanonicalReceipt(tx, blockHash, blockNumber, index)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ethereum.NotFound
	}
	cp := *r
	if r.BlockNumber != nil {
		cp.BlockNumber = new(big.Int).Set(r.BlockNumber)
	}
	return &cp, nil
}

// notFound is the answer for a transaction the chain does not know: not
// found, or, while the transaction index is still being built, the node's
// "indexing in progress" (see isIndexing).
func (c *devClient) notFound() error {
	if !c.eth.APIBackend.TxIndexDone() {
		return errors.New(errIndexingText)
	}
	return ethereum.NotFound
}
