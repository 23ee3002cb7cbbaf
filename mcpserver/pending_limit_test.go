package mcpserver_test

import (
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/policy"
)

// TestMaxPendingThroughSendTransfer: an agent that floods send_transfer with
// transfers needing a human gets rate_limited once its account has
// max_pending approvals waiting; another account still parks, so a real
// request is never hidden behind junk.
func TestMaxPendingThroughSendTransfer(t *testing.T) {
	e := newEnv(t, envOpts{policy: policy.PolicyTemplate(1337), accounts: 2})
	to := func(i int) string { return common.BigToAddress(big.NewInt(int64(0x10000 + i))).Hex() }
	for i := 0; i < pending.DefaultMaxPending; i++ {
		var out struct {
			Status string `json:"status"`
		}
		e.ok("send_transfer", map[string]any{"from": e.accounts[0].Hex(), "to": to(i), "amount": "0.01"}, &out)
		if out.Status != "approval_required" {
			t.Fatalf("transfer %d: %s, want approval_required", i, out.Status)
		}
	}
	for i := 0; i < 3; i++ {
		msg := e.fail("send_transfer", map[string]any{"from": e.accounts[0].Hex(), "to": to(100 + i), "amount": "0.01"}, "rate_limited")
		if !strings.Contains(msg, "max_pending") {
			t.Fatalf("flood refusal %q does not name approval.max_pending", msg)
		}
	}
	var out struct {
		Status string `json:"status"`
	}
	e.ok("send_transfer", map[string]any{"from": e.accounts[1].Hex(), "to": to(0), "amount": "0.01"}, &out)
	if out.Status != "approval_required" {
		t.Fatalf("the other account: %s, want approval_required", out.Status)
	}
}
