package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// offlineHome makes a home (light KDF, passphrase file) whose accounts are
// a keystore account and the offline account addr, with the policy attested.
func offlineHome(t *testing.T, addr string) (home, pass string) {
	t.Helper()
	dir := t.TempDir()
	home, pass = filepath.Join(dir, "home"), filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("interop-offline-passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "--light-kdf", "--chain-id", "1337"},
		{"account", "new", "--label", "hot"},
		{"account", "watch", addr, "--label", "keystone"},
		{"policy", "attest"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, binPath, append([]string{"--home", home, "--password-file", pass}, args...)...)
		cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("walletmcp %v: %v\n%s", args, err, out)
		}
	}
	return home, pass
}

// TestKeystoneSignatureAcceptedByServer: our server's create_offline_request
// (over MCP, from `walletmcp serve --dev`) is decoded and signed by
// Keystone's registry library, submit_offline_signature accepts that
// ur:eth-signature, and the transfer is mined: the recipient's balance moves
// by exactly the amount.
func TestKeystoneSignatureAcceptedByServer(t *testing.T) {
	node := nodeJS(t)
	keyHex := "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	key, err := crypto.HexToECDSA(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey).Hex()
	home, pass := offlineHome(t, from)

	cmd := exec.Command(binPath, "serve", "--dev", "--home", home, "--password-file", pass)
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("serve: %v\n%s", err, &stderr)
		}
		// stderr is complete (and no longer written) only after Wait.
		if strings.Contains(stderr.String(), "interop-offline-passphrase") {
			t.Error("serve logged the passphrase")
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "interop", Version: "1"}, nil).Connect(ctx, &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err != nil {
		t.Fatalf("connect: %v (serve's stderr follows when it exits)", err)
	}
	call := func(name string, args map[string]any, out any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.IsError {
			t.Fatalf("%s: %s", name, res.Content[0].(*mcp.TextContent).Text)
		}
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
	balance := func() *big.Rat {
		var b struct {
			Balance string `json:"balance"`
		}
		call("get_balance", map[string]any{"address": recipient}, &b)
		r, ok := new(big.Rat).SetString(b.Balance)
		if !ok {
			t.Fatalf("balance %q", b.Balance)
		}
		return r
	}
	before := balance()
	var req struct {
		RequestID string   `json:"request_id"`
		UR        []string `json:"ur"`
	}
	call("create_offline_request", map[string]any{"from": from, "to": recipient, "amount": "0.75"}, &req)
	c := caseFor(t, "walletmcp serve request", req.UR)
	sigs := keystoneSign(t, node, []*offlineCase{c}, keyHex)
	var sub struct {
		Status string `json:"status"`
		TxHash string `json:"tx_hash"`
	}
	call("submit_offline_signature", map[string]any{"request_id": req.RequestID, "signature": sigs[0]}, &sub)
	if sub.Status != "submitted" {
		t.Fatalf("submit: %+v", sub)
	}
	var st struct {
		Status string `json:"status"`
	}
	for st.Status != "success" {
		if ctx.Err() != nil {
			t.Fatalf("%s not mined", sub.TxHash)
		}
		call("get_transaction", map[string]any{"tx_hash": sub.TxHash}, &st)
		if st.Status == "reverted" {
			t.Fatal("reverted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	diff := new(big.Rat).Sub(balance(), before)
	if diff.Cmp(big.NewRat(3, 4)) != 0 {
		t.Fatalf("recipient's balance moved by %s, want exactly 0.75", diff.FloatString(18))
	}
}
