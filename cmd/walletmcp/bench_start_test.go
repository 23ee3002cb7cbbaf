package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/chain/gethtest"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
)

// startHistoryHome builds a home with a long history: ten accounts in
// standard-scrypt keystores (the home's own passphrase check uses the light
// parameters, see BENCHMARKS.md), auditRecords records in the audit log and
// ledgerRows confirmed transfers in the ledger, all verifiable. The records
// and rows are generated here, not committed.
func startHistoryHome(b *testing.B, auditRecords, ledgerRows int) string {
	b.Helper()
	home := filepath.Join(b.TempDir(), "home")
	mustCLI(b, home, "init", "--light-kdf", "--chain-id", "1337")
	cfgPath := filepath.Join(home, "config.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `scrypt = "light"`, `scrypt = "standard"`, 1))
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		mustCLI(b, home, "account", "new", "--label", fmt.Sprintf("acct%d", i))
	}
	mustCLI(b, home, "policy", "attest")

	h, err := config.Open(home)
	if err != nil {
		b.Fatal(err)
	}
	mk, err := h.Unlock(secret.NewBytes([]byte(testPassphrase)))
	if err != nil {
		b.Fatal(err)
	}
	defer mk.Wipe()
	ctx := context.Background()
	stateKey, err := mk.Derive(config.StateKeyPurpose)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(ctx, h.Path(config.StateFile), &store.Options{Key: stateKey.Reveal()})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.FillHistory(ctx, ledgerRows, 1337, common.HexToAddress("0x00000000000000000000000000000000000a11ce"), common.HexToAddress("0xb0b"), time.Now()); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	auditKey, err := mk.Derive("audit-head") // cmd/walletmcp's auditKeyPurpose
	if err != nil {
		b.Fatal(err)
	}
	lg, err := audit.Open(h.Path(config.AuditFile), &audit.Options{HeadKey: auditKey.Reveal()})
	if err != nil {
		b.Fatal(err)
	}
	for i := range auditRecords {
		if err := lg.Enqueue(audit.TypeToolCall, map[string]any{"tool": "get_balance", "i": i}); err != nil {
			b.Fatal(err)
		}
	}
	if err := lg.Close(); err != nil {
		b.Fatal(err)
	}
	return home
}

// BenchmarkStartHistory measures the time from starting `walletmcp serve`
// to its answer to `initialize` (the go-sdk client's Connect), on a home
// with 1,000,000 audit records, 1,000,000 ledger rows and ten
// standard-scrypt accounts; each op is a fresh process, stopped before the
// next. The dev chain has been created by a first start before the timer.
// WALLETMCP_BENCH_HISTORY=N makes a home with N records and rows instead.
// "floors" alternates serve with two floor servers, op by op.
func BenchmarkStartHistory(b *testing.B) {
	records, rows := 1_000_000, 1_000_000
	if v := os.Getenv("WALLETMCP_BENCH_HISTORY"); v != "" { // a smaller home for a quick look
		if _, err := fmt.Sscan(v, &records); err != nil {
			b.Fatal(err)
		}
		rows = records
	}
	home := startHistoryHome(b, records, rows)
	serveArgs := []string{"serve", "--dev", "--home", home, "--password-file", passFile(b, home)}
	start := func(bin string, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(bin, args...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		errBuf := &lockedBuffer{}
		cmd.Stderr = errBuf
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(ctx, &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
		took := time.Since(t0)
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b.Fatalf("connect: %v\n%s", err, errBuf)
		}
		_ = cs.Close()
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatalf("serve: %v\n%s", err, errBuf)
		}
		return took
	}
	start(binPath, serveArgs...) // creates the dev chain
	// Sub-benchmarks, so that the home is generated once, not once per
	// round of b.N; "other" is the binary in envBenchBin (an older build),
	// on the same home.
	bins := map[string]string{"serve": binPath}
	if v := os.Getenv(envBenchBin); v != "" {
		bins["other"] = v
	}
	for _, name := range []string{"serve", "other"} {
		bin, ok := bins[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += start(bin, serveArgs...)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1e3, "ms-to-initialize")
		})
	}
	// The floors, each op alternating serve with them (this machine's speed
	// drifts from one minute to the next): the go-sdk floor server
	// (testdata/floor), and the dependency floor (testdata/depsfloor), the
	// same server linked with the dependencies DESIGN.md chooses. Between
	// them is what linking those dependencies costs a process's start (their
	// package initialisation, their code's page faults); walletmcp's own
	// start-up is what serve takes beyond the dependency floor.
	// With a node (geth --dev, chain id 1337 like the home's policy):
	// serve --rpc as built by make build (with the embedded dev chain
	// linked, unused) and by make build-rpc (without it), alternating op
	// by op.
	b.Run("rpc-builds", func(b *testing.B) {
		node := gethtest.Start(b)
		nodev := buildNoDev(b)
		rpcArgs := []string{"serve", "--rpc", node.WSURL, "--home", home, "--password-file", passFile(b, home)}
		// The binary in envBenchBin (an older build, either kind), when
		// set, is alternated with the two, op by op, as "other".
		other := os.Getenv(envBenchBin)
		var tDev, tNoDev, tOther time.Duration
		for i := 0; i < b.N; i++ {
			tDev += start(binPath, rpcArgs...)
			tNoDev += start(nodev, rpcArgs...)
			if other != "" {
				tOther += start(other, rpcArgs...)
			}
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) / 1e3 }
		b.ReportMetric(ms(tDev), "rpc-ms")
		b.ReportMetric(ms(tNoDev), "rpc-nodev-ms")
		if other != "" {
			b.ReportMetric(ms(tOther), "rpc-other-ms")
		}
	})
	b.Run("floors", func(b *testing.B) {
		floor, deps := floorBin(b), depsFloorBin(b)
		var tServe, tDeps, tFloor time.Duration
		for i := 0; i < b.N; i++ {
			tServe += start(binPath, serveArgs...)
			tDeps += start(deps)
			tFloor += start(floor)
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) / 1e3 }
		b.ReportMetric(ms(tServe), "serve-ms")
		b.ReportMetric(ms(tDeps), "deps-floor-ms")
		b.ReportMetric(ms(tFloor), "floor-ms")
	})
}
