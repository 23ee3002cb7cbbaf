package approval_test

import (
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/policy"
)

// TestApprovalOutcome: each approval status maps to one send_transfer
// outcome or error, and only an executed approval reports a transaction.
func TestApprovalOutcome(t *testing.T) {
	hash := common.HexToHash("0x01")
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		status   approvalstate.Status
		want     approval.OutcomeStatus
		wantCode policy.Code
	}{
		{approvalstate.Pending, approval.OutcomeApprovalRequired, ""},
		{approvalstate.Approved, approval.OutcomeApprovalRequired, ""},
		{approvalstate.Executed, approval.OutcomeSubmitted, ""},
		{approvalstate.Rejected, "", policy.CodePolicyDenied},
		{approvalstate.Expired, "", policy.CodeExpired},
		{approvalstate.Failed, "", policy.CodePolicyDenied},
	}
	for _, tt := range tests {
		a := &approval.ApprovalInfo{ID: "0123456789abcdef0123456789abcdef", Status: tt.status, ExpiresAt: exp}
		if tt.status == approvalstate.Executed {
			a.TxHash = &hash
		}
		o, err := a.Outcome("http://127.0.0.1:1/a/x/y")
		if tt.wantCode != "" {
			if o != nil || policy.CodeOf(err) != tt.wantCode {
				t.Errorf("%s: %+v %v, want error %s", tt.status, o, err, tt.wantCode)
			}
			continue
		}
		if err != nil || o.Status != tt.want || o.ApprovalID != a.ID {
			t.Fatalf("%s: %+v %v, want %s", tt.status, o, err, tt.want)
		}
		switch o.Status {
		case approval.OutcomeSubmitted:
			if o.TxHash != hash || o.ApprovalURL != "" {
				t.Errorf("%s: %+v", tt.status, o)
			}
		case approval.OutcomeApprovalRequired:
			if o.TxHash != (common.Hash{}) || o.ApprovalURL == "" || !o.ExpiresAt.Equal(exp) {
				t.Errorf("%s: %+v", tt.status, o)
			}
		}
	}
}
