package mcpserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkGetBalanceInProcess is get_balance through the in-process MCP
// client (no pipes, no process boundary), and the Guard and chain alone:
// where a read tool's time goes.
func BenchmarkGetBalanceInProcess(b *testing.B) {
	pol := strings.Replace(basePolicy(), "tool_calls_per_minute = 120", "tool_calls_per_minute = 100000", 1)
	e := newEnvTB(b, &testing.T{}, envOpts{policy: pol})
	addr := e.accounts[0].Hex()
	b.Run("mcp", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			res, err := e.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_balance", Arguments: map[string]any{"address": addr}})
			if err != nil || res.IsError {
				b.Fatal(err)
			}
		}
	})
	b.Run("guard", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := e.guard.Balance(context.Background(), addr, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("chain", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, _, err := e.dev.Balance(context.Background(), e.accounts[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetPolicyInProcess is get_policy through the in-process MCP
// client, and the Guard's PolicyInfo alone: where the largest read's time
// goes.
func BenchmarkGetPolicyInProcess(b *testing.B) {
	pol := strings.Replace(basePolicy(), "tool_calls_per_minute = 120", "tool_calls_per_minute = 100000", 1)
	e := newEnvTB(b, &testing.T{}, envOpts{policy: pol})
	b.Run("mcp", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			res, err := e.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_policy", Arguments: map[string]any{}})
			if err != nil || res.IsError {
				b.Fatal(err)
			}
		}
	})
	b.Run("guard", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := e.guard.PolicyInfo(context.Background(), e.accounts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
