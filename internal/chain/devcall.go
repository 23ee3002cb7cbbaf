//go:build !nodev

package chain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
)

// CallContract executes msg on the head's state, as eth_call does
// (go-ethereum's ethapi.DoCall), without the JSON-RPC hop:
//   - the message is built as eth_call builds it (estimateMessage, with the
//     gas pool's size as the default and the limit of its gas: the node's
//     RPC gas cap, or all gas when there is none);
//   - for a call that gives no fee, the base fee is zeroed and not checked
//     (NoBaseFee), as eth_call does; fees given are checked against it;
//   - the EVM stops at the node's EVM timeout, or when ctx ends (then the
//     error is ctx's, as through the client);
//   - errors are the handler's: a revert is code 3 with its data, any other
//     failure code -32000, a panic -32603.
//
// Only the head is served here (Dev.Call asks at the head it just read).
// Another block, a message with blob hashes or authorizations (which a
// token read never has), or one with a number outside 256 bits (which the
// handler refuses while decoding it, code -32602) goes through JSON-RPC.
func (c *devClient) CallContract(ctx context.Context, msg ethereum.CallMsg, number *big.Int) ([]byte, error) {
	if len(msg.BlobHashes) > 0 || msg.BlobGasFeeCap != nil || len(msg.AuthorizationList) > 0 {
		return c.Client.CallContract(ctx, msg, number)
	}
	for _, v := range []*big.Int{msg.Value, msg.GasPrice, msg.GasFeeCap, msg.GasTipCap} {
		if _, err := toU256("", v); err != nil { // the handler refuses it while decoding
			return c.Client.CallContract(ctx, msg, number)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := c.chain.CurrentBlock()
	if h == nil {
		return nil, errors.New("no current block")
	}
	if number != nil && number.Cmp(h.Number) != 0 {
		return c.Client.CallContract(ctx, msg, number)
	}
	pool := c.eth.APIBackend.RPCGasCap()
	if pool == 0 {
		pool = math.MaxUint64
	}
	m, err := estimateMessage(msg, h.BaseFee, pool)
	if err != nil {
		return nil, &devRPCError{err: err}
	}
	return c.callAt(ctx, m, h, pool)
}

// callAt runs m on the state of block h with a gas pool of pool (see
// CallContract).
func (c *devClient) callAt(ctx context.Context, m *core.Message, h *types.Header, pool uint64) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &devRPCError{err: errHandlerCrashed, code: -32603}
		}
	}()
	st, err := c.chain.StateAt(h.Root, h.Number, h.Time)
	if err != nil {
		return nil, &devRPCError{err: err}
	}
	m.SkipExecutionGasCapCheck()
	timeout := c.eth.APIBackend.RPCEVMTimeout()
	parent := ctx
	var cancel context.CancelFunc
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	blockCtx := core.NewEVMBlockContext(h, c.chain, nil)
	if m.GasPrice.Sign() == 0 {
		blockCtx.BaseFee = new(big.Int) // as eth_call: basefee < feecap must hold
	}
	evm := vm.NewEVM(blockCtx, st, c.chain.Config(), vm.Config{NoBaseFee: true})
	defer evm.Release()
	go func() {
		<-ctx.Done()
		evm.Cancel()
	}()
	res, err := core.ApplyMessage(evm, m, core.NewGasPool(pool))
	if serr := st.Error(); serr != nil {
		return nil, &devRPCError{err: serr}
	}
	if evm.Cancelled() {
		if perr := parent.Err(); perr != nil {
			return nil, perr // the caller gave up, as the client reports it
		}
		return nil, &devRPCError{err: fmt.Errorf("execution aborted (timeout = %v)", timeout)}
	}
	if err != nil {
		return nil, &devRPCError{err: fmt.Errorf("err: %w (supplied gas %d)", err, m.GasLimit)}
	}
	if errors.Is(res.Err, vm.ErrExecutionReverted) {
		return nil, newDevRevertError(res.Revert())
	}
	if res.Err != nil {
		return nil, &devRPCError{err: res.Err}
	}
	return res.Return(), nil
}

// errHandlerCrashed is what the JSON-RPC server answers for a handler that
// panicked.
var errHandlerCrashed = errors.New("method handler crashed")

// devRevertError is a revert as the JSON-RPC handler answers it: code 3,
// "execution reverted" with the ABI-decoded reason when there is one, and
// the revert data, hex-encoded, as the error's data. Like the error that
// comes through JSON-RPC, it does not match vm.ErrExecutionReverted.
type devRevertError struct {
	err  error
	data string
}

func newDevRevertError(revert []byte) *devRevertError {
	err := vm.ErrExecutionReverted
	if reason, uerr := abi.UnpackRevert(revert); uerr == nil {
		err = fmt.Errorf("%w: %v", vm.ErrExecutionReverted, reason)
	}
	return &devRevertError{err: err, data: hexutil.Encode(revert)}
}

func (e *devRevertError) Error() string          { return e.err.Error() }
func (e *devRevertError) ErrorCode() int         { return 3 }
func (e *devRevertError) ErrorData() interface{} { return e.data }
