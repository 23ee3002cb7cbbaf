package approval_test

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/store"
)

// gatedChain is the dev chain whose first balance answer is low (a deposit
// lands after it), and whose first two PendingNonce calls each wait at their
// gate: it holds two Send calls between reading their facts and reserving.
type gatedChain struct {
	*chain.Dev
	balances, nonces atomic.Int32
	gates, arrived   [2]chan struct{}
}

func (c *gatedChain) Balance(ctx context.Context, a common.Address) (*big.Int, uint64, error) {
	b, n, err := c.Dev.Balance(ctx, a)
	if c.balances.Add(1) == 1 {
		return big.NewInt(1e17), n, err // 0.1 ETH: a 0.05 transfer is above the balance fraction
	}
	return b, n, err
}

func (c *gatedChain) PendingNonce(ctx context.Context, a common.Address) (uint64, error) {
	if i := c.nonces.Add(1) - 1; i < 2 {
		close(c.arrived[i])
		<-c.gates[i]
	}
	return c.Dev.PendingNonce(ctx, a)
}

// TestOneKeyOneOutcome: two send_transfer calls with one idempotency key
// decided apart (the first on a low balance: approval required; the second
// after a deposit: allowed) are one outcome. The second, reserving after the
// first parked, answers the first's approval instead of sending; once the
// human approves, the recipient is paid once. (Before, it sent at once and
// the approval sent again.)
func TestOneKeyOneOutcome(t *testing.T) {
	w := rcNewWorld(t)
	ctx := context.Background()
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")
	st, lg := w.process()
	t.Cleanup(func() { lg.Close(); st.Close() })
	svc, err := pending.New(&pending.Config{Store: st, Audit: lg})
	if err != nil {
		t.Fatal(err)
	}
	gc := &gatedChain{Dev: w.dev}
	for i := range 2 {
		gc.gates[i], gc.arrived[i] = make(chan struct{}), make(chan struct{})
	}
	g, err := approval.NewGuard(ctx, &approval.Config{
		Policy: w.policy, Chain: gc, Store: st, Audit: lg, Keys: approval.KeyMap{w.from: w.signer}, Approvals: svc,
	})
	if err != nil {
		t.Fatal(err)
	}
	args := approval.TransferArgs{From: w.from.Hex(), To: bob.Hex(), Amount: "0.05", IdempotencyKey: "K1"}
	var out1, out2 *approval.Outcome
	var err1, err2 error
	var wg sync.WaitGroup
	wg.Go(func() { out1, err1 = g.Send(ctx, args) })
	<-gc.arrived[0] // the first read its facts (the low balance)
	wg.Go(func() { out2, err2 = g.Send(ctx, args) })
	<-gc.arrived[1] // the second passed the replay check: no approval yet
	close(gc.gates[0])
	for deadline := time.Now().Add(10 * time.Second); ; { // the first parks
		if _, err := st.ApprovalByKey(ctx, "K1"); err == nil {
			break
		} else if !errors.Is(err, store.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("the first call did not park: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(gc.gates[1])
	wg.Wait()
	if err1 != nil || err2 != nil {
		t.Fatalf("errors %v, %v", err1, err2)
	}
	if out1.Status != approval.OutcomeApprovalRequired || out2.Status != approval.OutcomeApprovalRequired || out2.ApprovalID != out1.ApprovalID || !out2.Replayed {
		t.Fatalf("outcomes %+v and %+v: want the second to be the first's approval, replayed", out1, out2)
	}
	if err := st.DecideApproval(ctx, out1.ApprovalID, approvalstate.Approved, store.ChannelCLI, 12345, time.Now()); err != nil {
		t.Fatal(err)
	}
	g.Pass(ctx)
	a, err := st.Approval(ctx, out1.ApprovalID)
	if err != nil || a.TxHash == nil {
		t.Fatalf("approval %+v, %v", a, err)
	}
	w.waitMined(*a.TxHash)
	time.Sleep(200 * time.Millisecond) // a second transaction, were there one, would be mined by now
	if b := w.balance(bob); b.Cmp(big.NewInt(5e16)) != 0 {
		t.Fatalf("key K1 paid the recipient %s wei, want 5e16 once", b)
	}
}
