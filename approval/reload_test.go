package approval_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer/offline"
)

// failedGroupStore is the store whose next ledger transaction holds another
// write's spend (inserted first, as an earlier member of a group commit
// would), then the Guard's fn, and does not commit, so that none of it is
// written: what the Guard's syncIn applied from it never was. As the store
// does, every write of such a group fails with store.ErrNotCommitted,
// wrapping fn's own error when fn refused. With wantRefusal, fn must refuse.
type failedGroupStore struct {
	*store.Store
	fail        atomic.Bool
	wantRefusal bool
	from, to    common.Address
	amount      *big.Int // of the other write; nil: 1 ETH
}

func (s *failedGroupStore) Ledger(ctx context.Context, fn func(*store.LedgerTx) error) error {
	if !s.fail.CompareAndSwap(true, false) {
		return s.Store.Ledger(ctx, fn)
	}
	var ferr error
	err := s.Store.Ledger(ctx, func(lt *store.LedgerTx) error {
		nonce, err := lt.AllocateNonce(1337, s.from, 0)
		if err != nil {
			return err
		}
		amount := s.amount
		if amount == nil {
			amount = big.NewInt(1e18)
		}
		if _, _, err := lt.Insert(&store.Transfer{IdempotencyKey: "other-write", ArgsHash: make([]byte, 32), ChainID: 1337,
			From: s.from, To: s.to, Asset: store.AssetETH, Amount: amount, Kind: store.KindAuto, Nonce: &nonce}); err != nil {
			return err
		}
		if ferr = fn(lt); ferr != nil {
			return ferr
		}
		return errors.New("the group's commit failed")
	})
	switch {
	case ferr != nil:
		return fmt.Errorf("%w: %w", store.ErrNotCommitted, ferr)
	case s.wantRefusal:
		return errors.Join(err, errors.New("want the Guard's fn to refuse"))
	}
	return fmt.Errorf("%w: %w", store.ErrNotCommitted, err)
}

// TestLedgerReloadedAfterFailedTransaction: a ledger transaction that
// failed after the Guard's syncIn applied another write's spend (never
// committed) leaves no trace: the Guard reads its ledger again, the window
// does not count that spend, and the next transfer goes through (before,
// the in-memory head stayed ahead of the store's: every later transfer
// failed as "went back").
func TestLedgerReloadedAfterFailedTransaction(t *testing.T) {
	w := rcNewWorld(t)
	ctx := context.Background()
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")
	st, lg := w.process()
	t.Cleanup(func() { lg.Close(); st.Close() })
	fs := &failedGroupStore{Store: st, from: w.from, to: bob}
	g, err := approval.NewGuard(ctx, &approval.Config{Policy: w.policy, Chain: w.dev, Store: fs, Audit: lg, Keys: approval.KeyMap{w.from: w.signer}})
	if err != nil {
		t.Fatal(err)
	}
	args := approval.TransferArgs{From: w.from.Hex(), To: bob.Hex(), Amount: "0.01"}
	fs.fail.Store(true)
	if _, err := g.Send(ctx, args); err == nil {
		t.Fatal("a transfer whose ledger transaction failed went through")
	}
	used := func() string {
		t.Helper()
		info, err := g.PolicyInfo(ctx, []common.Address{w.from})
		if err != nil {
			t.Fatalf("PolicyInfo after the failed transaction: %v", err)
		}
		for _, r := range info.Remaining {
			if r.Asset == policy.NativeSymbol {
				return r.TotalUsed
			}
		}
		t.Fatal("no ETH window")
		return ""
	}
	if got := used(); got != "0" {
		t.Fatalf("window total %s after a failed transaction, want 0", got)
	}
	out, err := g.Send(ctx, args)
	if err != nil || out.Status != approval.OutcomeSubmitted {
		t.Fatalf("the next transfer: %+v, %v", out, err)
	}
	if got := used(); got != "0.01" {
		t.Fatalf("window total %s, want 0.01", got)
	}
}

// TestLedgerReloadedAfterRefusalInFailedGroup: a ledger transaction whose
// fn refused (after its syncIn applied another write's change) in a group
// that did not commit left that change in memory, since only a failure
// after fn succeeded reloaded: the window counted a spend that never was,
// and the in-memory head stood ahead of the store's.
func TestLedgerReloadedAfterRefusalInFailedGroup(t *testing.T) {
	w := rcNewWorld(t)
	ctx := context.Background()
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")
	st, lg := w.process()
	t.Cleanup(func() { lg.Close(); st.Close() })
	fs := &failedGroupStore{Store: st, wantRefusal: true, from: w.from, to: bob}
	g, err := approval.NewGuard(ctx, &approval.Config{Policy: w.policy, Chain: w.dev, Store: fs, Audit: lg, Keys: approval.KeyMap{},
		Offline: map[common.Address]offline.KeyPath{w.from: offline.DefaultPath()}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.CreateOfflineRequest(ctx, approval.TransferArgs{From: w.from.Hex(), To: bob.Hex(), Amount: "0.01"})
	if err != nil {
		t.Fatal(err)
	}
	req, err := offline.ParseSignRequestUR(r.UR, nil)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := offline.Sign(ctx, w.signer, req, "test")
	if err != nil {
		t.Fatal(err)
	}
	ur, err := sig.UR()
	if err != nil {
		t.Fatal(err)
	}
	fs.fail.Store(true)
	if _, err := g.SubmitOfflineSignature(ctx, r.ID, ur); err == nil {
		t.Fatal("a submission whose nonce was taken went through")
	}
	info, err := g.PolicyInfo(ctx, []common.Address{w.from})
	if err != nil {
		t.Fatalf("PolicyInfo after the group that did not commit: %v", err)
	}
	for _, rem := range info.Remaining {
		if rem.Asset == policy.NativeSymbol && rem.TotalUsed != "0" {
			t.Fatalf("window total %s after a group that did not commit, want 0", rem.TotalUsed)
		}
	}
	out, err := g.SubmitOfflineSignature(ctx, r.ID, ur)
	if err != nil || out.Status != approval.OutcomeSubmitted {
		t.Fatalf("the submission again: %+v, %v", out, err)
	}
}
