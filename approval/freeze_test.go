package approval_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/internal/ops"
	"github.com/walletmcp/walletmcp/policy"
)

// TestDenialBurstFreezes: 30 denied transfers within a minute are a severe
// anomaly (the default [anomaly] rules): the account is frozen in the store,
// so a small transfer that was automatic now parks for a human, in this
// process and in a second one sharing the home; an unfreeze restores it.
func TestDenialBurstFreezes(t *testing.T) {
	w := rcNewWorld(t)
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")
	ctx := context.Background()
	var guards []*approval.Guard
	var watcher *ops.Watcher
	st1, _ := w.process()
	for i := range 2 {
		st, lg := w.process()
		if i == 0 {
			st.Close()
			st = st1
		}
		t.Cleanup(func() { lg.Close(); st.Close() })
		svc, err := pending.New(&pending.Config{Store: st, Audit: lg})
		if err != nil {
			t.Fatal(err)
		}
		var auditor approval.Auditor = lg
		if i == 0 { // the first process watches for anomalies
			tee := &ops.Tee{Log: lg}
			watcher = &ops.Watcher{Policy: w.policy, Store: st, Audit: tee}
			tee.Observe = watcher.Observe
			auditor = tee
		}
		g, err := approval.NewGuard(ctx, &approval.Config{
			Policy: w.policy, Chain: w.dev, Store: st, Audit: auditor, Keys: approval.KeyMap{w.from: w.signer}, Approvals: svc,
		})
		if err != nil {
			t.Fatal(err)
		}
		guards = append(guards, g)
	}
	small := approval.TransferArgs{From: w.from.Hex(), To: bob.Hex(), Amount: "0.01"}
	out, err := guards[0].Send(ctx, small)
	if err != nil || out.Status != approval.OutcomeSubmitted {
		t.Fatalf("before the burst a small transfer is automatic: %+v, %v", out, err)
	}
	for i := range 30 {
		_, err := guards[0].Send(ctx, approval.TransferArgs{From: w.from.Hex(), To: bob.Hex(), Amount: "6"})
		if !errors.Is(err, approval.ErrDenied) {
			t.Fatalf("send %d above per_tx_max: %v", i, err)
		}
	}
	for i, g := range guards {
		out, err := g.Send(ctx, small)
		if err != nil || out.Status != approval.OutcomeApprovalRequired {
			t.Fatalf("process %d after the burst: %+v, %v; want approval_required", i, out, err)
		}
		d, err := g.Prepare(ctx, small)
		if err != nil || d.Verdict != policy.ApprovalRequired {
			t.Fatalf("process %d prepare after the burst: %+v, %v", i, d, err)
		}
	}
	// walletmcp unfreeze (after its TOTP code) lifts it for every process.
	if changed, err := st1.SetFrozen(ctx, w.from, false, ""); err != nil || !changed {
		t.Fatalf("unfreeze: %v, %v", changed, err)
	}
	for i, g := range guards {
		out, err := g.Send(ctx, small)
		if err != nil || out.Status != approval.OutcomeSubmitted {
			t.Fatalf("process %d after unfreeze: %+v, %v; want submitted", i, out, err)
		}
	}
}
