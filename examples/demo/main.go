// Command demo runs a short scripted agent session against a fresh
// `walletmcp serve --dev`, with the official go-sdk MCP client over stdio, and
// prints what happened so a newcomer can follow it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/pquerna/otp/totp"
)

func main() {
	bin := flag.String("bin", "bin/walletmcp", "path of the walletmcp binary")
	flag.Parse()
	if err := run(*bin); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The home is kept after the demo, so that its audit log can be checked;
	// it is a dev home (throwaway funds) in the temporary directory.
	parent, err := os.MkdirTemp("", "walletmcp-demo-*")
	if err != nil {
		return err
	}
	home := filepath.Join(parent, "home")
	defer fmt.Printf("\nThe demo's home is kept in %s. Check its audit log:\n    %s audit verify --home %s\nRemove it with: rm -r %s\n", home, bin, home, parent)

	step("Starting", bin+" serve --dev --home "+home)
	cmd := exec.Command(bin, "serve", "--dev", "--home", home)
	serverLog := &prefixWriter{prefix: "    [server] "}
	cmd.Stderr = serverLog
	client := mcp.NewClient(&mcp.Implementation{Name: "walletmcp-demo", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	fmt.Printf("    connected, protocol %s\n", cs.InitializeResult().ProtocolVersion)

	step("Agent: list_accounts", "")
	var accts struct {
		ChainID  uint64 `json:"chain_id"`
		Accounts []struct {
			Address string `json:"address"`
			Label   string `json:"label"`
			Backend string `json:"backend"`
		} `json:"accounts"`
	}
	if err := call(ctx, cs, "list_accounts", map[string]any{}, &accts); err != nil {
		return err
	}
	if len(accts.Accounts) == 0 {
		return errors.New("no accounts")
	}
	from := accts.Accounts[0].Address

	step("Agent: get_balance", from)
	if err := call(ctx, cs, "get_balance", map[string]any{"address": from}, nil); err != nil {
		return err
	}

	key, _ := crypto.GenerateKey()
	to := crypto.PubkeyToAddress(key.PublicKey).Hex()
	step("Agent: send_transfer 0.01 ETH", "to "+to+", an address this wallet never paid: the policy wants a human")
	var sent struct {
		Status     string `json:"status"`
		TxHash     string `json:"tx_hash"`
		ApprovalID string `json:"approval_id"`
	}
	if err := call(ctx, cs, "send_transfer", map[string]any{"from": from, "to": to, "amount": "0.01", "idempotency_key": "demo-1"}, &sent); err != nil {
		return err
	}
	if sent.Status != "approval_required" {
		return fmt.Errorf("expected approval_required, got %s", sent.Status)
	}

	step("Human: walletmcp approve "+sent.ApprovalID, "with the code from the authenticator (the dev home printed its otpauth URI above)")
	secret := otpSecret.FindStringSubmatch(serverLog.String())
	if secret == nil {
		return errors.New("the server printed no otpauth URI")
	}
	code, err := totp.GenerateCode(secret[1], time.Now())
	if err != nil {
		return err
	}
	// A dev home's commands find its passphrase file (dev-password) themselves.
	out, err := exec.CommandContext(ctx, bin, "--home", home, "approve", sent.ApprovalID, "--code", code).CombinedOutput()
	fmt.Print(indent(string(out)))
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}

	step("Agent: get_approval until the server has sent it", "no further agent action is needed")
	for i := 0; ; i++ {
		var st struct {
			Status string `json:"status"`
			TxHash string `json:"tx_hash"`
		}
		if err := callQuiet(ctx, cs, "get_approval", map[string]any{"approval_id": sent.ApprovalID}, &st); err != nil {
			return err
		}
		if st.Status == "executed" {
			_ = call(ctx, cs, "get_approval", map[string]any{"approval_id": sent.ApprovalID}, nil)
			sent.TxHash = st.TxHash
			break
		}
		if i > 100 {
			return fmt.Errorf("approval not executed: %s", st.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := waitMined(ctx, cs, sent.TxHash); err != nil {
		return err
	}

	step("Agent: send_transfer 0.01 ETH again", "a known recipient, within auto_approve_max: signed without a human")
	if err := call(ctx, cs, "send_transfer", map[string]any{"from": from, "to": to, "amount": "0.01"}, &sent); err != nil {
		return err
	}
	if err := waitMined(ctx, cs, sent.TxHash); err != nil {
		return err
	}

	step("Agent: get_balance of the recipient", to)
	if err := call(ctx, cs, "get_balance", map[string]any{"address": to}, nil); err != nil {
		return err
	}

	step("Agent (hostile): send_transfer 50 ETH", "over per_tx_max: the server refuses, nothing is signed")
	if err := call(ctx, cs, "send_transfer", map[string]any{"from": from, "to": to, "amount": "50"}, nil); err != nil {
		return err
	}

	step("Agent (hostile): send_transfer with calldata", "the agent can never pass calldata or other fields")
	if err := call(ctx, cs, "send_transfer", map[string]any{"from": from, "to": to, "amount": "0.01", "data": "0xa9059cbb"}, nil); err != nil {
		return err
	}

	step("Agent: get_policy", "what remains in the window")
	if err := call(ctx, cs, "get_policy", map[string]any{"address": from}, nil); err != nil {
		return err
	}
	if err := cs.Close(); err != nil {
		return fmt.Errorf("stopping the server: %w", err)
	}
	fmt.Println("\nDone. Every call above is in the home's audit log.")
	return nil
}

// otpSecret finds the TOTP secret in the otpauth URI a new dev home prints.
var otpSecret = regexp.MustCompile(`otpauth://totp/[^ "]*secret=([A-Z2-7]+)`)

// waitMined polls get_transaction until the transaction succeeded.
func waitMined(ctx context.Context, cs *mcp.ClientSession, hash string) error {
	for i := 0; ; i++ {
		var st struct {
			Status string `json:"status"`
		}
		if err := callQuiet(ctx, cs, "get_transaction", map[string]any{"tx_hash": hash}, &st); err != nil {
			return err
		}
		if st.Status == "success" {
			return call(ctx, cs, "get_transaction", map[string]any{"tx_hash": hash}, nil)
		}
		if i > 100 {
			return fmt.Errorf("transaction not mined: %s", st.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

func step(title, detail string) {
	fmt.Printf("\n== %s", title)
	if detail != "" {
		fmt.Printf(" — %s", detail)
	}
	fmt.Println()
}

// call invokes a tool, prints its text (and error state), and decodes its
// structured content into out when given.
func call(ctx context.Context, cs *mcp.ClientSession, name string, args map[string]any, out any) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			mark := "  ->"
			if res.IsError {
				mark = "  !! refused:"
			}
			fmt.Println(mark, t.Text)
		}
	}
	if out != nil && !res.IsError {
		b, _ := json.Marshal(res.StructuredContent)
		return json.Unmarshal(b, out)
	}
	return nil
}

func callQuiet(ctx context.Context, cs *mcp.ClientSession, name string, args map[string]any, out any) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("%s failed", name)
	}
	b, _ := json.Marshal(res.StructuredContent)
	return json.Unmarshal(b, out)
}

// prefixWriter echoes the server's log with a prefix and keeps a copy.
type prefixWriter struct {
	prefix string
	mu     sync.Mutex
	buf    strings.Builder
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Fprintln(os.Stderr, p.prefix+line)
	}
	return len(b), nil
}

func (p *prefixWriter) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}
