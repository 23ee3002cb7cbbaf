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
// (go-ethereum's ethapi.DoCall), without the JSON-RPC hop: the message
// built as for EstimateGas (estimateMessage: the node's RPC gas cap as the
// default and the limit, fees as given), a gas pool of that cap, no base
// fee check, the node's EVM timeout, and the handler's errors: a revert is
// code 3 with its data, any other failure code -32000. Only the head is
// served here (Dev.Call asks at the head it just read); another block, or a
// message with blob hashes or authorizations (which a token read never
// has), goes through JSON-RPC.
func (c *devClient) CallContract(ctx context.Context, msg ethereum.CallMsg, number *big.Int) ([]byte, error) {
	if len(msg.BlobHashes) > 0 || msg.BlobGasFeeCap != nil || len(msg.AuthorizationList) > 0 {
		return c.Client.CallContract(ctx, msg, number)
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
	return c.callAt(ctx, msg, h)
}

// callAt runs msg on the state of block h (see CallContract).
func (c *devClient) callAt(ctx context.Context, msg ethereum.CallMsg, h *types.Header) ([]byte, error) {
	st, err := c.chain.StateAt(h.Root, h.Number, h.Time)
	if err != nil {
		return nil, &devRPCError{err: err}
	}
	gasCap := c.eth.APIBackend.RPCGasCap()
	m, err := estimateMessage(msg, h.BaseFee, gasCap)
	if err != nil {
		return nil, &devRPCError{err: err}
	}
	m.SkipExecutionGasCapCheck()
	timeout := c.eth.APIBackend.RPCEVMTimeout()
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
	pool := gasCap
	if pool == 0 {
		pool = math.MaxUint64
	}
	res, err := core.ApplyMessage(evm, m, core.NewGasPool(pool))
	if serr := st.Error(); serr != nil {
		return nil, &devRPCError{err: serr}
	}
	if evm.Cancelled() {
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
