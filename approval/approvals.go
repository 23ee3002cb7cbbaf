package approval

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// ApprovalInfo is a stored approval as the Guard reports it: what
// get_approval shows (mcpserver renders it) and what a resumed send_transfer
// answers (Outcome).
type ApprovalInfo struct {
	ID        string
	Status    approvalstate.Status
	TxHash    *common.Hash // set once executed
	ExpiresAt time.Time
	Error     string // why executing failed (sanitised); set only when failed
	Summary   policy.Summary
}

// Approval returns approval id (expired lazily).
func (g *Guard) Approval(ctx context.Context, id string) (*ApprovalInfo, error) {
	if g.cfg.Approvals == nil {
		return nil, policy.Errorf(policy.CodeNotFound, "approval_id: no such approval")
	}
	a, err := g.cfg.Approvals.Get(ctx, id)
	if err != nil {
		if errors.Is(err, pending.ErrNotFound) || errors.Is(err, store.ErrNotFound) {
			return nil, policy.Errorf(policy.CodeNotFound, "approval_id: no such approval")
		}
		return nil, policy.Errorf(policy.CodeInternal, "reading the approval failed")
	}
	v := &ApprovalInfo{ID: a.ID, Status: a.Status, TxHash: a.TxHash, ExpiresAt: a.ExpiresAt.UTC().Truncate(time.Second)}
	if a.Status == approvalstate.Failed {
		v.Error = policy.Sanitize(a.Error, 300)
	}
	if err := json.Unmarshal(a.Summary, &v.Summary); err != nil {
		return nil, policy.Errorf(policy.CodeInternal, "the stored summary does not decode")
	}
	return v, nil
}

// Outcome is what send_transfer reports for the approval: submitted once
// executed, an error once rejected, expired or failed, and otherwise
// approval_required (with url, the approval page's link, when known). This is
// the one mapping from an approval's status to a send_transfer outcome.
func (a *ApprovalInfo) Outcome(url string) (*Outcome, error) {
	switch a.Status {
	case approvalstate.Executed:
		o := &Outcome{Status: OutcomeSubmitted, ApprovalID: a.ID, Summary: a.Summary}
		if a.TxHash != nil {
			o.TxHash = *a.TxHash
		}
		return o, nil
	case approvalstate.Rejected:
		return nil, policy.Errorf(policy.CodePolicyDenied, "approval %s was rejected by the human; nothing was sent", a.ID)
	case approvalstate.Expired:
		return nil, policy.Errorf(policy.CodeExpired, "approval %s expired before a human approved it", a.ID)
	case approvalstate.Failed:
		return nil, policy.Errorf(policy.CodePolicyDenied, "approval %s was approved but not executed: %s", a.ID, a.Error)
	}
	return &Outcome{Status: OutcomeApprovalRequired, ApprovalID: a.ID, ApprovalURL: url, ExpiresAt: a.ExpiresAt, Summary: a.Summary}, nil
}

// approvalOutcome renders approval id as a send_transfer outcome.
func (g *Guard) approvalOutcome(ctx context.Context, id, url string) (*Outcome, error) {
	a, err := g.Approval(ctx, id)
	if err != nil {
		return nil, err
	}
	return a.Outcome(url)
}
