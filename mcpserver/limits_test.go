package mcpserver_test

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/mcpserver"
	"github.com/walletmcp/walletmcp/policy"
)

// tkResult is one concurrent tool call's outcome.
type tkResult struct {
	res *mcp.CallToolResult
	err error
}

// tkConcurrent runs n calls of tool with args(i) at once (released together)
// and returns their outcomes in order. It never touches e.t from the
// goroutines: the caller checks the outcomes.
func tkConcurrent(e *env, n int, tool string, args func(i int) map[string]any) []tkResult {
	out := make([]tkResult, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			out[i].res, out[i].err = e.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args(i)})
		}(i)
	}
	close(start)
	wg.Wait()
	return out
}

// tkSends sorts the outcomes of concurrent send_transfer calls: transaction
// hashes of the submitted ones, approval ids of the parked ones, messages of
// the policy_denied ones. Anything else fails the test.
func tkSends(e *env, rs []tkResult) (hashes, approvals, denied []string) {
	e.t.Helper()
	for i, r := range rs {
		if r.err != nil {
			e.t.Fatalf("call %d: protocol error: %v", i, r.err)
		}
		e.scan(r.res)
		if r.res.IsError {
			msg := text(r.res)
			if !strings.HasPrefix(msg, "policy_denied: ") {
				e.t.Fatalf("call %d: unexpected error %q", i, msg)
			}
			denied = append(denied, msg)
			continue
		}
		sc, _ := r.res.StructuredContent.(map[string]any)
		switch st, _ := sc["status"].(string); st {
		case "submitted":
			h, _ := sc["tx_hash"].(string)
			if len(h) != 66 {
				e.t.Fatalf("call %d: submitted without a hash: %v", i, sc)
			}
			hashes = append(hashes, h)
		case "approval_required":
			id, _ := sc["approval_id"].(string)
			if id == "" {
				e.t.Fatalf("call %d: approval_required without an id: %v", i, sc)
			}
			approvals = append(approvals, id)
		default:
			e.t.Fatalf("call %d: status %q", i, st)
		}
	}
	return hashes, approvals, denied
}

// tkRemaining returns get_policy's window figures for account 0 and asset.
func tkRemaining(e *env, asset string) mcpserver.RemainingView {
	e.t.Helper()
	var v mcpserver.PolicyView
	e.ok("get_policy", map[string]any{"address": e.accounts[0].Hex()}, &v)
	for _, r := range v.Remaining {
		if r.Asset == asset {
			return r
		}
	}
	e.t.Fatalf("get_policy has no remaining figures for %s: %+v", asset, v.Remaining)
	return mcpserver.RemainingView{}
}

// tkFinal polls get_approval until the approval is executed or failed and
// returns its view (a liveness bound, not a timing assertion).
func tkFinal(e *env, id string) mcpserver.ApprovalView {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var v mcpserver.ApprovalView
	for time.Now().Before(deadline) {
		e.ok("get_approval", map[string]any{"approval_id": id}, &v)
		switch v.Status {
		case "executed", "failed":
			return v
		case "pending", "approved":
		default:
			e.t.Fatalf("approval %s is %s (%s)", id, v.Status, v.Error)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("approval %s still %s after 20s", id, v.Status)
	return v
}

// tkApproveOnly approves id as the human would, without waiting.
func tkApproveOnly(e *env, id string) {
	e.t.Helper()
	if err := e.approvals.Approve(context.Background(), id, e.code(), "web"); err != nil {
		e.t.Fatalf("approve %s: %v", id, err)
	}
	e.guard.Kick()
}

// tkWei parses a decimal ETH amount.
func tkWei(t *testing.T, s string) *big.Int {
	t.Helper()
	v, err := policy.ParseAmount("amount", s, 18)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestConcurrentSendsStopAtWindowAutoMax: 100 agents racing to auto-sign
// 0.05 ETH each under window_auto_max = 1 get exactly 20 signatures without
// a human; the other 80 are parked (or denied), never signed.
func TestConcurrentSendsStopAtWindowAutoMax(t *testing.T) {
	// Up to 80 parked approvals: above the default max_pending.
	e := newEnv(t, envOpts{policy: tkPolicyText("0.1", "5", "1", "10", ""), maxPending: 1000})
	from := e.accounts[0].Hex()
	const n = 100
	rs := tkConcurrent(e, n, "send_transfer", func(int) map[string]any {
		return map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.05"}
	})
	hashes, approvals, denied := tkSends(e, rs)
	if len(hashes) != 20 || len(approvals)+len(denied) != 80 {
		t.Fatalf("%d submitted, %d approval_required, %d denied; want exactly 20 submitted and 80 others", len(hashes), len(approvals), len(denied))
	}
	for _, msg := range denied {
		if !strings.Contains(msg, "window") {
			t.Errorf("denial %q does not name a window rule", msg)
		}
	}
	for _, h := range hashes {
		if st := e.waitMined(h); st != "success" {
			t.Fatalf("%s: %s", h, st)
		}
	}
	if got, want := e.balance(recipient), tkWei(t, "1"); got.Cmp(want) != 0 {
		t.Fatalf("recipient got %s wei without a human, want exactly %s", got, want)
	}
	r := tkRemaining(e, "ETH")
	if r.AutoUsed != "1" || r.AutoRemaining != "0" || r.TotalUsed != "1" || r.TotalRemaining != "9" {
		t.Fatalf("get_policy remaining %+v, want auto 1 used, 0 left; total 1 used, 9 left", r)
	}
	for _, id := range approvals {
		var v mcpserver.ApprovalView
		e.ok("get_approval", map[string]any{"approval_id": id}, &v)
		if v.Status != "pending" || v.TxHash != "" {
			t.Fatalf("parked approval %s: %+v", id, v)
		}
	}
	// The window is spent: even the smallest transfer now needs a human.
	var prep tkPrepared
	e.ok("prepare_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.000001"}, &prep)
	if prep.Verdict != "approval_required" || !tkHasRule(prep.Reasons, policy.RuleWindowAutoMax, "approval_required") {
		t.Fatalf("after the window: %s %+v", prep.Verdict, prep.Reasons)
	}
}

// TestConcurrentApprovalsNeverExceedWindowMax: approvals parked while the
// window was empty are re-checked when the human approves them; those that
// would take the window past window_max fail instead of being signed.
func TestConcurrentApprovalsNeverExceedWindowMax(t *testing.T) {
	pol := tkPolicyText("0.1", "1", "1", "2", "")
	limit := tkWei(t, "2")

	t.Run("approvals only", func(t *testing.T) {
		e := newEnv(t, envOpts{policy: pol})
		from := e.accounts[0].Hex()
		rs := tkConcurrent(e, 20, "send_transfer", func(int) map[string]any {
			return map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.6"}
		})
		hashes, approvals, denied := tkSends(e, rs)
		if len(hashes) != 0 || len(denied) != 0 || len(approvals) != 20 {
			t.Fatalf("%d submitted, %d parked, %d denied; want all 20 parked", len(hashes), len(approvals), len(denied))
		}
		for _, id := range approvals {
			tkApproveOnly(e, id)
		}
		executed := 0
		for _, id := range approvals {
			v := tkFinal(e, id)
			switch v.Status {
			case "executed":
				executed++
				if st := e.waitMined(v.TxHash); st != "success" {
					t.Fatalf("%s: %s", v.TxHash, st)
				}
			case "failed":
				if v.TxHash != "" || !strings.Contains(v.Error, policy.RuleWindowMax) {
					t.Errorf("failed approval %s: %+v (want a window_max refusal and no transaction)", id, v)
				}
			}
		}
		// 3 × 0.6 = 1.8 fits in window_max 2; a fourth would make 2.4.
		if executed != 3 {
			t.Fatalf("%d approvals executed, want 3", executed)
		}
		if got, want := e.balance(recipient), tkWei(t, "1.8"); got.Cmp(want) != 0 {
			t.Fatalf("recipient got %s wei, want %s", got, want)
		}
		if r := tkRemaining(e, "ETH"); r.TotalUsed != "1.8" || r.TotalRemaining != "0.2" || r.AutoUsed != "0" {
			t.Fatalf("get_policy remaining %+v", r)
		}
	})

	t.Run("approvals racing auto-approved sends", func(t *testing.T) {
		// 20 parked, and auto sends beyond window_auto_max park too.
		e := newEnv(t, envOpts{policy: pol, maxPending: 1000})
		from := e.accounts[0].Hex()
		rs := tkConcurrent(e, 20, "send_transfer", func(int) map[string]any {
			return map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.6"}
		})
		_, approvals, _ := tkSends(e, rs)
		if len(approvals) != 20 {
			t.Fatalf("%d parked, want 20", len(approvals))
		}
		// 30 agents send 0.1 ETH while the human approves the 20.
		var autos []tkResult
		done := make(chan struct{})
		go func() {
			defer close(done)
			autos = tkConcurrent(e, 30, "send_transfer", func(int) map[string]any {
				return map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.1"}
			})
		}()
		for _, id := range approvals {
			tkApproveOnly(e, id)
		}
		<-done
		autoHashes, _, denied := tkSends(e, autos)
		for _, msg := range denied {
			if !strings.Contains(msg, policy.RuleWindowMax) {
				t.Errorf("auto send denied for another reason: %q", msg)
			}
		}
		signed := new(big.Int)
		var hashes []string
		for _, h := range autoHashes {
			signed.Add(signed, tkWei(t, "0.1"))
			hashes = append(hashes, h)
		}
		for _, id := range approvals {
			if v := tkFinal(e, id); v.Status == "executed" {
				signed.Add(signed, tkWei(t, "0.6"))
				hashes = append(hashes, v.TxHash)
			} else if !strings.Contains(v.Error, policy.RuleWindowMax) {
				t.Errorf("approval %s failed for another reason: %q", id, v.Error)
			}
		}
		if len(autoHashes) > 10 {
			t.Errorf("%d auto-approved sends of 0.1 ETH under window_auto_max 1", len(autoHashes))
		}
		if signed.Cmp(limit) > 0 {
			t.Fatalf("signed %s wei in the window, above window_max %s", signed, limit)
		}
		for _, h := range hashes {
			if st := e.waitMined(h); st != "success" {
				t.Fatalf("%s: %s", h, st)
			}
		}
		if got := e.balance(recipient); got.Cmp(signed) != 0 {
			t.Fatalf("recipient got %s wei, the tool results account for %s", got, signed)
		}
	})
}

// TestLimitWindowAcrossRestart: spends recorded before a restart still count
// against the window afterwards (the ledger is rebuilt from the store).
func TestLimitWindowAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	pol := tkPolicyText("0.1", "5", "0.2", "10", "")
	{
		e := newEnv(t, envOpts{dir: dir, policy: pol})
		for i := 0; i < 3; i++ {
			var out tkSent
			e.ok("send_transfer", map[string]any{"from": e.accounts[0].Hex(), "to": recipient.Hex(), "amount": "0.05"}, &out)
			if out.Status != "submitted" {
				t.Fatalf("send %d: %+v", i, out)
			}
			e.waitMined(out.TxHash)
		}
		if r := tkRemaining(e, "ETH"); r.AutoUsed != "0.15" {
			t.Fatalf("before restart: %+v", r)
		}
		e.close()
	}
	// A new server on the same state and the same (persisted) dev chain.
	e := newEnv(t, envOpts{dir: dir, policy: pol})
	from := e.accounts[0].Hex()
	if got, want := e.balance(recipient), tkWei(t, "0.15"); got.Cmp(want) != 0 {
		t.Fatalf("after the restart the recipient has %s, want %s", got, want)
	}
	if r := tkRemaining(e, "ETH"); r.AutoUsed != "0.15" || r.AutoRemaining != "0.05" || r.TotalUsed != "0.15" || r.TotalRemaining != "9.85" {
		t.Fatalf("after restart: %+v, want auto_used 0.15", r)
	}
	cases := []struct {
		name, amount, verdict string
	}{
		// 0.15 + 0.1 > 0.2; on an empty window 0.1 would be allowed.
		{"above what the earlier spends left", "0.1", "approval_required"},
		{"within what the earlier spends left", "0.05", "allow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.with(t)
			var prep tkPrepared
			e.ok("prepare_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": c.amount}, &prep)
			if prep.Verdict != c.verdict || !tkHasRule(prep.Reasons, policy.RuleWindowAutoMax, c.verdict) {
				t.Fatalf("verdict %s, want %s with rule window_auto_max: %+v", prep.Verdict, c.verdict, prep.Reasons)
			}
		})
	}
	var out tkSent
	e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.04"}, &out)
	if out.Status != "submitted" {
		t.Fatalf("within what the window left: %+v", out)
	}
	e.waitMined(out.TxHash)
	e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.02"}, &out)
	if out.Status != "approval_required" {
		t.Fatalf("beyond window_auto_max after restart: %+v", out)
	}
	if r := tkRemaining(e, "ETH"); r.AutoUsed != "0.19" || r.AutoRemaining != "0.01" {
		t.Fatalf("end: %+v", r)
	}
	if got, want := e.balance(recipient), tkWei(t, "0.19"); got.Cmp(want) != 0 {
		t.Fatalf("recipient got %s, want %s", got, want)
	}
}

// TestLimitDevRestartContinuesTheChain: after a restart on the same home
// the dev chain is the one before (kept in the home), so the same transfer
// made again is a new transaction with the next nonce, and both are mined.
func TestLimitDevRestartContinuesTheChain(t *testing.T) {
	dir := t.TempDir()
	pol := tkPolicyText("0.1", "5", "1", "10", "")
	args := func(e *env) map[string]any {
		return map[string]any{"from": e.accounts[0].Hex(), "to": recipient.Hex(), "amount": "0.05"}
	}
	var first, second tkSent
	{
		e := newEnv(t, envOpts{dir: dir, policy: pol})
		e.ok("send_transfer", args(e), &first)
		e.waitMined(first.TxHash)
		e.close()
	}
	e := newEnv(t, envOpts{dir: dir, policy: pol})
	e.ok("send_transfer", args(e), &second)
	if second.Status != "submitted" || second.TxHash == first.TxHash {
		t.Fatalf("got %+v after %+v", second, first)
	}
	if st := e.waitMined(second.TxHash); st != "success" {
		t.Fatalf("%s", st)
	}
	if n := e.nonceOf(second.TxHash); n != 1 {
		t.Fatalf("nonce %d after a restart, want 1", n)
	}
	if got, want := e.balance(recipient), tkWei(t, "0.1"); got.Cmp(want) != 0 {
		t.Fatalf("recipient got %s, want %s", got, want)
	}
}

// TestLyingNodeStillCounts: a node that accepts each transaction and then
// answers the broadcast with an error, and cannot say what became of it,
// moves coins all the same. Every such transfer stays counted ("submitted"
// to the agent, with its hash), so twenty 0.1 ETH sends move exactly
// window_auto_max (1 ETH) and the rest need a human. Before, each was marked
// failed and uncounted, and twenty moved 2 ETH.
func TestLyingNodeStillCounts(t *testing.T) {
	fc := &faultyChain{}
	pol := strings.Replace(tkPolicyText("0.1", "5", "1", "10", ""), "new_recipient_approval = true", "new_recipient_approval = false", 1)
	e := newEnv(t, envOpts{policy: pol, chainWrap: func(c chain.Chain) chain.Chain { fc.Chain = c; return fc }})
	from := e.accounts[0].Hex()
	fc.lieSend.Store(true)
	fc.failStatus.Store(true)
	var hashes []string
	var parked int
	for i := range 20 {
		var out tkSent
		e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.1", "idempotency_key": fmt.Sprintf("lie-%d", i)}, &out)
		switch out.Status {
		case "submitted":
			if out.TxHash == "" {
				t.Fatalf("send %d: submitted without a hash", i)
			}
			hashes = append(hashes, out.TxHash)
		case "approval_required":
			parked++
		default:
			t.Fatalf("send %d: %+v", i, out)
		}
	}
	if len(hashes) != 10 || parked != 10 {
		t.Fatalf("%d submitted and %d parked; want 10 and 10 (window_auto_max 1 ETH at 0.1 each)", len(hashes), parked)
	}
	fc.failStatus.Store(false)
	for _, h := range hashes {
		e.waitMined(h)
	}
	if got, want := e.balance(recipient), tkWei(t, "1"); got.Cmp(want) != 0 {
		t.Fatalf("recipient got %s, want exactly %s", got, want)
	}
	if r := tkRemaining(e, "ETH"); r.AutoUsed != "1" {
		t.Fatalf("window after the lies: %+v, want auto_used 1", r)
	}
	// An idempotent retry answers with the same hash: nothing is sent twice.
	var again tkSent
	e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.1", "idempotency_key": "lie-0"}, &again)
	if again.TxHash != hashes[0] {
		t.Fatalf("retry of lie-0: %+v, want %s", again, hashes[0])
	}
}

// TestNodeForgetsTransaction: a transaction the node took and then lost
// (it answers not_found) is still ours and may have left: get_transaction
// says pending, the window counts it, its nonce is never handed out again
// (even when the node's pending nonce goes back), and the settling loop
// re-broadcasts the stored bytes until it is mined.
func TestNodeForgetsTransaction(t *testing.T) {
	fc := &faultyChain{}
	pol := strings.Replace(tkPolicyText("0.1", "5", "1", "10", ""), "new_recipient_approval = true", "new_recipient_approval = false", 1)
	e := newEnv(t, envOpts{policy: pol, chainWrap: func(c chain.Chain) chain.Chain { fc.Chain = c; return fc }})
	from := e.accounts[0].Hex()
	fc.failSend.Store(true) // the bytes never reach the node, the caller cannot know
	var first tkSent
	e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.05"}, &first)
	if first.Status != "submitted" || first.TxHash == "" {
		t.Fatalf("unknown outcome: %+v, want submitted with a hash", first)
	}
	var st struct {
		Status string `json:"status"`
	}
	e.ok("get_transaction", map[string]any{"tx_hash": first.TxHash}, &st)
	if st.Status != "pending" {
		t.Fatalf("get_transaction of a possibly-sent transfer: %s, want pending", st.Status)
	}
	if r := tkRemaining(e, "ETH"); r.AutoUsed != "0.05" {
		t.Fatalf("window: %+v, want auto_used 0.05", r)
	}
	fc.failSend.Store(false)
	fc.lieNonce.Store(true)
	var second tkSent
	e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.02"}, &second)
	fc.lieNonce.Store(false)
	// The settling loop (the server's background pass) re-broadcasts the
	// first; both are mined, with distinct nonces.
	e.waitMined(first.TxHash)
	e.waitMined(second.TxHash)
	if n1, n2 := e.nonceOf(first.TxHash), e.nonceOf(second.TxHash); n1 == n2 {
		t.Fatalf("nonce %d handed out twice", n1)
	}
	if got, want := e.balance(recipient), tkWei(t, "0.07"); got.Cmp(want) != 0 {
		t.Fatalf("recipient got %s, want %s", got, want)
	}
}

// TestRefusalOfAKnownTransactionStillCounts: a node that takes a
// transaction and then answers with a definite refusal ("nonce too low")
// does not uncount it: asked right after, it knows the transaction, so the
// transfer may have left, stays counted and is mined.
func TestRefusalOfAKnownTransactionStillCounts(t *testing.T) {
	fc := &faultyChain{}
	pol := strings.Replace(tkPolicyText("0.1", "5", "1", "10", ""), "new_recipient_approval = true", "new_recipient_approval = false", 1)
	e := newEnv(t, envOpts{policy: pol, chainWrap: func(c chain.Chain) chain.Chain { fc.Chain = c; return fc }})
	fc.lieReject.Store(true)
	var out tkSent
	e.ok("send_transfer", map[string]any{"from": e.accounts[0].Hex(), "to": recipient.Hex(), "amount": "0.05"}, &out)
	if out.Status != "submitted" || out.TxHash == "" {
		t.Fatalf("got %+v, want submitted with a hash", out)
	}
	fc.lieReject.Store(false)
	e.waitMined(out.TxHash)
	if r := tkRemaining(e, "ETH"); r.AutoUsed != "0.05" {
		t.Fatalf("window: %+v, want auto_used 0.05", r)
	}
	if got, want := e.balance(recipient), tkWei(t, "0.05"); got.Cmp(want) != 0 {
		t.Fatalf("recipient got %s, want %s", got, want)
	}
}
