package approval_test

import (
	"context"
	"crypto/sha256"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// TestTwoGuardsShareLimits: two Guards, each with its own store handle and
// audit log on one home (two `serve` processes), share one window. With
// window_auto_max 1 ETH, fifty concurrent 0.05 ETH sends split between them
// sign exactly twenty, the recipient gets exactly 1 ETH, and the nonces are
// 0..19 with none used twice. Before, each process enforced the whole
// window alone and 2 ETH went through.
func TestTwoGuardsShareLimits(t *testing.T) {
	w := rcNewWorld(t)
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")
	var guards []*approval.Guard
	for range 2 {
		st, lg := w.process()
		t.Cleanup(func() { lg.Close(); st.Close() })
		guards = append(guards, w.guard(st, lg))
	}
	var mu sync.Mutex
	var hashes []common.Hash
	var wg sync.WaitGroup
	for i := range 50 {
		g := guards[i%2]
		wg.Go(func() {
			out, err := g.Send(context.Background(), approval.TransferArgs{From: w.from.Hex(), To: bob.Hex(), Amount: "0.05"})
			if err != nil {
				return // beyond the window: needs a human, which these guards do not have
			}
			mu.Lock()
			hashes = append(hashes, out.TxHash)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(hashes) != 20 {
		t.Fatalf("%d transfers signed, want exactly 20 (1 ETH of window_auto_max at 0.05)", len(hashes))
	}
	for _, h := range hashes {
		w.waitMined(h)
	}
	if got, want := w.balance(bob), new(big.Int).Mul(big.NewInt(1e18), big.NewInt(1)); got.Cmp(want) != 0 {
		t.Fatalf("bob got %s, want exactly 1 ETH", got)
	}
	if n, err := w.dev.PendingNonce(context.Background(), w.from); err != nil || n != 20 {
		t.Fatalf("account nonce %d, %v; want 20 (no nonce used twice, none skipped)", n, err)
	}
}

// TestTwoExecutorsOneApproval: two processes' executors race on one approved
// transfer. Exactly one signs it (a lease in the store, and a transfer keyed
// by the approval), the approval ends executed, never failed. Before, the
// loser found the winner's transfer in flight and recorded the approval as
// failed although it was sent.
func TestTwoExecutorsOneApproval(t *testing.T) {
	w := rcNewWorld(t)
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")
	ctx := context.Background()
	type proc struct {
		st *store.Store
		g  *approval.Guard
	}
	var procs []proc
	for range 2 {
		st, lg := w.process()
		t.Cleanup(func() { lg.Close(); st.Close() })
		svc, err := pending.New(&pending.Config{Store: st, Audit: lg})
		if err != nil {
			t.Fatal(err)
		}
		g, err := approval.NewGuard(ctx, &approval.Config{
			Policy: w.policy, Chain: w.dev, Store: st, Audit: lg, Keys: approval.KeyMap{w.from: w.signer}, Approvals: svc,
		})
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, proc{st, g})
	}
	amount := big.NewInt(5e17)
	in := &policy.Intent{ChainID: 1337, From: w.from, To: bob, Asset: policy.NativeSymbol, Amount: amount, Decimals: 18, Symbol: "ETH"}
	d := in.Digest()
	token := sha256.Sum256([]byte("link"))
	a, _, err := procs[0].st.CreateApproval(ctx, &store.Approval{
		LinkTokenHash: token[:], Digest: d[:], ChainID: 1337, From: w.from, To: bob, Asset: store.AssetETH, Amount: amount,
		Summary: []byte(`{}`), ExpiresAt: time.Now().Add(10 * time.Minute), MaxFee: big.NewInt(1e18),
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := procs[0].st.DecideApproval(ctx, a.ID, approvalstate.Approved, store.ChannelCLI, 12345, time.Now()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.g.Pass(ctx) })
	}
	wg.Wait()
	got, err := procs[1].st.Approval(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != approvalstate.Executed || got.TxHash == nil {
		t.Fatalf("approval is %s (%s), want executed", got.Status, got.Error)
	}
	w.waitMined(*got.TxHash)
	for _, p := range procs {
		p.g.Pass(ctx)
	}
	if b := w.balance(bob); b.Cmp(amount) != 0 {
		t.Fatalf("bob got %s, want exactly %s", b, amount)
	}
	if n, _ := w.dev.PendingNonce(ctx, w.from); n != 1 {
		t.Fatalf("nonce %d: the approval was signed more than once", n)
	}
}
