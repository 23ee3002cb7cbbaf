package main_test

import (
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/chain/gethtest"
)

// TestTwoServesShareToolCallRate: two `serve` processes on one home
// together answer at most rate.tool_calls_per_minute tool calls, not that
// many each, and a process started later does not start with a fresh
// allowance. Every refused call is rate_limited and names the rule.
func TestTwoServesShareToolCallRate(t *testing.T) {
	node := gethtest.Start(t)
	home, _ := newHome(t, 1337)
	setPolicy(t, home, "tool_calls_per_minute = 120", "tool_calls_per_minute = 10")
	servers := []*server{startServe(t, home, "--rpc", node.URL), startServe(t, home, "--rpc", node.URL)}
	answered := 0
	for i := range 30 {
		res := servers[i%2].call("list_accounts", map[string]any{}, nil)
		if !res.IsError {
			answered++
			continue
		}
		text := res.Content[0].(*mcp.TextContent).Text
		if !strings.Contains(text, "rate_limited") || !strings.Contains(text, "rate.tool_calls_per_minute") {
			t.Fatalf("call %d refused with %q, want rate_limited naming rate.tool_calls_per_minute", i, text)
		}
	}
	// The allowance refills at 10 a minute: one more may come due while the
	// 30 calls run.
	if answered < 10 || answered > 11 {
		t.Fatalf("two processes answered %d of 30 calls, want 10 (the policy's 10 per minute)", answered)
	}
	for _, s := range servers {
		s.stop()
	}
	// A restarted process continues the same count.
	late := startServe(t, home, "--rpc", node.URL)
	defer late.stop()
	if res := late.call("list_accounts", map[string]any{}, nil); !res.IsError {
		t.Fatal("a serve started after the allowance was used answered at once")
	}
}
