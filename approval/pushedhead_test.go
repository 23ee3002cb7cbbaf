package approval_test

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/chain"
)

// markChain is the dev chain recording, for each call that takes a context,
// whether the context was marked chain.AtPushedHead ("Balance+" marked,
// "Balance-" not).
type markChain struct {
	approval.Chain
	mu    sync.Mutex
	calls []string
}

func (c *markChain) note(ctx context.Context, method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if chain.IsAtPushedHead(ctx) {
		c.calls = append(c.calls, method+"+")
	} else {
		c.calls = append(c.calls, method+"-")
	}
}

// take returns the calls noted since the last take.
func (c *markChain) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = nil
	return calls
}

func (c *markChain) Balance(ctx context.Context, a common.Address) (*big.Int, uint64, error) {
	c.note(ctx, "Balance")
	return c.Chain.Balance(ctx, a)
}
func (c *markChain) Nonce(ctx context.Context, a common.Address) (uint64, error) {
	c.note(ctx, "Nonce")
	return c.Chain.Nonce(ctx, a)
}
func (c *markChain) PendingNonce(ctx context.Context, a common.Address) (uint64, error) {
	c.note(ctx, "PendingNonce")
	return c.Chain.PendingNonce(ctx, a)
}
func (c *markChain) SuggestFees(ctx context.Context) (chain.Fees, error) {
	c.note(ctx, "SuggestFees")
	return c.Chain.SuggestFees(ctx)
}
func (c *markChain) EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error) {
	c.note(ctx, "EstimateGas")
	return c.Chain.EstimateGas(ctx, msg)
}
func (c *markChain) Send(ctx context.Context, tx *types.Transaction) error {
	c.note(ctx, "Send")
	return c.Chain.Send(ctx, tx)
}
func (c *markChain) TxStatus(ctx context.Context, h common.Hash) (chain.TxStatus, error) {
	c.note(ctx, "TxStatus")
	return c.Chain.TxStatus(ctx, h)
}
func (c *markChain) Call(ctx context.Context, msg ethereum.CallMsg) ([]byte, error) {
	c.note(ctx, "Call")
	return c.Chain.Call(ctx, msg)
}
func (c *markChain) CodeAt(ctx context.Context, a common.Address) ([]byte, error) {
	c.note(ctx, "CodeAt")
	return c.Chain.CodeAt(ctx, a)
}

// TestOnlyReadToolsReadAtPushedHead: Guard.Balance (get_balance) marks its
// chain reads chain.AtPushedHead, so that over a websocket node a repeated
// read in one block costs no round trip; the reads behind a transfer
// (Prepare, Send: balance, nonce, fees, code) feed a decision and are never
// marked, so they always ask the node.
func TestOnlyReadToolsReadAtPushedHead(t *testing.T) {
	ctx := context.Background()
	w := rcNewWorld(t)
	st, lg := w.process()
	defer st.Close()
	defer lg.Close()
	c := &markChain{Chain: w.dev}
	g := w.guardOn(st, lg, c)
	c.take() // whatever the start-up read

	b, err := g.Balance(ctx, w.from.Hex(), "ETH")
	if err != nil {
		t.Fatal(err)
	}
	if b.Amount.Sign() <= 0 {
		t.Fatalf("balance %s, want the funded account's", b.Amount)
	}
	if calls := c.take(); !slices.Equal(calls, []string{"Balance+"}) {
		t.Fatalf("Guard.Balance made the chain calls %v, want [Balance+] (one balance read marked chain.AtPushedHead)", calls)
	}

	to := "0x00000000000000000000000000000000000A11CE"
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"Prepare", func() error {
			_, err := g.Prepare(ctx, approval.TransferArgs{From: w.from.Hex(), To: to, Amount: "0.001"})
			return err
		}},
		{"Send", func() error {
			out, err := g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: to, Amount: "0.001"})
			if err != nil {
				return err
			}
			if out.Status != approval.OutcomeSubmitted {
				return fmt.Errorf("outcome %+v, want submitted", out)
			}
			w.waitMined(out.TxHash)
			return nil
		}},
	} {
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		calls := c.take()
		// The facts a decision rests on were read (else the check below
		// would hold vacuously)...
		for _, want := range []string{"Balance-", "PendingNonce-"} {
			if step.name == "Prepare" && want == "PendingNonce-" {
				continue // a preview allocates no nonce
			}
			if !slices.Contains(calls, want) {
				t.Errorf("%s made the chain calls %v, want %s among them", step.name, calls, want)
			}
		}
		// ...and none of them at a pushed head.
		for _, call := range calls {
			if call[len(call)-1] == '+' {
				t.Errorf("%s made the chain calls %v: %s is marked chain.AtPushedHead, but it feeds a decision", step.name, calls, call)
			}
		}
	}
}
