//go:build !nodev

package chain

import (
	"context"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// storerRuntime stores 1 in slot 0 (PUSH1 1 PUSH1 0 SSTORE STOP): a call
// whose gas the estimator has to search for.
var (
	storerRuntime = hexutil.MustDecode("0x600160005500")
	storerInit    = append(hexutil.MustDecode("0x6006600c60003960066000f3"), storerRuntime...)
)

// TestDevEstimateGasMatchesRPC: Dev's direct estimate answers what
// eth_estimateGas through the in-process JSON-RPC handler answers, for a
// plain transfer, a call that stores, the same with fees and a gas limit
// given, and fails where it fails (a reverting call, a value above the
// balance, fees given both ways).
func TestDevEstimateGasMatchesRPC(t *testing.T) {
	key, from := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(10)}})
	ctx := context.Background()
	fees := suggestFees(t, d)
	storer := deployDev(t, d, key, 0, 200_000, fees, storerInit)
	reverter := deployDev(t, d, key, 1, 200_000, fees, revertInit)
	eoa := common.HexToAddress("0x00000000000000000000000000000000000b0b01")
	dc := d.conn.c.(*devClient)
	tests := []struct {
		name    string
		msg     ethereum.CallMsg
		wantErr bool
	}{
		{name: "transfer", msg: ethereum.CallMsg{From: from, To: &eoa, Value: ether(1)}},
		{name: "store", msg: ethereum.CallMsg{From: from, To: &storer, Value: new(big.Int)}},
		{name: "store with fees and gas", msg: ethereum.CallMsg{From: from, To: &storer, Gas: 5_000_000, GasFeeCap: fees.FeeCap, GasTipCap: fees.TipCap}},
		{name: "store with a gas price", msg: ethereum.CallMsg{From: from, To: &storer, GasPrice: fees.FeeCap}},
		{name: "create", msg: ethereum.CallMsg{From: from, Data: storerInit}},
		{name: "gas below what it needs", msg: ethereum.CallMsg{From: from, To: &storer, Gas: 30_000}, wantErr: true},
		{name: "reverts", msg: ethereum.CallMsg{From: from, To: &reverter}, wantErr: true},
		{name: "above the balance", msg: ethereum.CallMsg{From: from, To: &eoa, Value: ether(11), GasFeeCap: fees.FeeCap, GasTipCap: fees.TipCap}, wantErr: true},
		{name: "fees both ways", msg: ethereum.CallMsg{From: from, To: &eoa, GasPrice: fees.FeeCap, GasFeeCap: fees.FeeCap}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := dc.Client.EstimateGas(ctx, tt.msg)
			got, err := dc.EstimateGas(ctx, tt.msg)
			if (wantErr != nil) != tt.wantErr {
				t.Fatalf("JSON-RPC estimate: %d, %v; want error %v", want, wantErr, tt.wantErr)
			}
			if (err != nil) != tt.wantErr || got != want {
				t.Errorf("direct estimate %d, %v; JSON-RPC %d, %v", got, err, want, wantErr)
			}
			if err != nil && wantErr != nil && err.Error() != wantErr.Error() {
				t.Logf("errors differ: direct %q, JSON-RPC %q", err, wantErr)
			}
		})
	}
	if _, err := d.EstimateGas(ctx, tests[0].msg); err != nil {
		t.Errorf("Dev.EstimateGas: %v", err)
	}
}
