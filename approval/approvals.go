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

// ApprovalView is a pending approval as an agent may see it (get_approval).
type ApprovalView struct {
	ApprovalID string               `json:"approval_id"`
	Status     approvalstate.Status `json:"status" jsonschema:"pending, approved, rejected, expired, executed or failed"`
	TxHash     string               `json:"tx_hash,omitempty"`
	ExpiresAt  string               `json:"expires_at"`
	Error      string               `json:"error,omitempty"`
	Summary    policy.Summary       `json:"summary"`
}

// Approval returns the view of approval id (expired lazily).
func (g *Guard) Approval(ctx context.Context, id string) (*ApprovalView, error) {
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
	v := &ApprovalView{ApprovalID: a.ID, Status: a.Status, ExpiresAt: a.ExpiresAt.UTC().Format(time.RFC3339)}
	if a.TxHash != nil {
		v.TxHash = a.TxHash.Hex()
	}
	if a.Status == approvalstate.Failed {
		v.Error = policy.Sanitize(a.Error, 300)
	}
	if err := json.Unmarshal(a.Summary, &v.Summary); err != nil {
		return nil, policy.Errorf(policy.CodeInternal, "the stored summary does not decode")
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
	case approvalstate.Executed:
		return &Outcome{Status: "submitted", TxHash: common.HexToHash(v.TxHash), ApprovalID: id, Summary: v.Summary}, nil
	case approvalstate.Rejected:
		return nil, policy.Errorf(policy.CodePolicyDenied, "approval %s was rejected by the human", id)
	case approvalstate.Expired:
		return nil, policy.Errorf(policy.CodeExpired, "approval %s expired before a human approved it", id)
	case approvalstate.Failed:
		return nil, policy.Errorf(policy.CodePolicyDenied, "approval %s was approved but not executed: %s", id, v.Error)
	}
	return &Outcome{Status: "approval_required", ApprovalID: id, ApprovalURL: url, ExpiresAt: exp, Summary: v.Summary}, nil
}

// RejectApproval rejects a pending approval on the human's behalf (an
// elicitation the human declined). Rejecting never moves funds.
func (g *Guard) RejectApproval(ctx context.Context, id, channel string) error {
	if g.cfg.Approvals == nil {
		return policy.Errorf(policy.CodeNotFound, "approval_id: no such approval")
	}
	return g.cfg.Approvals.Reject(ctx, id, channel)
}
