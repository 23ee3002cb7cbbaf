package chain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

// ErrNotFound is returned when the node does not know the requested object,
// e.g. by Receipt for a transaction that is not mined (yet).
var ErrNotFound = errors.New("chain: not found")

// ErrChainIDMismatch is returned when a node or a transaction is on another
// chain than the one configured.
var ErrChainIDMismatch = errors.New("chain: chain id mismatch")

// ErrImplausible is wrapped by errors for node answers that fail a
// plausibility check (absurd fees, a receipt for another hash, a negative
// balance, a missing header, a gas estimate above the block gas limit).
var ErrImplausible = errors.New("chain: implausible response")

// DefaultMaxFeePerGasGwei is the default plausibility bound for suggested
// fees (Options.MaxFeePerGas), in gwei.
const DefaultMaxFeePerGasGwei = 10_000

// DefaultTimeout is the default per-call timeout.
const DefaultTimeout = 10 * time.Second

// Transaction statuses reported in TxStatus.Status.
const (
	StatusPending  = "pending"
	StatusSuccess  = "success"
	StatusReverted = "reverted"
	StatusNotFound = "not_found"
)

// Fees is a suggestion for the fee fields of an EIP-1559 transaction, in wei.
// FeeCap is 2*BaseFee + TipCap, enough for the base fee to double before the
// transaction is included.
type Fees struct {
	TipCap  *big.Int // max priority fee per gas
	FeeCap  *big.Int // max fee per gas
	BaseFee *big.Int // base fee of the latest block
}

// TxStatus is the state of a transaction as seen by the node.
type TxStatus struct {
	// Status is one of StatusPending, StatusSuccess, StatusReverted and
	// StatusNotFound ("pending", "success", "reverted", "not_found").
	Status string
	// BlockNumber is the number of the block that includes the transaction;
	// zero unless Status is success or reverted.
	BlockNumber uint64
}

// Chain is walletmcp's access to an Ethereum chain. Implementations check the
// node's answers and return errors wrapping ErrImplausible for absurd ones.
// All methods are safe for concurrent use.
type Chain interface {
	// ChainID returns the chain id, checked at construction; it never changes.
	ChainID() *big.Int
	// Balance returns addr's balance at the latest block and that block's
	// number, both from one consistent read.
	Balance(ctx context.Context, addr common.Address) (wei *big.Int, block uint64, err error)
	// PendingNonce returns the next nonce of addr, counting pending transactions.
	PendingNonce(ctx context.Context, addr common.Address) (uint64, error)
	// Nonce returns the next nonce of addr in the latest block: every nonce
	// below it is used by a mined transaction.
	Nonce(ctx context.Context, addr common.Address) (uint64, error)
	// SuggestFees suggests EIP-1559 fees.
	SuggestFees(ctx context.Context) (Fees, error)
	// EstimateGas estimates the gas msg needs.
	EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error)
	// Send broadcasts a signed transaction. A *RejectedError means the node
	// refused it with a definite validation error (nonce too low, fee below
	// the base fee...): it was not accepted. Any other error (a timeout, a
	// transport failure, an unknown node error) leaves the outcome unknown:
	// the transaction may have been accepted.
	Send(ctx context.Context, tx *types.Transaction) error
	// Receipt returns the receipt of a mined transaction; ErrNotFound until mined.
	Receipt(ctx context.Context, hash common.Hash) (*types.Receipt, error)
	// TxStatus reports pending if the transaction is in the pool, not_found if
	// the node does not know it, and success or reverted once mined.
	TxStatus(ctx context.Context, hash common.Hash) (TxStatus, error)
	// CodeAt returns the code at addr in the latest block.
	CodeAt(ctx context.Context, addr common.Address) ([]byte, error)
	// Call executes msg against the latest block without a transaction.
	Call(ctx context.Context, msg ethereum.CallMsg) ([]byte, error)
}

// client is the part of go-ethereum's ethclient.Client that this package
// uses; simulated.Client has the same methods.
type client interface {
	ChainID(ctx context.Context) (*big.Int, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	BlockNumber(ctx context.Context) (uint64, error)
	BalanceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (*big.Int, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	NonceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
	TransactionByHash(ctx context.Context, hash common.Hash) (tx *types.Transaction, isPending bool, err error)
	CodeAt(ctx context.Context, account common.Address, blockNumber *big.Int) ([]byte, error)
	CallContract(ctx context.Context, msg ethereum.CallMsg, blockNumber *big.Int) ([]byte, error)
}

// txGas is the intrinsic gas of any transaction; no estimate can be lower.
const txGas = params.TxGas

// conn implements Chain over a client. RPC and Dev embed it.
type conn struct {
	c       client
	chainID *big.Int
	maxFee  *big.Int
	timeout time.Duration
	// redact, if set, removes the node URL (which may carry an API key)
	// from error texts.
	redact func(error) error
}

func newConn(c client, chainID, maxFee *big.Int, timeout time.Duration) conn {
	if maxFee == nil {
		maxFee = new(big.Int).Mul(big.NewInt(DefaultMaxFeePerGasGwei), big.NewInt(params.GWei))
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return conn{
		c:       c,
		chainID: new(big.Int).Set(chainID),
		maxFee:  new(big.Int).Set(maxFee),
		timeout: timeout,
	}
}

var _ Chain = (*conn)(nil)

func (c *conn) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// fail wraps an error from the node with the package prefix and the method.
func (c *conn) fail(method string, err error) error {
	if c.redact != nil {
		err = c.redact(err)
	}
	return fmt.Errorf("chain: %s: %w", method, err)
}

func implausible(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrImplausible, fmt.Sprintf(format, args...))
}

// ChainID returns a copy of the chain id checked at construction.
func (c *conn) ChainID() *big.Int { return new(big.Int).Set(c.chainID) }

// LiveChainID asks the node for its chain id now (eth_chainId), for a
// readiness probe to compare with the pinned ChainID.
func (c *conn) LiveChainID(ctx context.Context) (*big.Int, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	id, err := c.c.ChainID(ctx)
	if err != nil {
		return nil, c.fail("eth_chainId", err)
	}
	if id == nil {
		return nil, implausible("node returned no chain id")
	}
	return id, nil
}

// latestHeader reads the latest header and checks that it is usable.
func (c *conn) latestHeader(ctx context.Context) (*types.Header, error) {
	h, err := c.c.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, c.fail("eth_getBlockByNumber", err)
	}
	if h == nil {
		return nil, implausible("node returned no latest header")
	}
	if h.Number == nil || h.Number.Sign() < 0 || !h.Number.IsUint64() {
		return nil, implausible("latest header has an invalid block number")
	}
	return h, nil
}

// Balance returns addr's balance at the latest block and that block's number:
// eth_blockNumber, then eth_getBalance at that number (cheaper than decoding
// the whole latest header; the balance and the number name the same block).
func (c *conn) Balance(ctx context.Context, addr common.Address) (*big.Int, uint64, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	n, err := c.c.BlockNumber(ctx)
	if err != nil {
		return nil, 0, c.fail("eth_blockNumber", err)
	}
	if n > math.MaxInt64 {
		return nil, 0, implausible("latest block number %d is out of range", n)
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
	return wei, n, nil
}

// PendingNonce returns the next nonce of addr, counting pending transactions.
func (c *conn) PendingNonce(ctx context.Context, addr common.Address) (uint64, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	n, err := c.c.PendingNonceAt(ctx, addr)
	if err != nil {
		return 0, c.fail("eth_getTransactionCount", err)
	}
	return n, nil
}

// SuggestFees suggests EIP-1559 fees: the node's priority fee suggestion as
// TipCap, the latest base fee, and FeeCap = 2*BaseFee + TipCap. Suggestions
// above the MaxFeePerGas bound are implausible.
func (c *conn) Nonce(ctx context.Context, addr common.Address) (uint64, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	n, err := c.c.NonceAt(ctx, addr, nil)
	if err != nil {
		return 0, c.fail("eth_getTransactionCount", err)
	}
	return n, nil
}

func (c *conn) SuggestFees(ctx context.Context) (Fees, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	tip, err := c.c.SuggestGasTipCap(ctx)
	if err != nil {
		return Fees{}, c.fail("eth_maxPriorityFeePerGas", err)
	}
	if tip == nil || tip.Sign() < 0 {
		return Fees{}, implausible("priority fee suggestion %v", tip)
	}
	if tip.Cmp(c.maxFee) > 0 {
		return Fees{}, implausible("suggested priority fee %s wei exceeds the bound %s wei", tip, c.maxFee)
	}
	h, err := c.latestHeader(ctx)
	if err != nil {
		return Fees{}, err
	}
	if h.BaseFee == nil {
		return Fees{}, implausible("latest header has no base fee (pre-London chain)")
	}
	if h.BaseFee.Sign() < 0 {
		return Fees{}, implausible("negative base fee %s", h.BaseFee)
	}
	base := new(big.Int).Set(h.BaseFee)
	feeCap := new(big.Int).Lsh(base, 1)
	feeCap.Add(feeCap, tip)
	if feeCap.Cmp(c.maxFee) > 0 {
		return Fees{}, implausible("suggested fee cap %s wei exceeds the bound %s wei", feeCap, c.maxFee)
	}
	if tip.Cmp(feeCap) > 0 {
		return Fees{}, implausible("priority fee %s above fee cap %s", tip, feeCap)
	}
	return Fees{TipCap: new(big.Int).Set(tip), FeeCap: feeCap, BaseFee: base}, nil
}

// EstimateGas estimates the gas msg needs. An estimate below 21000 or above
// the latest block's gas limit is implausible.
func (c *conn) EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	gas, err := c.c.EstimateGas(ctx, msg)
	if err != nil {
		return 0, c.fail("eth_estimateGas", err)
	}
	if gas < txGas {
		return 0, implausible("gas estimate %d below the intrinsic gas %d", gas, txGas)
	}
	h, err := c.latestHeader(ctx)
	if err != nil {
		return 0, err
	}
	if gas > h.GasLimit {
		return 0, implausible("gas estimate %d above the block gas limit %d", gas, h.GasLimit)
	}
	return gas, nil
}

// Send broadcasts a signed transaction. It refuses a transaction without
// replay protection or signed for another chain (ErrChainIDMismatch). A node
// answer "already known" (the same transaction is already in its pool) counts
// as success, so that re-broadcasting is idempotent.
func (c *conn) Send(ctx context.Context, tx *types.Transaction) error {
	if tx == nil {
		return errors.New("chain: send: nil transaction")
	}
	if !tx.Protected() {
		return errors.New("chain: send: transaction has no replay protection (no chain id)")
	}
	if id := tx.ChainId(); id == nil || id.Cmp(c.chainID) != 0 {
		return fmt.Errorf("%w: transaction is for chain %v, node is on chain %s", ErrChainIDMismatch, id, c.chainID)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if err := c.c.SendTransaction(ctx, tx); err != nil {
		if err.Error() == "already known" {
			return nil
		}
		if r := rejection(err); r != nil {
			return r
		}
		return c.fail("eth_sendRawTransaction", err)
	}
	return nil
}

// RejectedError is a node's definite refusal of a transaction: a JSON-RPC
// error answer whose message is one of the transaction pool's validation
// errors. Such a transaction was not accepted by the node, so it cannot have
// left through it.
type RejectedError struct {
	// Reason is the node's message, as the node wrote it (text from
	// outside: sanitise it before showing it).
	Reason string
}

// Error implements error.
func (e *RejectedError) Error() string { return "chain: node rejected the transaction: " + e.Reason }

// definiteRejections are go-ethereum's transaction pool validation errors
// (core/error.go, core/txpool/errors.go): a node answers with one of them
// only for a transaction it did not add to its pool.
var definiteRejections = []string{
	"nonce too low", "nonce has max value", "insufficient funds for gas * price + value",
	"intrinsic gas too low", "max priority fee per gas higher than max fee per gas",
	"max fee per gas less than block base fee", "transaction type not supported", "invalid sender",
	"transaction underpriced", "replacement transaction underpriced", "transaction gas price below minimum",
	"exceeds block gas limit", "negative value", "oversized data", "floor data gas cost",
}

// rejection returns a *RejectedError when err is the node's JSON-RPC error
// answer with a definite validation message, else nil: a transport error,
// a timeout or an unknown message leaves the outcome unknown.
func rejection(err error) *RejectedError {
	var re rpc.Error
	if !errors.As(err, &re) {
		return nil
	}
	var he rpc.HTTPError
	if errors.As(err, &he) {
		return nil
	}
	msg := re.Error()
	for _, d := range definiteRejections {
		if strings.HasPrefix(msg, d) {
			return &RejectedError{Reason: msg}
		}
	}
	return nil
}

// Receipt returns the receipt of a mined transaction, ErrNotFound until it is
// mined. A receipt for another hash, without a block number or with an
// unknown status is implausible.
func (c *conn) Receipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	return c.receipt(ctx, hash)
}

func (c *conn) receipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	r, err := c.c.TransactionReceipt(ctx, hash)
	if errors.Is(err, ethereum.NotFound) {
		return nil, ErrNotFound
	}
	if isIndexing(err) {
		// The node cannot tell yet; for a caller waiting for the receipt
		// this is the same as not mined yet.
		return nil, fmt.Errorf("%w: node is still indexing transactions", ErrNotFound)
	}
	if err != nil {
		return nil, c.fail("eth_getTransactionReceipt", err)
	}
	if r == nil {
		return nil, implausible("node returned an empty receipt")
	}
	if r.TxHash != hash {
		return nil, implausible("asked for the receipt of %s, got one for %s", hash, r.TxHash)
	}
	if r.BlockNumber == nil || r.BlockNumber.Sign() < 0 || !r.BlockNumber.IsUint64() {
		return nil, implausible("receipt of %s has no valid block number", hash)
	}
	if r.Status != types.ReceiptStatusSuccessful && r.Status != types.ReceiptStatusFailed {
		return nil, implausible("receipt of %s has status %d", hash, r.Status)
	}
	return r, nil
}

// TxStatus reports the state of a transaction: pending while it is in the
// node's pool, success or reverted (with the block number) once mined,
// not_found if the node does not know it. A transaction whose hash differs
// from the one asked for is implausible.
func (c *conn) TxStatus(ctx context.Context, hash common.Hash) (TxStatus, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	tx, pending, err := c.c.TransactionByHash(ctx, hash)
	if errors.Is(err, ethereum.NotFound) {
		return TxStatus{Status: StatusNotFound}, nil
	}
	if isIndexing(err) {
		return TxStatus{}, errors.New("chain: eth_getTransactionByHash: node is still indexing transactions, status unknown")
	}
	if err != nil {
		return TxStatus{}, c.fail("eth_getTransactionByHash", err)
	}
	if tx == nil {
		return TxStatus{}, implausible("node returned an empty transaction")
	}
	if got := tx.Hash(); got != hash {
		return TxStatus{}, implausible("asked for transaction %s, got %s", hash, got)
	}
	if pending {
		return TxStatus{Status: StatusPending}, nil
	}
	r, err := c.receipt(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		// Mined, but the receipt is not visible yet (e.g. being indexed).
		return TxStatus{Status: StatusPending}, nil
	}
	if err != nil {
		return TxStatus{}, err
	}
	st := TxStatus{Status: StatusSuccess, BlockNumber: r.BlockNumber.Uint64()}
	if r.Status != types.ReceiptStatusSuccessful {
		st.Status = StatusReverted
	}
	return st, nil
}

// CodeAt returns the code at addr in the latest block.
func (c *conn) CodeAt(ctx context.Context, addr common.Address) ([]byte, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	code, err := c.c.CodeAt(ctx, addr, nil)
	if err != nil {
		return nil, c.fail("eth_getCode", err)
	}
	return code, nil
}

// Call executes msg against the latest block without creating a transaction.
func (c *conn) Call(ctx context.Context, msg ethereum.CallMsg) ([]byte, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	out, err := c.c.CallContract(ctx, msg, nil)
	if err != nil {
		return nil, c.fail("eth_call", err)
	}
	return out, nil
}

// errIndexingText is geth's answer to a transaction lookup that misses while
// its transaction index is still being built.
const errIndexingText = "transaction indexing is in progress"

// isIndexing reports whether err is geth's "transaction indexing is in
// progress": the node cannot tell whether it knows the transaction.
func isIndexing(err error) bool {
	return err != nil && err.Error() == errIndexingText
}

// redactURL returns a function that removes rawURL's credentials, path and
// query (which often hold an API key) from error texts.
func redactURL(rawURL string) func(error) error {
	safe := "<rpc-url>"
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		safe = u.Scheme + "://" + u.Host
	}
	return func(err error) error {
		var ue *url.Error
		if errors.As(err, &ue) {
			return &redactedError{msg: ue.Op + " " + safe + ": " + ue.Err.Error(), cause: ue.Err}
		}
		if rawURL != "" && strings.Contains(err.Error(), rawURL) {
			return &redactedError{msg: strings.ReplaceAll(err.Error(), rawURL, safe), cause: contextCause(err)}
		}
		return err
	}
}

// contextCause keeps a context error reachable through errors.Is.
func contextCause(err error) error {
	for _, e := range []error{context.DeadlineExceeded, context.Canceled} {
		if errors.Is(err, e) {
			return e
		}
	}
	return nil
}

// redactedError is an error whose text had the node URL removed.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }
