package approval_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
)

// estimateCounter is the dev chain with code at one address, counting gas
// estimates.
type estimateCounter struct {
	approval.Chain
	contract  common.Address
	estimates atomic.Int32
}

func (c *estimateCounter) CodeAt(ctx context.Context, a common.Address) ([]byte, error) {
	if a == c.contract {
		return []byte{0x60, 0x00}, nil
	}
	return c.Chain.CodeAt(ctx, a)
}

func (c *estimateCounter) EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error) {
	c.estimates.Add(1)
	return c.Chain.EstimateGas(ctx, msg)
}

// TestPlainTransferIsNotEstimated: ether to an account without code takes
// its intrinsic gas without a gas estimate (a node round trip); a recipient
// with code, and a low address (a precompile runs without code), are
// estimated.
func TestPlainTransferIsNotEstimated(t *testing.T) {
	ctx := context.Background()
	w := rcNewWorld(t)
	st, lg := w.process()
	defer st.Close()
	defer lg.Close()
	c := &estimateCounter{Chain: w.dev, contract: common.HexToAddress("0x00000000000000000000000000000000c0de0001")}
	g := w.guardOn(st, lg, c)
	for _, r := range []struct {
		to   string
		want int32
	}{
		{"0x00000000000000000000000000000000000A11CE", 0},
		{"0x0000000000000000000000000000000000010000", 0},
		{c.contract.Hex(), 1},
		{"0x0000000000000000000000000000000000000004", 1},
		{"0x000000000000000000000000000000000000ffff", 1},
	} {
		c.estimates.Store(0)
		if _, err := g.Prepare(ctx, approval.TransferArgs{From: w.from.Hex(), To: r.to, Amount: "0.001"}); err != nil {
			t.Fatalf("to %s: %v", r.to, err)
		}
		if got := c.estimates.Load(); got != r.want {
			t.Errorf("to %s: %d gas estimates, want %d", r.to, got, r.want)
		}
	}
	out, err := g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: "0x00000000000000000000000000000000000A11CE", Amount: "0.001"})
	if err != nil {
		t.Fatal(err)
	}
	w.waitMined(out.TxHash)
}
