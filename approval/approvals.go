package approval

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/store"
)

// ApprovalView is a pending approval as an agent may see it (get_approval).
type ApprovalView struct {
	ApprovalID string  `json:"approval_id"`
	Status     string  `json:"status" jsonschema:"pending, approved, rejected, expired, executed or failed"`
	TxHash     string  `json:"tx_hash,omitempty"`
	ExpiresAt  string  `json:"expires_at"`
	Error      string  `json:"error,omitempty"`
	Summary    Summary `json:"summary"`
}

// StoredSummary is the summary JSON a parked approval keeps: the
// clear-signing Summary (its fields inline, so that it decodes as a Summary)
// and the reasons the policy sent the transfer to a human, which the CLI and
// the approval page show.
type StoredSummary struct {
	Summary
	// Reasons are the rules whose verdict was approval_required.
	Reasons []Reason `json:"reasons,omitempty"`
}

// ApprovalReasons returns the reasons whose verdict is approval_required.
func ApprovalReasons(rs []Reason) []Reason {
	var out []Reason
	for _, r := range rs {
		if r.Verdict == ApprovalRequired.String() {
			out = append(out, r)
		}
	}
	return out
}

// executorInterval is how often the executor looks for approved transfers
// decided in another process (the CLI); approvals through this process's
// page are picked up at once through Kick.
const executorInterval = 400 * time.Millisecond

// Approval returns the view of approval id (expired lazily).
func (g *Guard) Approval(ctx context.Context, id string) (*ApprovalView, error) {
	if g.cfg.Approvals == nil {
		return nil, Errorf(CodeNotFound, "approval_id: no such approval")
	}
	a, err := g.cfg.Approvals.Get(ctx, id)
	if err != nil {
		if errors.Is(err, pending.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
			return nil, Errorf(CodeNotFound, "approval_id: no such approval")
		}
		return nil, Errorf(CodeInternal, "reading the approval failed")
	}
	v := &ApprovalView{ApprovalID: a.ID, Status: a.Status, ExpiresAt: a.ExpiresAt.UTC().Format(time.RFC3339)}
	if a.TxHash != nil {
		v.TxHash = a.TxHash.Hex()
	}
	if a.Status == store.ApprovalFailed {
		v.Error = Sanitize(a.Error, 300)
	}
	if err := json.Unmarshal(a.Summary, &v.Summary); err != nil {
		return nil, Errorf(CodeInternal, "the stored summary does not decode")
	}
	return v, nil
}

// approvalOutcome renders approval id as a send_transfer outcome.
func (g *Guard) approvalOutcome(ctx context.Context, id, url string) (*Outcome, error) {
	v, err := g.Approval(ctx, id)
	if err != nil {
		return nil, err
	}
	exp, _ := time.Parse(time.RFC3339, v.ExpiresAt)
	switch v.Status {
	case store.ApprovalExecuted:
		return &Outcome{Status: "submitted", TxHash: common.HexToHash(v.TxHash), ApprovalID: id, Summary: v.Summary}, nil
	case store.ApprovalRejected:
		return nil, Errorf(CodePolicyDenied, "approval %s was rejected by the human", id)
	case store.ApprovalExpired:
		return nil, Errorf(CodeExpired, "approval %s expired before a human approved it", id)
	case store.ApprovalFailed:
		return nil, Errorf(CodePolicyDenied, "approval %s was approved but not executed: %s", id, v.Error)
	}
	return &Outcome{Status: "approval_required", ApprovalID: id, ApprovalURL: url, ExpiresAt: exp, Summary: v.Summary}, nil
}

// RejectApproval rejects a pending approval on the human's behalf (an
// elicitation the human declined). Rejecting never moves funds.
func (g *Guard) RejectApproval(ctx context.Context, id, channel string) error {
	if g.cfg.Approvals == nil {
		return Errorf(CodeNotFound, "approval_id: no such approval")
	}
	return g.cfg.Approvals.Reject(ctx, id, channel)
}

// Kick asks the executor to look for approved transfers now.
func (g *Guard) Kick() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// RunApprovals executes approved transfers until ctx ends: the human's
// approval (from the CLI, the page or another process) is acted on within
// executorInterval, with no further agent action. Pending approvals past
// their expiry are marked expired.
func (g *Guard) RunApprovals(ctx context.Context) {
	if g.cfg.Approvals == nil {
		return
	}
	t := time.NewTicker(executorInterval)
	defer t.Stop()
	for {
		if _, err := g.cfg.Store.ExpireApprovals(ctx, g.now()); err != nil && ctx.Err() == nil {
			_ = g.cfg.Audit.Enqueue(audit.TypeSecurity, map[string]any{"event": "executor_error", "error": "expiring approvals failed"})
		}
		list, err := g.cfg.Store.ApprovedToExecute(ctx)
		if err == nil {
			for _, a := range list {
				g.ExecuteApproval(ctx, a)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.kick:
		}
	}
}

// ExecuteApproval signs and broadcasts an approved transfer. The intent is
// re-derived from the stored request and must match the digest the human
// approved; the policy is evaluated again (limits still deny; the human's
// approval satisfies "approval required"). A transfer keyed by the approval
// makes a crash between signing and bookkeeping harmless: the retry finds it.
func (g *Guard) ExecuteApproval(ctx context.Context, a *store.Approval) {
	ctx = context.WithoutCancel(ctx)
	failApproval := func(reason string) {
		_ = g.cfg.Store.MarkApprovalFailed(ctx, a.ID, reason)
		_ = g.cfg.Audit.Enqueue(audit.TypeVerdict, map[string]any{"op": "execute_approval", "id": a.ID, "verdict": "deny", "reason": reason})
	}
	// A chain error is transient: leave the approval approved for the next
	// round, unless it has expired. Anything else fails it.
	retryLater := func(err error) bool {
		return CodeOf(err) == CodeChainError && !g.now().After(a.ExpiresAt)
	}
	ref, err := g.resolveAsset(ctx, "asset", assetArg(a.Asset), false)
	if err != nil {
		if !retryLater(err) {
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
	if err != nil {
		if !retryLater(err) {
			failApproval(err.Error())
		}
		return
	}
	lock := g.accountLock(in.From)
	lock.Lock()
	key := "approval-" + a.ID
	ah := argsHash(in)
	if prev, err := g.cfg.Store.TransferByKey(ctx, key); err == nil {
		lock.Unlock()
		out, err := g.replay(ctx, prev, ah)
		g.finishApproval(ctx, a.ID, out, err)
		return
	}
	p := g.decide(in, lim, cf)
	if p.decision.Verdict == Deny {
		lock.Unlock()
		g.auditVerdict("execute_approval", a.ID, p)
		failApproval((&DenyError{Decision: p.decision}).Error())
		return
	}
	t, h, err := g.reserve(ctx, p, key, ah, store.KindApproved)
	lock.Unlock()
	if err != nil {
		failApproval(err.Error())
		return
	}
	out, err := g.executeReserved(ctx, t, p, h)
	g.finishApproval(ctx, a.ID, out, err)
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
	if key == NativeSymbol {
		return NativeSymbol
	}
	return common.HexToAddress(key).Hex()
}
