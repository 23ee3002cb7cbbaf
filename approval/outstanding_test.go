package approval_test

import (
	"context"
	"errors"
	"math/big"
	"testing"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/policy"
)

// TestOfflineOutstandingCounted: window_max is 10 ETH and per_tx_max 5.
// Offline requests reserve nothing, and one the agent broadcasts itself is
// counted only once the sweep sees its nonce mined. So the agent could
// create a request, have it signed, broadcast it itself and create the next
// before the sweep ran, or create all of them before any is broadcast: each
// was decided without the others, and 15 ETH left. A request now counts the
// account's other requests that may still be spent.
func TestOfflineOutstandingCounted(t *testing.T) {
	t.Run("SelfBroadcastBeforeTheSweep", func(t *testing.T) {
		w := newOutWorld(t)
		start := w.balance(w.from)
		for range 2 {
			_, req := w.request("5")
			w.selfBroadcast(req)
		}
		_, err := w.g.CreateOfflineRequest(context.Background(), approval.TransferArgs{From: w.from.Hex(), To: offBob.Hex(), Amount: "5"})
		wantDeny(t, err, "window_max")
		w.pass()
		w.pass()
		w.wantUsed("10")
		if spent := new(big.Int).Sub(start, w.balance(w.from)); spent.Cmp(new(big.Int).Mul(big.NewInt(11), big.NewInt(1e18))) > 0 {
			t.Fatalf("%s wei left the account", spent)
		}
	})
	t.Run("AllCreatedFirst", func(t *testing.T) {
		w := newOutWorld(t)
		// Nothing broadcast: the requests share a nonce, and only one of
		// them can be mined. A second one at that nonce adds only what it
		// is above the first.
		a, reqA := w.request("5")
		b, _ := w.request("4")
		if a.Nonce != b.Nonce {
			t.Fatalf("nonces %d and %d, want one", a.Nonce, b.Nonce)
		}
		if _, err := w.g.CreateOfflineRequest(context.Background(), approval.TransferArgs{From: w.from.Hex(), To: offBob.Hex(), Amount: "5"}); err != nil {
			t.Fatalf("a third request at the same nonce: %v", err)
		}
		// A broadcast moves the nonce: every request at the old one may be
		// the one mined, and each counts in full.
		w.selfBroadcast(reqA)
		_, err := w.g.CreateOfflineRequest(context.Background(), approval.TransferArgs{From: w.from.Hex(), To: offBob.Hex(), Amount: "1"})
		wantDeny(t, err, "window_max")
	})
	t.Run("SubmitCountsTheOthers", func(t *testing.T) {
		w := newOutWorld(t)
		_, reqA := w.request("5")
		w.selfBroadcast(reqA)
		b, reqB := w.request("5") // 5 + 5: at the limit
		// A third request held back, at B's nonce, cannot add to B.
		if _, err := w.g.CreateOfflineRequest(context.Background(), approval.TransferArgs{From: w.from.Hex(), To: offBob.Hex(), Amount: "5"}); err != nil {
			t.Fatalf("a rival of B: %v", err)
		}
		out, err := w.g.SubmitOfflineSignature(context.Background(), b.ID, w.sign(w.signer, reqB))
		if err != nil {
			t.Fatalf("submitting B within the window: %v", err)
		}
		w.waitMined(out.TxHash)
	})
}

func wantDeny(t *testing.T, err error, rule string) {
	t.Helper()
	var d *approval.DenyError
	if !errors.As(err, &d) {
		t.Fatalf("want a deny by %s, got %v", rule, err)
	}
	for _, r := range d.Decision.Reasons {
		if r.Rule == rule && r.Verdict == policy.Deny.String() {
			return
		}
	}
	t.Fatalf("denied, but not by %s: %+v", rule, d.Decision.Reasons)
}
