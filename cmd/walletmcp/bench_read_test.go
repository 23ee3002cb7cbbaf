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

// envBenchBin, when set, is the walletmcp binary the read benchmarks start
// instead of the one built from this tree (to compare with an older build
// side by side).
const envBenchBin = "WALLETMCP_BENCH_BIN"

// floorPkg is the floor: a one-tool go-sdk stdio server (a main package
// that imports only the go-sdk) answering a constant of get_balance's shape.
const floorPkg = "./testdata/floor"

// depsFloorPkg is the dependency floor: the floor server linked with the
// dependencies DESIGN.md chooses (as walletmcp links them), and with -chain
// answering from go-ethereum's simulated backend.
const depsFloorPkg = "./testdata/depsfloor"

// floorBin builds the floor server into a temporary directory with this
// module's go-sdk and returns its path.
func floorBin(tb testing.TB) string {
	tb.Helper()
	return buildFloor(tb, floorPkg)
}

// depsFloorBin builds the dependency floor server and returns its path.
func depsFloorBin(tb testing.TB) string {
	tb.Helper()
	return buildFloor(tb, depsFloorPkg)
}

// buildFloor builds the main package pkg (a floor server) into a temporary
// directory with this module's dependencies and returns its path.
func buildFloor(tb testing.TB, pkg string) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		tb.Fatalf("building the floor server %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// startFloor starts the floor server built at bin.
func startFloor(tb testing.TB, bin string) (*mcp.ClientSession, *exec.Cmd) {
	tb.Helper()
	cmd := exec.Command(bin)
	return connectProcess(tb, cmd), cmd
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
func startBenchServe(tb testing.TB, home string, args ...string) (*mcp.ClientSession, *exec.Cmd) {
	tb.Helper()
	bin := binPath
	if b := os.Getenv(envBenchBin); b != "" {
		bin = b
	}
	full := append([]string{"serve", "--home", home, "--password-file", passFile(tb, home)}, args...)
	cmd := exec.Command(bin, full...)
	return connectProcess(tb, cmd), cmd
}

// serverCPU is the CPU time process pid's threads have used so far, in
// nanoseconds (/proc/PID/task/*/schedstat, Linux), or -1 when unknown.
func serverCPU(pid int) int64 {
	dirs, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return -1
	}
	var sum int64
	for _, d := range dirs {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, d.Name()))
		if err != nil {
			continue // the thread ended
		}
		var ns int64
		if _, err := fmt.Sscan(string(data), &ns); err != nil {
			return -1
		}
		sum += ns
	}
	return sum
}

// measureCalls calls tool b.N times after 50 warm-up calls on the server
// process pid and reports the p50 and p99 latency and the server's CPU time
// per call (which the machine's load moves much less than the latency).
func measureCalls(b *testing.B, cs *mcp.ClientSession, pid int, tool string, args map[string]any) {
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
	cpu0 := serverCPU(pid)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		call()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	if cpu1 := serverCPU(pid); cpu0 >= 0 && cpu1 >= 0 {
		b.ReportMetric(float64(cpu1-cpu0)/1e3/float64(b.N), "server-cpu-µs/op")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// floorArgs are the floor tool's arguments.
var floorArgs = map[string]any{"address": "0x0000000000000000000000000000000000000b0b"}

// Blocks of measurePaired: each side runs pairBlock calls in a row, of
// which the first pairSkip (the first after a switch finds the server's
// threads asleep) are not measured.
const (
	pairBlock = 25
	pairSkip  = 5
)

// measurePaired measures tool on cs and the floor's tool on floor in
// alternating blocks of back-to-back calls (pairBlock in a row, the first
// pairSkip of each block not measured), until each side has b.N measured
// calls, and reports both p50s and their ratio (x-floor). Within a block the
// calls follow each other as in measureCalls; the blocks take a few tens of
// milliseconds, so a host whose speed drifts during the run (other load, a
// noisy neighbour) slows both sides alike, and the ratio holds still where
// two p50s measured one after the other do not.
func measurePaired(b *testing.B, floor, cs *mcp.ClientSession, tool string, args map[string]any) {
	ctx := context.Background()
	call := func(c *mcp.ClientSession, name string, a map[string]any) time.Duration {
		start := time.Now()
		res, err := c.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: a})
		if err != nil || res.IsError {
			b.Fatalf("%s: %v %+v", name, err, res)
		}
		return time.Since(start)
	}
	block := func(c *mcp.ClientSession, name string, a map[string]any, lat []time.Duration) []time.Duration {
		for i := range pairBlock {
			d := call(c, name, a)
			if i >= pairSkip && len(lat) < cap(lat) {
				lat = append(lat, d)
			}
		}
		return lat
	}
	for range 50 {
		call(floor, "get_balance", floorArgs)
		call(cs, tool, args)
	}
	fl := make([]time.Duration, 0, b.N)
	tl := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for len(fl) < b.N || len(tl) < b.N {
		fl = block(floor, "get_balance", floorArgs, fl)
		tl = block(cs, tool, args, tl)
	}
	b.StopTimer()
	p50 := func(l []time.Duration) float64 {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		return float64(l[len(l)/2].Nanoseconds()) / 1e3
	}
	f, t := p50(fl), p50(tl)
	b.ReportMetric(f, "floor-p50-µs")
	b.ReportMetric(t, "p50-µs")
	b.ReportMetric(t/f, "x-floor")
	// The slowest measured call of each side (the lists are sorted now):
	// a stall shows here, and on which side, where the p50s hide it.
	b.ReportMetric(float64(fl[len(fl)-1].Microseconds())/1e3, "floor-max-ms")
	b.ReportMetric(float64(tl[len(tl)-1].Microseconds())/1e3, "max-ms")
}

// BenchmarkReadStdio measures the read tools' round trip over stdio (a
// go-sdk client, a server subprocess, 50 warm-up calls, then b.N sequential
// calls; p50 and p99), next to the floor: a one-tool go-sdk server answering
// a constant of get_balance's shape, measured in the same run. The walletmcp
// cases run on the embedded dev chain and through --rpc against a geth
// --dev node's websocket endpoint (repeated reads in a block at the pushed
// head, no round trip). Each tool also runs "paired": its calls and the
// floor's in alternating blocks (measurePaired); x-floor is the ratio of the
// two p50s.
func BenchmarkReadStdio(b *testing.B) {
	floorCS, floorCmd := startFloor(b, floorBin(b))
	b.Run("floor", func(b *testing.B) {
		measureCalls(b, floorCS, floorCmd.Process.Pid, "get_balance", floorArgs)
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
				args = []string{"--rpc", node.WSURL}
			}
			cs, cmd := startBenchServe(b, home, args...)
			for _, tc := range []struct {
				tool string
				args map[string]any
			}{
				{"get_balance", map[string]any{"address": addr.Hex()}},
				{"list_accounts", map[string]any{}},
				{"get_policy", map[string]any{}},
			} {
				b.Run(tc.tool, func(b *testing.B) { measureCalls(b, cs, cmd.Process.Pid, tc.tool, tc.args) })
				b.Run(tc.tool+"/paired", func(b *testing.B) { measurePaired(b, floorCS, cs, tc.tool, tc.args) })
			}
		})
	}
}

// procMem is what /proc/PID/status says of a process's memory, in bytes.
type procMem struct {
	hwm  int64         // VmHWM: peak resident set size
	anon int64         // RssAnon: resident anonymous memory (heap, stacks) now
	file int64         // RssFile: resident file-backed memory (mostly the binary's text and read-only data) now
	cpu  time.Duration // user and system CPU time used so far
}

// readProcMem reads process pid's procMem from /proc (Linux only).
func readProcMem(tb testing.TB, pid int) procMem {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Skipf("no /proc status: %v", err)
	}
	var m procMem
	fields := map[string]*int64{"VmHWM:": &m.hwm, "RssAnon:": &m.anon, "RssFile:": &m.file}
	for _, line := range strings.Split(string(data), "\n") {
		for name, dst := range fields {
			if rest, ok := strings.CutPrefix(line, name); ok {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
					tb.Fatalf("%s line %q: %v", name, line, err)
				}
				*dst = kb << 10
				delete(fields, name)
			}
		}
	}
	if len(fields) != 0 {
		tb.Fatalf("/proc status lacks %v", fields)
	}
	// /proc/PID/stat: utime and stime are fields 14 and 15, in clock ticks
	// (100 per second on Linux), after the command name in parentheses.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	var utime, stime int64
	if len(f) < 13 {
		tb.Fatalf("/proc stat: %d fields", len(f))
	}
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		tb.Fatal(err)
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		tb.Fatal(err)
	}
	m.cpu = time.Duration(utime+stime) * 10 * time.Millisecond
	return m
}

// reportMem reports the largest of ms's figures, in MiB: VmHWM is the
// target's figure; RssAnon and RssFile, taken at the end of the session,
// split it into the heap's share and the binary's. It also reports the
// process's CPU time over its life (start-up and session), so that a
// smaller heap bought with more garbage collection shows.
func reportMem(b *testing.B, ms []procMem) {
	var top procMem
	for _, m := range ms {
		top.hwm, top.anon, top.file, top.cpu = max(top.hwm, m.hwm), max(top.anon, m.anon), max(top.file, m.file), max(top.cpu, m.cpu)
	}
	b.ReportMetric(float64(top.cpu.Milliseconds()), "cpu-ms")
	b.ReportMetric(float64(top.hwm)/(1<<20), "VmHWM-MiB")
	b.ReportMetric(float64(top.anon)/(1<<20), "RssAnon-MiB")
	b.ReportMetric(float64(top.file)/(1<<20), "RssFile-MiB")
}

// BenchmarkSessionRSS runs a 400-call session of read tools (200
// get_balance, 100 list_accounts, 100 get_policy) against `walletmcp serve`
// subprocesses and reports their peak RSS (VmHWM), its anonymous and
// file-backed parts at the end of the session, and how many bytes the audit
// log grew per call. "floor" is the go-sdk floor server (testdata/floor,
// built by the benchmark) serving 400 calls of its one tool; "deps-floor"
// is the same server linked with the dependencies DESIGN.md chooses
// (testdata/depsfloor), and "chain-floor" that one answering get_balance
// from go-ethereum's simulated backend: what the chosen dependencies, and
// the chosen embedded chain, hold before walletmcp's own code; "dev" is
// `serve --dev` (the embedded chain); "rpc" is `serve --rpc` against a geth
// --dev node (internal/chain/gethtest), so that the embedded chain's share
// is the difference between the two. Each op is a fresh process, started
// with its binary evicted from the page cache (evictFromPageCache), so that
// binaries built at different times are measured alike.
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
	floors := []struct {
		name, pkg string
		args      []string
		addr      string
	}{
		{"floor", floorPkg, nil, "0x0000000000000000000000000000000000000b0b"},
		{"deps-floor", depsFloorPkg, nil, "0x0000000000000000000000000000000000000b0b"},
		{"chain-floor", depsFloorPkg, []string{"-chain"}, "0x00000000000000000000000000000000000a11ce"}, // depsfloor's Account
	}
	for _, f := range floors {
		b.Run(f.name, func(b *testing.B) {
			bin := buildFloor(b, f.pkg)
			b.ResetTimer()
			var ms []procMem
			for i := 0; i < b.N; i++ {
				evictFromPageCache(b, bin)
				cmd := exec.Command(bin, f.args...)
				cs := connectProcess(b, cmd)
				session(b, cs, f.addr, true)
				ms = append(ms, readProcMem(b, cmd.Process.Pid))
				_ = cs.Close()
			}
			reportMem(b, ms)
		})
	}
	// rpc-nodev is the build without the embedded dev chain (make
	// build-rpc) on the same node.
	for _, mode := range []string{"dev", "rpc", "rpc-nodev"} {
		b.Run(mode, func(b *testing.B) {
			home, addr := newHome(b, 1337)
			raiseRateLimit(b, home)
			args := []string{"--dev"}
			if mode != "dev" {
				node := gethtest.Start(b)
				if err := node.Fund(context.Background(), addr, new(big.Int).Lsh(big.NewInt(1), 64)); err != nil {
					b.Fatal(err)
				}
				args = []string{"--rpc", node.WSURL}
			}
			bin := binPath
			if v := os.Getenv(envBenchBin); v != "" {
				bin = v
			}
			if mode == "rpc-nodev" {
				bin = buildNoDev(b)
			}
			logPath := filepath.Join(home, "audit.log")
			var ms []procMem
			var grew int64
			for i := 0; i < b.N; i++ {
				evictFromPageCache(b, bin)
				cmd := exec.Command(bin, append([]string{"serve", "--home", home, "--password-file", passFile(b, home)}, args...)...)
				cs := connectProcess(b, cmd)
				before := fileSize(b, logPath)
				session(b, cs, addr.Hex(), false)
				ms = append(ms, readProcMem(b, cmd.Process.Pid))
				_ = cs.Close()
				grew += fileSize(b, logPath) - before // what was written by the 400th call's reply
			}
			reportMem(b, ms)
			b.ReportMetric(float64(grew)/float64(b.N)/400, "audit-B/call")
		})
	}
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
