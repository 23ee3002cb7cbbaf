package approval_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/store"
)

// readCounter is a Store that counts the catch-up reads of the ledger.
type readCounter struct {
	*store.Store
	reads atomic.Int64
}

func (c *readCounter) Changes(ctx context.Context, seq, version int64) ([]*store.Transfer, store.LedgerHead, error) {
	c.reads.Add(1)
	return c.Store.Changes(ctx, seq, version)
}

// TestPolicyInfoSeesOtherProcessSpend: PolicyInfo skips the store read while
// nothing was committed since its last one, and a spend by another process
// (a second store handle and Guard on the same database) shows in the very
// next PolicyInfo, as does a spend by its own process.
func TestPolicyInfoSeesOtherProcessSpend(t *testing.T) {
	w := rcNewWorld(t)
	ctx := context.Background()
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")
	st1, lg1 := w.process()
	t.Cleanup(func() { lg1.Close(); st1.Close() })
	counted := &readCounter{Store: st1}
	g1, err := approval.NewGuard(ctx, &approval.Config{
		Policy: w.policy, Chain: w.dev, Store: counted, Audit: lg1, Keys: approval.KeyMap{w.from: w.signer},
	})
	if err != nil {
		t.Fatal(err)
	}
	st2, lg2 := w.process()
	t.Cleanup(func() { lg2.Close(); st2.Close() })
	g2 := w.guard(st2, lg2)

	check := func(step, used string, count int) {
		t.Helper()
		p, err := g1.PolicyInfo(ctx, []common.Address{w.from})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var eth *approval.RemainingInfo
		for i := range p.Remaining {
			if p.Remaining[i].Asset == "ETH" {
				eth = &p.Remaining[i]
			}
		}
		if eth == nil || eth.AutoUsed != used || eth.TotalUsed != used || p.TransfersLastHour != count {
			t.Fatalf("%s: remaining %+v, %d transfers in the last hour; want %s used, %d", step, eth, p.TransfersLastHour, used, count)
		}
	}
	send := func(g *approval.Guard) {
		t.Helper()
		if _, err := g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: bob.Hex(), Amount: "0.05"}); err != nil {
			t.Fatal(err)
		}
	}

	check("start", "0", 0)
	before := counted.reads.Load()
	check("nothing committed", "0", 0)
	if n := counted.reads.Load() - before; n != 0 {
		t.Errorf("nothing committed: %d ledger reads, want 0", n)
	}

	send(g2)
	before = counted.reads.Load()
	check("after the other process's spend", "0.05", 1)
	if n := counted.reads.Load() - before; n != 1 {
		t.Errorf("after the other process's spend: %d ledger reads, want 1", n)
	}
	check("again", "0.05", 1)

	send(g1)
	check("after its own spend", "0.1", 2)
	send(g2)
	check("after another spend of the other process", "0.15", 3)
}
