//go:build cgo

package main_test

// End-to-end tests of hsm accounts (CONTRACT.md §6) on a SoftHSM2 token
// private to each test: keygen and list in the CLI, a `serve --dev`
// transfer signed on the token, 50 concurrent transfers with contiguous
// nonces, and start-up refused, naming the cause, for a wrong PIN, a missing
// module, a missing token and a registered key that is gone. No output,
// log or file but the PIN file ever holds the PIN.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/hsm/hsmtest"
)

// hsmHome is a home with [hsm] pointing at a private SoftHSM2 token, and
// one hsm account.
type hsmHome struct {
	home, pinFile, addr, keyID string
	tk                         *hsmtest.Token
}

func newHSMHome(t *testing.T) *hsmHome {
	t.Helper()
	tk := hsmtest.New(t, "walletmcp")
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, home, "init", "--light-kdf", "--chain-id", "1337")
	hh := &hsmHome{home: home, pinFile: home + ".hsmpin", tk: tk}
	if err := os.WriteFile(hh.pinFile, []byte(tk.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hh.setHSM(t, tk.Module, tk.Label, hh.pinFile)
	hh.addr = strings.TrimSpace(mustCLI(t, home, "hsm", "keygen", "--label", "agent"))
	if !regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`).MatchString(hh.addr) {
		t.Fatalf("hsm keygen printed %q", hh.addr)
	}
	list := mustCLI(t, home, "hsm", "list")
	m := regexp.MustCompile(regexp.QuoteMeta(hh.addr) + `\s+([0-9a-f]{32})\s+yes\s+agent`).FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("hsm list:\n%s", list)
	}
	hh.keyID = m[1]
	if out := mustCLI(t, home, "account", "list"); !strings.Contains(out, hh.addr) || !strings.Contains(out, "hsm") {
		t.Fatalf("account list:\n%s", out)
	}
	mustCLI(t, home, "policy", "attest")
	return hh
}

// setHSM rewrites config.toml's [hsm].
func (hh *hsmHome) setHSM(t *testing.T, module, label, pinFile string) {
	t.Helper()
	path := filepath.Join(hh.home, "config.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := strings.Cut(string(b), "\n[hsm]\n")
	text += fmt.Sprintf("\n[hsm]\nmodule = %q\ntoken_label = %q\npin_file = %q\nsessions = 4\n", module, label, pinFile)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// noPIN fails if any of outputs holds the PIN.
func (hh *hsmHome) noPIN(t *testing.T, where string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, hh.tk.PIN) {
			t.Fatalf("%s shows the HSM PIN", where)
		}
	}
}

// scanHome fails if a file of the home holds the PIN.
func (hh *hsmHome) scanHome(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(hh.home, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		hh.noPIN(t, p, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHSMServeTransfers(t *testing.T) {
	hh := newHSMHome(t)
	setPolicy(t, hh.home, "new_recipient_approval = true", "new_recipient_approval = false")
	setPolicy(t, hh.home, "transfers_per_hour = 30", "transfers_per_hour = 200")
	setPolicy(t, hh.home, "tool_calls_per_minute = 120", "tool_calls_per_minute = 5000")
	s := startServe(t, hh.home, "--dev")
	var accts struct {
		Accounts []struct {
			Address string `json:"address"`
			Backend string `json:"backend"`
			Label   string `json:"label"`
		} `json:"accounts"`
	}
	s.mustCall("list_accounts", map[string]any{}, &accts)
	if len(accts.Accounts) != 1 || accts.Accounts[0].Address != hh.addr || accts.Accounts[0].Backend != "hsm" {
		t.Fatalf("list_accounts = %+v", accts)
	}
	if got := s.balance(hh.addr); got != "100" {
		t.Fatalf("hsm account balance %s, want 100 (dev funding)", got)
	}
	// One transfer, signed on the token: the node accepts only a signature
	// that recovers to the sender, and the sender pays.
	var sent struct {
		Status string `json:"status"`
		TxHash string `json:"tx_hash"`
	}
	s.mustCall("send_transfer", map[string]any{"from": hh.addr, "to": recipient, "amount": "0.01"}, &sent)
	if sent.Status != "submitted" {
		t.Fatalf("send_transfer: %+v", sent)
	}
	s.waitMined(sent.TxHash)
	if got := s.balance(recipient); got != "0.01" {
		t.Fatalf("recipient balance %s", got)
	}
	if got := s.balance(hh.addr); !strings.HasPrefix(got, "99.98") {
		t.Fatalf("sender balance %s, want 99.98… (amount plus fee)", got)
	}

	// 50 at once, through 4 sessions.
	const n = 50
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hashes := make([]string, n)
	outputs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: "send_transfer", Arguments: map[string]any{
				"from": hh.addr, "to": recipient, "amount": "0.001", "idempotency_key": fmt.Sprintf("hsm-%d", i)}})
			if err != nil {
				t.Errorf("transfer %d: %v", i, err)
				return
			}
			b, _ := json.Marshal(res)
			outputs[i] = string(b)
			if res.IsError {
				t.Errorf("transfer %d: %s", i, b)
				return
			}
			var out struct {
				Status string `json:"status"`
				TxHash string `json:"tx_hash"`
			}
			b, _ = json.Marshal(res.StructuredContent)
			if err := json.Unmarshal(b, &out); err != nil || out.Status != "submitted" {
				t.Errorf("transfer %d: %s", i, b)
			}
			hashes[i] = out.TxHash
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, h := range hashes {
		s.waitMined(h)
	}
	if got := s.balance(recipient); got != "0.06" {
		t.Fatalf("recipient balance %s, want 0.06", got)
	}
	hh.noPIN(t, "a tool result", outputs...)
	s.stop()
	hh.noPIN(t, "serve's stderr", s.stderr.String())

	// The signatures the audit log records used nonces 0..50, each once.
	var nonces []int
	for _, line := range logLines(t, filepath.Join(hh.home, "audit.log")) {
		var r struct {
			Type string `json:"type"`
			Data struct {
				Nonce *int `json:"nonce"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Type == "signature" && r.Data.Nonce != nil {
			nonces = append(nonces, *r.Data.Nonce)
		}
	}
	slices.Sort(nonces)
	if len(nonces) != n+1 {
		t.Fatalf("%d signatures in the audit log, want %d", len(nonces), n+1)
	}
	for i, v := range nonces {
		if v != i {
			t.Fatalf("nonces %v are not 0..%d, each once", nonces, n)
		}
	}
	hh.scanHome(t)
}

// serveFails runs `serve --dev` and requires it to refuse to start with a
// message matching want.
func (hh *hsmHome) serveFails(t *testing.T, want string) {
	t.Helper()
	r := walletmcp(t, hh.home, "serve", "--dev")
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("serve: exit %d, stderr:\n%s\nwant a refusal with %q", r.code, r.stderr, want)
	}
	if !strings.Contains(r.stderr, "refusing to start") {
		t.Fatalf("serve: stderr does not say it refuses to start:\n%s", r.stderr)
	}
	hh.noPIN(t, "serve's refusal", r.stdout, r.stderr)
}

// deleteKey deletes the hsm account's private key with OpenSC's pkcs11-tool.
func (hh *hsmHome) deleteKey(t *testing.T) {
	t.Helper()
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		t.Fatal("pkcs11-tool (Debian opensc) is missing; run scripts/ensure-tools.sh softhsm")
	}
	cmd := exec.Command(tool, "--module", hh.tk.Module, "--token-label", hh.tk.Label, "--login", "--pin", hh.tk.PIN,
		"--delete-object", "--type", "privkey", "--id", hh.keyID)
	cmd.Env = append(os.Environ(), hh.tk.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pkcs11-tool --delete-object: %v\n%s", err, out)
	}
}

func TestHSMServeRefusesToStart(t *testing.T) {
	hh := newHSMHome(t)
	wrong := hh.home + ".wrongpin"
	if err := os.WriteFile(wrong, []byte("pin-canary-wrong-0000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("WrongPIN", func(t *testing.T) {
		hh.setHSM(t, hh.tk.Module, hh.tk.Label, wrong)
		hh.serveFails(t, "the token refused the PIN (not retried")
		// Its own exit status, which the systemd unit does not restart on.
		if r := walletmcp(t, hh.home, "serve", "--dev"); r.code != 3 {
			t.Fatalf("serve with a wrong PIN: exit %d, want 3", r.code)
		}
	})
	t.Run("MissingModule", func(t *testing.T) {
		hh.setHSM(t, "/nonexistent/libnope.so", hh.tk.Label, hh.pinFile)
		hh.serveFails(t, "cannot load the PKCS#11 module: /nonexistent/libnope.so")
	})
	t.Run("ModuleNotRoots", func(t *testing.T) {
		// The agent, running as the wallet's user, points [hsm] module at a
		// library of its own: serve must not load it.
		own := filepath.Join(t.TempDir(), "libown.so")
		lib, err := os.ReadFile(hh.tk.Module)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(own, lib, 0o755); err != nil {
			t.Fatal(err)
		}
		if os.Getuid() == 0 {
			if err := os.Chown(own, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		hh.setHSM(t, own, hh.tk.Label, hh.pinFile)
		hh.serveFails(t, "must be owned by root and writable by no one else")
	})
	t.Run("MissingToken", func(t *testing.T) {
		hh.setHSM(t, hh.tk.Module, "not-plugged-in", hh.pinFile)
		hh.serveFails(t, `token not found: no token labelled "not-plugged-in"`)
	})
	t.Run("NoHSMSection", func(t *testing.T) {
		path := filepath.Join(hh.home, "config.toml")
		b, _ := os.ReadFile(path)
		text, _, _ := strings.Cut(string(b), "\n[hsm]\n")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		hh.serveFails(t, "has no [hsm] section")
	})
	t.Run("KeyGone", func(t *testing.T) {
		hh.setHSM(t, hh.tk.Module, hh.tk.Label, hh.pinFile)
		hh.deleteKey(t)
		hh.serveFails(t, "its key is gone from token")
	})
	hh.scanHome(t)
}

// A key deleted from the token while serving: the transfer fails, nothing
// is sent, and the server keeps answering.
func TestHSMKeyDeletedWhileServing(t *testing.T) {
	hh := newHSMHome(t)
	setPolicy(t, hh.home, "new_recipient_approval = true", "new_recipient_approval = false")
	s := startServe(t, hh.home, "--dev")
	var sent struct {
		Status string `json:"status"`
		TxHash string `json:"tx_hash"`
	}
	s.mustCall("send_transfer", map[string]any{"from": hh.addr, "to": recipient, "amount": "0.01"}, &sent)
	s.waitMined(sent.TxHash)
	hh.deleteKey(t)
	res := s.call("send_transfer", map[string]any{"from": hh.addr, "to": recipient, "amount": "0.01"}, nil)
	b, _ := json.Marshal(res)
	if !res.IsError || !strings.Contains(string(b), "internal: signing failed") {
		t.Fatalf("a transfer from a deleted key: %s; want internal: signing failed", b)
	}
	hh.noPIN(t, "the tool error", string(b))
	if got := s.balance(recipient); got != "0.01" {
		t.Fatalf("recipient balance %s, want 0.01: something was sent", got)
	}
	s.stop()
	hh.noPIN(t, "serve's stderr", s.stderr.String())
	hh.scanHome(t)
}
