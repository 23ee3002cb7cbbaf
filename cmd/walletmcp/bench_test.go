package main_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkGetBalanceStdio measures a read tool's round trip: the go-sdk
// client calls get_balance on a `walletmcp serve --dev` subprocess over its
// stdin/stdout. It reports p50 and p99 latency.
func BenchmarkGetBalanceStdio(b *testing.B) {
	home, _ := newHome(b, 1337)
	raiseRateLimit(b, home)
	s := startServe(b, home, "--dev").cs
	var accts struct {
		Accounts []struct {
			Address string `json:"address"`
		} `json:"accounts"`
	}
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_accounts", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		b.Fatal(err, res)
	}
	decode(b, res, &accts)
	args := map[string]any{"address": accts.Accounts[0].Address}
	for i := 0; i < 50; i++ { // warm up
		if _, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_balance", Arguments: args}); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_balance", Arguments: args})
		lat = append(lat, time.Since(start))
		if err != nil || res.IsError {
			b.Fatal(err, res)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// raiseRateLimit lifts the tool-call rate limit and re-attests the policy, so
// that a benchmark measures latency, not the limiter.
func raiseRateLimit(b testing.TB, home string) {
	p := filepath.Join(home, "policy.toml")
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	data = bytes.Replace(data, []byte("tool_calls_per_minute = 120"), []byte("tool_calls_per_minute = 100000"), 1)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		b.Fatal(err)
	}
	mustCLI(b, home, "policy", "attest")
}
