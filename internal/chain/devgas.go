//go:build !nodev

package chain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/eth/gasestimator"
	"github.com/holiman/uint256"
)

// estimateGasErrorRatio is go-ethereum's eth_estimateGas tolerance: the
// search stops once the estimate is within 1.5 % of the exact answer.
const estimateGasErrorRatio = 0.015

// EstimateGas estimates msg's gas at the head with go-ethereum's estimator
// (eth/gasestimator), as eth_estimateGas does, without the JSON-RPC hop: the
// same defaults (no gas limit means the node's RPC gas cap; fees as given,
// the legacy price backfilled from the EIP-1559 ones; no nonce and no EOA
// check), the same tolerance, and a failure as a JSON-RPC error. A message
// with blob hashes or authorizations (which a transfer never has) still goes
// through JSON-RPC.
func (c *devClient) EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error) {
	if len(msg.BlobHashes) > 0 || msg.BlobGasFeeCap != nil || len(msg.AuthorizationList) > 0 {
		return c.Client.EstimateGas(ctx, msg)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	h := c.chain.CurrentBlock()
	if h == nil {
		return 0, errors.New("no current block")
	}
	st, err := c.chain.StateAt(h.Root, h.Number, h.Time)
	if err != nil {
		return 0, err
	}
	gasCap := c.eth.APIBackend.RPCGasCap()
	call, err := estimateMessage(msg, h.BaseFee, gasCap)
	if err != nil {
		return 0, &devRPCError{err: err}
	}
	opts := &gasestimator.Options{
		Config:     c.chain.Config(),
		Chain:      c.chain,
		Header:     h,
		State:      st,
		ErrorRatio: estimateGasErrorRatio,
	}
	gas, revert, err := gasestimator.Estimate(ctx, call, opts, gasCap)
	if err != nil {
		if errors.Is(err, vm.ErrExecutionReverted) && len(revert) > 0 {
			err = fmt.Errorf("%w: 0x%x", err, revert)
		}
		return 0, &devRPCError{err: err}
	}
	return gas, nil
}

// estimateMessage is msg as eth_estimateGas turns its arguments into a
// message (go-ethereum's TransactionArgs.CallDefaults and ToMessage).
func estimateMessage(msg ethereum.CallMsg, baseFee *big.Int, gasCap uint64) (*core.Message, error) {
	if msg.GasPrice != nil && (msg.GasFeeCap != nil || msg.GasTipCap != nil) {
		return nil, errors.New("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
	}
	gas := msg.Gas
	switch {
	case gas == 0 && gasCap == 0:
		gas = uint64(math.MaxUint64 / 2)
	case gas == 0:
		gas = gasCap
	case gasCap > 0 && gas > gasCap:
		gas = gasCap
	}
	value, err := toU256("value", msg.Value)
	if err != nil {
		return nil, err
	}
	var price, feeCap, tipCap *uint256.Int
	switch {
	case baseFee == nil || msg.GasPrice != nil:
		if price, err = toU256("gasPrice", msg.GasPrice); err != nil {
			return nil, err
		}
		feeCap, tipCap = price, price
	default:
		if feeCap, err = toU256("maxFeePerGas", msg.GasFeeCap); err != nil {
			return nil, err
		}
		if tipCap, err = toU256("maxPriorityFeePerGas", msg.GasTipCap); err != nil {
			return nil, err
		}
		price = new(uint256.Int)
		if feeCap.BitLen() > 0 || tipCap.BitLen() > 0 {
			base, err := toU256("baseFee", baseFee)
			if err != nil {
				return nil, err
			}
			price.Add(tipCap, base)
			if price.Cmp(feeCap) > 0 {
				price.Set(feeCap)
			}
		}
	}
	m := &core.Message{
		From:       msg.From,
		To:         msg.To,
		Value:      value,
		GasLimit:   gas,
		GasPrice:   price,
		GasFeeCap:  feeCap,
		GasTipCap:  tipCap,
		Data:       msg.Data,
		AccessList: msg.AccessList,
	}
	m.SkipNonceCheck()
	return m.SkipEOACheck().SkipGasLimitCapCheck(), nil
}

// toU256 is v as a 256-bit word, zero for nil.
func toU256(field string, v *big.Int) (*uint256.Int, error) {
	if v == nil {
		return new(uint256.Int), nil
	}
	u, overflow := uint256.FromBig(v)
	if overflow || v.Sign() < 0 {
		return nil, fmt.Errorf("%s out of range", field)
	}
	return u, nil
}
