//go:build !nodev

package chain

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

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

// loopRuntime loops until its gas runs out (JUMPDEST PUSH1 0 JUMP).
var (
	loopRuntime = hexutil.MustDecode("0x5b600056")
	loopInit    = append(hexutil.MustDecode("0x6004600c60003960046000f3"), loopRuntime...)
)

// TestDevCallMatchesRPC: Dev's direct eth_call answers what eth_call
// through the in-process JSON-RPC handler answers, byte for byte, and fails
// where it fails with the same message, code and data: the message and
// block context a call sees, with and without fees, value and sender; a
// call to an account without code; a revert without and with a reason; out
// of gas; below the intrinsic gas; a value above the balance; fees given
// both ways; numbers the handler refuses to decode (which go to it). Then,
// with the JSON-RPC client closed, the direct answers are the same: they
// did not come through it.
func TestDevCallMatchesRPC(t *testing.T) {
	key, from := newKey(t)
	// No idle blocks: the head, which the context contract returns, stays.
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(10)}, IdleBlockTime: time.Hour})
	ctx := context.Background()
	fees := suggestFees(t, d)
	ctxc := deployDev(t, d, key, 0, 200_000, fees, contextInit)
	reverter := deployDev(t, d, key, 1, 200_000, fees, revertInit)
	reasoner := deployDev(t, d, key, 2, 200_000, fees, reasonInit)
	eoa := common.HexToAddress("0x00000000000000000000000000000000000b0b01")
	dc := d.conn.c.(*devClient)
	huge := new(big.Int).Lsh(big.NewInt(1), 256)
	tests := []struct {
		name    string
		msg     ethereum.CallMsg
		wantErr bool
		viaRPC  bool // answered through JSON-RPC, by design
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
		{name: "a negative value", msg: ethereum.CallMsg{To: &ctxc, Value: big.NewInt(-1)}, wantErr: true, viaRPC: true},
		{name: "a gas price above 256 bits", msg: ethereum.CallMsg{To: &ctxc, GasPrice: huge}, wantErr: true, viaRPC: true},
	}
	h := d.chain.CurrentBlock()
	type answer struct {
		out []byte
		err error
	}
	want := make([]answer, len(tests))
	for i, tt := range tests {
		out, err := dc.Client.CallContract(ctx, tt.msg, h.Number)
		if (err != nil) != tt.wantErr {
			t.Fatalf("%s: JSON-RPC call: %x, %v; want error %v", tt.name, out, err, tt.wantErr)
		}
		want[i] = answer{out, err}
	}
	compare := func(t *testing.T, msg ethereum.CallMsg, number *big.Int, want answer) {
		t.Helper()
		got, err := dc.CallContract(ctx, msg, number)
		if string(got) != string(want.out) {
			t.Errorf("block %v: direct call %x, JSON-RPC %x", number, got, want.out)
		}
		if (err != nil) != (want.err != nil) {
			t.Fatalf("block %v: direct call error %v, JSON-RPC %v", number, err, want.err)
		}
		if err == nil {
			return
		}
		if err.Error() != want.err.Error() {
			t.Errorf("block %v: direct call error %q, JSON-RPC %q", number, err, want.err)
		}
		var re, we rpc.Error
		if errors.As(err, &re) != errors.As(want.err, &we) || (re != nil && re.ErrorCode() != we.ErrorCode()) {
			t.Errorf("block %v: direct call error code %v, JSON-RPC %v", number, re, we)
		}
		if got, want := errorData(err), errorData(want.err); got != want {
			t.Errorf("block %v: direct call error data %v, JSON-RPC %v", number, got, want)
		}
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, number := range []*big.Int{nil, h.Number} {
				compare(t, tt.msg, number, want[i])
			}
		})
	}
	// The same answers with the JSON-RPC client closed: they are the direct
	// path's.
	d.backend.client.Close()
	if _, err := dc.Client.CallContract(ctx, tests[0].msg, nil); err == nil {
		t.Fatal("the closed in-process JSON-RPC client still answers eth_call")
	}
	for i, tt := range tests {
		if tt.viaRPC {
			continue
		}
		t.Run(tt.name+" without JSON-RPC", func(t *testing.T) { compare(t, tt.msg, nil, want[i]) })
	}
	// Through Dev.Call, as erc20 asks.
	out, err := d.Call(ctx, ethereum.CallMsg{From: from, To: &ctxc})
	if err != nil || len(out) != 6*32 || common.BytesToAddress(out[:32]) != from {
		t.Errorf("Dev.Call: %x, %v; want six words, the first %s", out, err, from.Hex())
	}
}

// TestDevCallStopsWhenTheCallerGivesUp: a call that would run to the gas
// cap stops when its caller's context ends, with that context's error (as
// through the JSON-RPC client), not the node's EVM timeout.
func TestDevCallStopsWhenTheCallerGivesUp(t *testing.T) {
	key, from := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(10)}})
	loop := deployDev(t, d, key, 0, 200_000, suggestFees(t, d), loopInit)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	out, err := d.conn.c.(*devClient).CallContract(ctx, ethereum.CallMsg{To: &loop}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call past its caller's deadline = %x, %v; want context.DeadlineExceeded", out, err)
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
