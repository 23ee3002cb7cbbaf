package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/chain/gethtest"
)

// TestTwoServesShareToolCallRate: two `serve` processes on one home
// together answer at most rate.tool_calls_per_minute tool calls, not that
// many each, and a process started later does not start with a fresh
// allowance. Every refused call is rate_limited and names the rule. The
// limit is 1 a minute, so that the allowance cannot come back while the
// test runs on a loaded machine (it refills one call per minute).
func TestTwoServesShareToolCallRate(t *testing.T) {
	node := gethtest.Start(t)
	home, _ := newHome(t, 1337)
	setPolicy(t, home, "tool_calls_per_minute = 120", "tool_calls_per_minute = 1")
	servers := []*server{startServe(t, home, "--rpc", node.URL), startServe(t, home, "--rpc", node.URL)}
	first := time.Now()
	answered := 0
	for i := range 10 {
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
	// One call, plus one per whole minute the calls took.
	if most := 1 + int(time.Since(first)/time.Minute); answered < 1 || answered > most {
		t.Fatalf("two processes answered %d of 10 calls, want 1 (the policy's 1 per minute; at most %d in %s)", answered, most, time.Since(first))
	}
	for _, s := range servers {
		s.stop()
	}
	// A restarted process continues the same count.
	late := startServe(t, home, "--rpc", node.URL)
	defer late.stop()
	res := late.call("list_accounts", map[string]any{}, nil)
	if took := time.Since(first); took >= 50*time.Second {
		t.Logf("the restart came %s after the first call; the allowance may have come back: not checked", took)
		return
	}
	if !res.IsError {
		t.Fatal("a serve started after the allowance was used answered at once")
	}
}
