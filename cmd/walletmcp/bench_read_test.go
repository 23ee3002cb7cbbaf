package main_test

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/chain/gethtest"
)

// envFloorServer makes the test binary, re-executed by a benchmark, serve
// the floor: a one-tool go-sdk server over stdio (see runFloorServer).
const envFloorServer = "WALLETMCP_BENCH_FLOOR_SERVER"

// envBenchBin, when set, is the walletmcp binary the read benchmarks start
// instead of the one built from this tree (to compare with an older build
// side by side).
const envBenchBin = "WALLETMCP_BENCH_BIN"

// floorOut is the floor tool's constant answer: the shape and size of a
// get_balance answer.
type floorOut struct {
	Address          string `json:"address"`
	ChainID          uint64 `json:"chain_id"`
	BlockNumber      uint64 `json:"block_number"`
	Balance          string `json:"balance"`
	BalanceBaseUnits string `json:"balance_base_units"`
}

// runFloorServer serves one constant tool over stdin/stdout with the go-sdk
// and nothing else: the protocol's floor for a read tool's round trip.
func runFloorServer() int {
	s := mcp.NewServer(&mcp.Implementation{Name: "floor", Version: "1"}, nil)
	type in struct {
		Address string `json:"address"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "get_balance", Description: "constant"}, func(_ context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, floorOut, error) {
		return nil, floorOut{Address: a.Address, ChainID: 1337, BlockNumber: 1, Balance: "100", BalanceBaseUnits: "100000000000000000000"}, nil
	})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startFloor starts the floor server: this test binary, re-executed.
func startFloor(tb testing.TB) *mcp.ClientSession {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envFloorServer+"=1")
	return connectProcess(tb, cmd)
}

// connectProcess starts cmd and connects a go-sdk client to its stdio.
func connectProcess(tb testing.TB, cmd *exec.Cmd) *mcp.ClientSession {
	tb.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(ctx, &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	return cs
}

// startBenchServe starts `walletmcp serve` on home with args (the binary
// from envBenchBin when set).
func startBenchServe(tb testing.TB, home string, args ...string) *mcp.ClientSession {
	tb.Helper()
	bin := binPath
	if b := os.Getenv(envBenchBin); b != "" {
		bin = b
	}
	full := append([]string{"serve", "--home", home, "--password-file", passFile(tb, home)}, args...)
	return connectProcess(tb, exec.Command(bin, full...))
}

// measureCalls calls tool b.N times after 50 warm-up calls and reports the
// p50 and p99 latency.
func measureCalls(b *testing.B, cs *mcp.ClientSession, tool string, args map[string]any) {
	ctx := context.Background()
	call := func() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
		if err != nil || res.IsError {
			b.Fatalf("%s: %v %+v", tool, err, res)
		}
	}
	for i := 0; i < 50; i++ {
		call()
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		call()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkReadStdio measures the read tools' round trip over stdio (a
// go-sdk client, a server subprocess, 50 warm-up calls, then b.N sequential
// calls; p50 and p99), next to the floor: a one-tool go-sdk server answering
// a constant of get_balance's shape, measured in the same run. The walletmcp
// cases run on the embedded dev chain and through --rpc against a geth
// --dev node.
func BenchmarkReadStdio(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		measureCalls(b, startFloor(b), "get_balance", map[string]any{"address": "0x0000000000000000000000000000000000000b0b"})
	})
	for _, mode := range []string{"dev", "rpc"} {
		b.Run(mode, func(b *testing.B) {
			home, addr := newHome(b, 1337)
			raiseRateLimit(b, home)
			var args []string
			if mode == "dev" {
				args = []string{"--dev"}
			} else {
				node := gethtest.Start(b)
				if err := node.Fund(context.Background(), addr, new(big.Int).Lsh(big.NewInt(1), 64)); err != nil {
					b.Fatal(err)
				}
				args = []string{"--rpc", node.URL}
			}
			cs := startBenchServe(b, home, args...)
			for _, tc := range []struct {
				tool string
				args map[string]any
			}{
				{"get_balance", map[string]any{"address": addr.Hex()}},
				{"list_accounts", map[string]any{}},
				{"get_policy", map[string]any{}},
			} {
				b.Run(tc.tool, func(b *testing.B) { measureCalls(b, cs, tc.tool, tc.args) })
			}
		})
	}
}

// vmHWM returns the peak resident set size (VmHWM) of process pid, in
// bytes, from /proc (Linux only).
func vmHWM(tb testing.TB, pid int) int64 {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Skipf("no /proc status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				tb.Fatalf("VmHWM line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmHWM in /proc status")
	return 0
}

// BenchmarkSessionRSS runs a 400-call session of read tools (200
// get_balance, 100 list_accounts, 100 get_policy) against a `serve --dev`
// subprocess and reports its peak RSS (VmHWM) and how many bytes the audit
// log grew per call; the floor server's VmHWM after 400 calls is measured in
// the same run. Each op is a fresh process.
func BenchmarkSessionRSS(b *testing.B) {
	session := func(b *testing.B, cs *mcp.ClientSession, addr string, floor bool) {
		ctx := context.Background()
		for i := range 400 {
			name, args := "get_balance", map[string]any{"address": addr}
			switch {
			case floor:
			case i%4 == 1:
				name, args = "list_accounts", map[string]any{}
			case i%4 == 3:
				name, args = "get_policy", map[string]any{}
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
			if err != nil || res.IsError {
				b.Fatalf("%s: %v %+v", name, err, res)
			}
		}
	}
	b.Run("floor", func(b *testing.B) {
		var peak int64
		for i := 0; i < b.N; i++ {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), envFloorServer+"=1")
			cs := connectProcess(b, cmd)
			session(b, cs, "0x0000000000000000000000000000000000000b0b", true)
			peak = max(peak, vmHWM(b, cmd.Process.Pid))
			_ = cs.Close()
		}
		b.ReportMetric(float64(peak)/(1<<20), "VmHWM-MiB")
	})
	b.Run("dev", func(b *testing.B) {
		home, addr := newHome(b, 1337)
		raiseRateLimit(b, home)
		bin := binPath
		if v := os.Getenv(envBenchBin); v != "" {
			bin = v
		}
		logPath := filepath.Join(home, "audit.log")
		var peak, grew int64
		for i := 0; i < b.N; i++ {
			cmd := exec.Command(bin, "serve", "--dev", "--home", home, "--password-file", passFile(b, home))
			cs := connectProcess(b, cmd)
			before := fileSize(b, logPath)
			session(b, cs, addr.Hex(), false)
			peak = max(peak, vmHWM(b, cmd.Process.Pid))
			_ = cs.Close()
			grew += fileSize(b, logPath) - before // what was written by the 400th call's reply
		}
		b.ReportMetric(float64(peak)/(1<<20), "VmHWM-MiB")
		b.ReportMetric(float64(grew)/float64(b.N)/400, "audit-B/call")
	})
}

// fileSize returns the size of the file at path.
func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}
