package approval

import (
	"context"
	"errors"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// executorInterval is how often the executor looks for approved transfers
// decided in another process (the CLI); approvals through this process's
// page are picked up at once through Kick.
const executorInterval = 400 * time.Millisecond

// Wake asks an executor (Guard.RunApprovals) to look for approved
// transfers now. Kicks while one is waiting are merged. Safe for concurrent
// use; the zero value is not usable (NewWake).
type Wake struct{ ch chan struct{} }

// NewWake returns a Wake for Config.Wake.
func NewWake() *Wake { return &Wake{ch: make(chan struct{}, 1)} }

// Kick asks the executor to look now; it never blocks.
func (w *Wake) Kick() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// Kick asks the executor to look for approved transfers now.
func (g *Guard) Kick() { g.kick.Kick() }

// RunApprovals runs the Guard's background work until ctx ends, every Tick
// and whenever Kick is called: approvals past their expiry are marked
// expired; approved transfers (from the CLI, the page or another process)
// are executed, each by exactly one process (a lease in the store); and
// abandoned reservations and unsettled broadcasts are settled (see settle).
func (g *Guard) RunApprovals(ctx context.Context) {
	t := time.NewTicker(g.cfg.Tick)
	defer t.Stop()
	for {
		g.Pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.kick.ch:
		}
	}
}

// Pass runs RunApprovals's work once (tests call it instead of waiting for
// a tick).
func (g *Guard) Pass(ctx context.Context) {
	if g.cfg.Approvals != nil {
		if _, err := g.cfg.Store.ExpireApprovals(ctx, g.now()); err != nil && ctx.Err() == nil {
			_ = g.cfg.Audit.Enqueue(audit.TypeSecurity, map[string]any{"event": "executor_error", "error": "expiring approvals failed"})
		}
		list, err := g.cfg.Store.ApprovedToExecute(ctx)
		if err == nil {
			for _, a := range list {
				if !a.Verified {
					g.reportTampered(a)
					continue
				}
				now := g.now()
				if ok, err := g.cfg.Store.ClaimApproval(ctx, a.ID, g.id, now, now.Add(approvalLease)); err != nil || !ok {
					continue
				}
				g.ExecuteApproval(ctx, a)
			}
		}
	}
	g.settle(ctx)
}

// reportTampered audits, once per process, an approved approval whose MACs
// do not verify: it is never executed.
func (g *Guard) reportTampered(a *store.Approval) {
	what := a.TamperReason
	if what == "" {
		what = "approved without a verified decision"
	}
	g.tampered(&store.TamperError{Table: "approvals", ID: a.ID, What: what})
}

// ExecuteApproval signs and broadcasts an approved transfer. The approval
// must verify with the state key and carry the TOTP step that approved it;
// the intent is re-derived from the stored request and must match the digest
// the human approved; the policy is evaluated again (limits still deny; the
// human's approval satisfies "approval required"); and the transaction's
// maximum fee may not exceed the one the human was shown (if fees rose past
// it, the approval waits until it expires). A transfer keyed by the approval
// (in a namespace no agent key reaches) makes a crash or a second executor
// harmless: the retry finds it.
func (g *Guard) ExecuteApproval(ctx context.Context, a *store.Approval) {
	ctx = context.WithoutCancel(ctx)
	failApproval := func(reason string) {
		_ = g.cfg.Store.MarkApprovalFailed(ctx, a.ID, reason)
		_ = g.cfg.Audit.Enqueue(audit.TypeVerdict, map[string]any{"op": "execute_approval", "id": a.ID, "verdict": "deny", "reason": reason})
	}
	if !a.Verified || a.Status != approvalstate.Approved || a.Channel == "" || a.Step < 0 {
		g.reportTampered(a)
		return
	}
	// A transient condition (a chain error, fees above the ceiling) leaves
	// the approval approved for the next round, until it expires.
	retryLater := func() bool { return !g.now().After(a.ExpiresAt) }
	if prev, err := g.cfg.Store.TransferByApproval(ctx, a.ID); err == nil {
		g.finishExisting(ctx, a, prev)
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		g.tampered(err)
		return
	}
	ref, err := g.resolveAsset(ctx, "asset", assetArg(a.Asset), false)
	if err != nil {
		if policy.CodeOf(err) != policy.CodeChainError || !retryLater() {
			failApproval(err.Error())
		}
		return
	}
	in, lim, err := g.intentFor(a.From, a.To, ref, a.Amount)
	if err != nil {
		failApproval(err.Error())
		return
	}
	if d := in.Digest(); string(d[:]) != string(a.Digest) {
		failApproval("the re-derived transfer does not match what was approved")
		return
	}
	cf, err := g.readChain(ctx, in)
	if err == nil {
		if cf.nonceFloor, err = g.cfg.Chain.PendingNonce(ctx, in.From); err != nil {
			err = policy.Errorf(policy.CodeChainError, "reading the account nonce failed: %s", chainMsg(err))
		}
	}
	if err != nil {
		if !retryLater() {
			failApproval(err.Error())
		}
		return
	}
	if a.MaxFee != nil && !cf.capFee(a.MaxFee) {
		// Never sign more fee than the human was shown: wait for fees to
		// come down, until the approval expires.
		if !retryLater() {
			failApproval("fees rose above the maximum fee that was approved (" + policy.FormatAmount(a.MaxFee, policy.NativeDecimals) + " ETH) and did not come down before the approval expired")
		}
		return
	}
	ah := argsHash(in)
	p, t, prev, err := g.reserve(ctx, in, lim, cf, &store.Transfer{ApprovalID: a.ID, ArgsHash: ah, Kind: store.KindApproved}, "execute_approval")
	switch {
	case err != nil:
		// Left approved for the next round, until the approval expires.
		if !retryLater() {
			failApproval(err.Error())
		}
		return
	case prev != nil:
		g.finishExisting(ctx, a, prev)
		return
	case t == nil:
		g.auditVerdict("execute_approval", a.ID, p)
		failApproval((&DenyError{Decision: p.decision}).Error())
		return
	}
	if p.signed == nil { // else queued in the reservation
		g.auditVerdict("execute_approval", a.ID, p)
	}
	out, err := g.executeReserved(ctx, t, p)
	g.finishApproval(ctx, a.ID, out, err)
}

// finishExisting settles an approval whose transfer already exists (a crash,
// or another process): executed once it was signed, failed if it failed, and
// left alone while another process is still signing it.
func (g *Guard) finishExisting(ctx context.Context, a *store.Approval, t *store.Transfer) {
	switch t.Status {
	case store.StatusSigned, store.StatusSubmitted, store.StatusConfirmed:
		if t.TxHash != nil {
			_ = g.cfg.Store.MarkApprovalExecuted(ctx, a.ID, t.ID, *t.TxHash)
		}
	case store.StatusFailed:
		_ = g.cfg.Store.MarkApprovalFailed(ctx, a.ID, t.Error)
	}
}

func (g *Guard) finishApproval(ctx context.Context, id string, out *Outcome, err error) {
	if err != nil {
		_ = g.cfg.Store.MarkApprovalFailed(ctx, id, err.Error())
		return
	}
	_ = g.cfg.Store.MarkApprovalExecuted(ctx, id, out.TransferID, out.TxHash)
}

// assetArg turns a stored asset key back into an asset argument.
func assetArg(key string) string {
	if key == policy.NativeSymbol {
		return policy.NativeSymbol
	}
	return common.HexToAddress(key).Hex()
}
