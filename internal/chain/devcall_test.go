//go:build !nodev

package chain

import (
	"context"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
)

var (
	// contextRuntime returns six words: CALLER, NUMBER, TIMESTAMP,
	// GASPRICE, BASEFEE and CALLVALUE, what an eth_call's message and block
	// context set.
	contextRuntime = hexutil.MustDecode("0x3360005243602052426040523a6060524860805234" + "60a05260c06000f3")
	contextInit    = append(hexutil.MustDecode("0x601d600c600039601d6000f3"), contextRuntime...)
	// reasonRuntime reverts with Error("nope"), ABI-encoded after its 12
	// bytes of code.
	reasonRuntime = append(hexutil.MustDecode("0x6064600c60003960646000fd"), hexutil.MustDecode(
		"0x08c379a0"+
			"0000000000000000000000000000000000000000000000000000000000000020"+
			"0000000000000000000000000000000000000000000000000000000000000004"+
			"6e6f706500000000000000000000000000000000000000000000000000000000")...)
	reasonInit = append(hexutil.MustDecode("0x6070600c60003960706000f3"), reasonRuntime...)
)

// TestDevCallMatchesRPC: Dev's direct eth_call answers what eth_call
// through the in-process JSON-RPC handler answers, byte for byte, and fails
// where it fails with the same message, code and data: the message and
// block context a call sees, with and without fees, value and sender; a
// call to an account without code; a revert without and with a reason; out
// of gas; below the intrinsic gas; a value above the balance; fees given
// both ways.
func TestDevCallMatchesRPC(t *testing.T) {
	key, from := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(10)}})
	ctx := context.Background()
	fees := suggestFees(t, d)
	ctxc := deployDev(t, d, key, 0, 200_000, fees, contextInit)
	reverter := deployDev(t, d, key, 1, 200_000, fees, revertInit)
	reasoner := deployDev(t, d, key, 2, 200_000, fees, reasonInit)
	eoa := common.HexToAddress("0x00000000000000000000000000000000000b0b01")
	dc := d.conn.c.(*devClient)
	tests := []struct {
		name    string
		msg     ethereum.CallMsg
		wantErr bool
	}{
		{name: "context", msg: ethereum.CallMsg{To: &ctxc}},
		{name: "context from an account with value", msg: ethereum.CallMsg{From: from, To: &ctxc, Value: big.NewInt(7)}},
		{name: "context with fees", msg: ethereum.CallMsg{From: from, To: &ctxc, GasFeeCap: fees.FeeCap, GasTipCap: fees.TipCap}},
		{name: "context with a gas price and gas", msg: ethereum.CallMsg{From: from, To: &ctxc, GasPrice: fees.FeeCap, Gas: 100_000}},
		{name: "an account without code", msg: ethereum.CallMsg{To: &eoa, Data: []byte{1, 2, 3, 4}}},
		{name: "reverts", msg: ethereum.CallMsg{To: &reverter}, wantErr: true},
		{name: "reverts with a reason", msg: ethereum.CallMsg{To: &reasoner}, wantErr: true},
		{name: "out of gas", msg: ethereum.CallMsg{To: &ctxc, Gas: 21_010}, wantErr: true},
		{name: "below the intrinsic gas", msg: ethereum.CallMsg{To: &ctxc, Gas: 100}, wantErr: true},
		{name: "above the balance", msg: ethereum.CallMsg{From: from, To: &eoa, Value: ether(11)}, wantErr: true},
		{name: "fees both ways", msg: ethereum.CallMsg{To: &ctxc, GasPrice: fees.FeeCap, GasFeeCap: fees.FeeCap}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := d.chain.CurrentBlock()
			want, wantErr := dc.Client.CallContract(ctx, tt.msg, h.Number)
			if (wantErr != nil) != tt.wantErr {
				t.Fatalf("JSON-RPC call: %x, %v; want error %v", want, wantErr, tt.wantErr)
			}
			for _, number := range []*big.Int{nil, h.Number} {
				got, err := dc.CallContract(ctx, tt.msg, number)
				if string(got) != string(want) {
					t.Errorf("block %v: direct call %x, JSON-RPC %x", number, got, want)
				}
				if (err != nil) != tt.wantErr {
					t.Fatalf("block %v: direct call error %v, JSON-RPC %v", number, err, wantErr)
				}
				if err == nil {
					continue
				}
				if err.Error() != wantErr.Error() {
					t.Errorf("block %v: direct call error %q, JSON-RPC %q", number, err, wantErr)
				}
				var re, we rpc.Error
				if errors.As(err, &re) != errors.As(wantErr, &we) || (re != nil && re.ErrorCode() != we.ErrorCode()) {
					t.Errorf("block %v: direct call error code %v, JSON-RPC %v", number, re, we)
				}
				if got, want := errorData(err), errorData(wantErr); got != want {
					t.Errorf("block %v: direct call error data %v, JSON-RPC %v", number, got, want)
				}
			}
		})
	}
	// Through Dev.Call, as erc20 asks.
	out, err := d.Call(ctx, ethereum.CallMsg{From: from, To: &ctxc})
	if err != nil || len(out) != 6*32 || common.BytesToAddress(out[:32]) != from {
		t.Errorf("Dev.Call: %x, %v; want six words, the first %s", out, err, from.Hex())
	}
}

// errorData is err's JSON-RPC error data, nil when it has none.
func errorData(err error) any {
	var de rpc.DataError
	if errors.As(err, &de) {
		return de.ErrorData()
	}
	return nil
}
