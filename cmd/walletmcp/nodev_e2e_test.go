package main_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walletmcp/walletmcp/internal/chain/gethtest"
)

// buildNoDev builds walletmcp with the nodev tag (no embedded dev chain:
// `make build-rpc`) and returns its path.
func buildNoDev(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "walletmcp-rpc")
	if out, err := exec.Command("go", "build", "-tags", "nodev", "-o", bin, ".").CombinedOutput(); err != nil {
		tb.Fatalf("building walletmcp -tags nodev: %v\n%s", err, out)
	}
	return bin
}

// TestNoDevBuild: the build without the embedded dev chain (for --rpc
// only: it starts faster and takes less memory) serves a node, and
// refuses --dev saying why.
func TestNoDevBuild(t *testing.T) {
	bin := buildNoDev(t)
	home, addr := newHome(t, 1337)
	r := walletmcpBin(t, bin, home, "serve", "--dev")
	if r.code == 0 || !strings.Contains(r.stderr, "without the embedded dev chain") {
		t.Fatalf("serve --dev in the nodev build: exit %d\n%s", r.code, r.stderr)
	}
	node := gethtest.Start(t)
	s := startServeBin(t, bin, home, "--rpc", node.WSURL)
	var accts struct {
		ChainID  uint64 `json:"chain_id"`
		Accounts []struct {
			Address string `json:"address"`
		} `json:"accounts"`
	}
	s.mustCall("list_accounts", map[string]any{}, &accts)
	if accts.ChainID != 1337 || len(accts.Accounts) != 1 || accts.Accounts[0].Address != addr.Hex() {
		t.Fatalf("list_accounts = %+v", accts)
	}
	s.mustCall("get_balance", map[string]any{"address": addr.Hex()}, nil)
	s.stop()
}
