package approval_test

import (
	"context"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

// racingChain is the dev chain where the first broadcast is slow and ends
// in a definite refusal once a second broadcast of the same bytes (the
// settling loop's) has reached the node; that second one is taken, but
// only after the refused sender asked whether the node knows the
// transaction (it does not yet).
type racingChain struct {
	*chain.Dev
	sends        atomic.Int32
	second       chan struct{} // the re-broadcast reached the node
	senderAsked  chan struct{} // the refused sender's status question was answered
	senderAsked1 sync.Once
}

func (c *racingChain) Send(ctx context.Context, tx *types.Transaction) error {
	switch c.sends.Add(1) {
	case 1:
		<-c.second
		return &chain.RejectedError{Reason: "max fee per gas less than block base fee"}
	case 2:
		close(c.second)
		<-c.senderAsked
	}
	return c.Dev.Send(ctx, tx)
}

func (c *racingChain) TxStatus(ctx context.Context, h common.Hash) (chain.TxStatus, error) {
	st, err := c.Dev.TxStatus(ctx, h)
	select {
	case <-c.second:
		c.senderAsked1.Do(func() { close(c.senderAsked) })
	default:
	}
	return st, err
}

// TestRefusalRacingRebroadcastStaysCounted: the first send of a transfer
// outlasts SignedGrace, the settling loop sends the same bytes again, and
// the first send then comes back refused while the node does not know the
// transaction yet. The re-broadcast is taken and mined: the transfer must
// stay counted (it was failed and un-counted before), and the call answers
// submitted.
func TestRefusalRacingRebroadcastStaysCounted(t *testing.T) {
	w := rcNewWorld(t)
	ctx := context.Background()
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")
	st, lg := w.process()
	t.Cleanup(func() { lg.Close(); st.Close() })
	rc := &racingChain{Dev: w.dev, second: make(chan struct{}), senderAsked: make(chan struct{})}
	g, err := approval.NewGuard(ctx, &approval.Config{
		Policy: w.policy, Chain: rc, Store: st, Audit: lg, Keys: approval.KeyMap{w.from: w.signer},
		Now: func() time.Time { return time.Now().Add(3 * time.Second) }, // the settling pass comes after SignedGrace
	})
	if err != nil {
		t.Fatal(err)
	}
	passed := make(chan struct{})
	go func() {
		defer close(passed)
		for rc.sends.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		g.Pass(ctx) // the settling loop, of this process or another
	}()
	out, err := g.Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: bob.Hex(), Amount: "0.05"})
	<-passed
	if err != nil || out.Status != approval.OutcomeSubmitted {
		t.Fatalf("send: %+v, %v; want submitted (the settling loop's broadcast may be mined)", out, err)
	}
	w.waitMined(out.TxHash)
	got, err := st.Transfer(ctx, out.TransferID)
	if err != nil || got.Status == store.StatusFailed || !got.Counted() {
		t.Fatalf("the transfer %+v, %v: want it counted", got, err)
	}
	if b := w.balance(bob); b.Cmp(big.NewInt(5e16)) != 0 {
		t.Fatalf("bob has %s wei, want 5e16", b)
	}
	info, err := g.PolicyInfo(ctx, []common.Address{w.from})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range info.Remaining {
		if r.Asset == policy.NativeSymbol && r.TotalUsed != "0.05" {
			t.Fatalf("window total %s, want 0.05", r.TotalUsed)
		}
	}
}
