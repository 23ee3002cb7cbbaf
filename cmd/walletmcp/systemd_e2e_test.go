package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit: the hardened unit in deploy/ carries the directives the
// README promises, and `systemd-analyze verify` accepts it (with this
// build's binary in ExecStart).
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "walletmcp.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	for _, want := range []string{
		"User=walletmcp", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"MemoryDenyWriteExecute=yes", "RestrictAddressFamilies=", "\nCapabilityBoundingSet=\n",
		"ReadWritePaths=/var/lib/walletmcp\n", "--http unix:/run/walletmcp/mcp.sock",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("deploy/walletmcp.service lacks %q", strings.TrimSpace(want))
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd): the unit was not verified")
	}
	f := filepath.Join(t.TempDir(), "walletmcp.service")
	if err := os.WriteFile(f, []byte(strings.ReplaceAll(unit, "/usr/local/bin/walletmcp", binPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", f).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
