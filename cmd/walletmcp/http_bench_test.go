package main_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/mcpserver/mcphttp"
)

// BenchmarkGetBalanceTransports compares a get_balance round trip over
// stdio (a serve --dev subprocess), over streamable HTTP (a serve --dev
// --http unix:PATH daemon, go-sdk client with a bearer token) and through
// the bridge (walletmcp connect to that daemon), in one run. It reports
// p50 and p99 latency per transport.
func BenchmarkGetBalanceTransports(b *testing.B) {
	stdioHome, addr := newHome(b, 1337)
	raiseRateLimit(b, stdioHome)
	httpHome, httpAddr := newHome(b, 1337)
	raiseRateLimit(b, httpHome)
	f, err := os.OpenFile(filepath.Join(httpHome, "config.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.WriteString("\n[http]\nrequests_per_minute = 100000000\n"); err != nil {
		b.Fatal(err)
	}
	f.Close()
	dir, err := os.MkdirTemp("", "wm")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	sock := "unix:" + filepath.Join(dir, "mcp.sock")
	startHTTPServe(b, httpHome, sock)
	_, token := newToken(b, httpHome, "--scope", "read")

	b.Run("stdio", func(b *testing.B) {
		measureBalance(b, startServe(b, stdioHome, "--dev").cs, addr.Hex())
	})
	b.Run("http", func(b *testing.B) {
		tr, err := mcphttp.ClientTransport(sock, token)
		if err != nil {
			b.Fatal(err)
		}
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(context.Background(), tr, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		measureBalance(b, cs, httpAddr.Hex())
	})
	b.Run("bridge", func(b *testing.B) {
		cs, _ := bridge(b, sock, token)
		measureBalance(b, cs, httpAddr.Hex())
	})
}

// measureBalance times b.N get_balance calls after 50 warm-up calls.
func measureBalance(b *testing.B, cs *mcp.ClientSession, addr string) {
	args := map[string]any{"address": addr}
	for range 50 {
		if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_balance", Arguments: args}); err != nil || res.IsError {
			b.Fatal(err, res)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_balance", Arguments: args})
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
