package main_test

// End-to-end tests through the doors users use: the walletmcp binary as a
// subprocess, its CLI, and MCP over its stdin/stdout with the go-sdk client.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/pquerna/otp/totp"

	"github.com/walletmcp/walletmcp/internal/chain/gethtest"
)

const testPassphrase = "e2e-home-passphrase-do-not-leak"

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "walletmcp-e2e-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "walletmcp")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building walletmcp: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cliResult is what one CLI run did.
type cliResult struct {
	stdout, stderr string
	code           int
}

// walletmcp runs the binary with the given home and its test password file.
func walletmcp(t testing.TB, home string, args ...string) cliResult {
	t.Helper()
	return walletmcpWith(t, home, passFile(t, home), args...)
}

// walletmcpWith runs the binary with the given home and password file.
func walletmcpWith(t testing.TB, home, pass string, args ...string) cliResult {
	t.Helper()
	return walletmcpBinWith(t, binPath, home, pass, args...)
}

// walletmcpBin runs another build of the binary with the given home and
// its password file.
func walletmcpBin(t testing.TB, bin, home string, args ...string) cliResult {
	t.Helper()
	return walletmcpBinWith(t, bin, home, passFile(t, home), args...)
}

func walletmcpBinWith(t testing.TB, bin, home, pass string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"--home", home, "--password-file", pass}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := cliResult{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("walletmcp %v: %v", args, err)
	}
	for _, s := range []string{r.stdout, r.stderr} {
		if strings.Contains(s, testPassphrase) {
			t.Fatalf("walletmcp %v printed the passphrase", args)
		}
	}
	return r
}

func mustCLI(t testing.TB, home string, args ...string) string {
	t.Helper()
	r := walletmcp(t, home, args...)
	if r.code != 0 {
		t.Fatalf("walletmcp %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// passFile returns a password file beside (not inside) the home.
func passFile(t testing.TB, home string) string {
	p := home + ".pass"
	if _, err := os.Stat(p); err != nil {
		if err := os.WriteFile(p, []byte(testPassphrase+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// newHome initialises a home (light KDF), one account and an attested policy.
func newHome(t testing.TB, chainID uint64) (string, common.Address) {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, home, "init", "--light-kdf", "--chain-id", fmt.Sprint(chainID))
	addr := common.HexToAddress(strings.TrimSpace(mustCLI(t, home, "account", "new", "--label", "agent")))
	mustCLI(t, home, "policy", "attest")
	return home, addr
}

// gethHome starts a geth --dev node and a home (newHome) whose account it
// funds with 10 ETH, with new_recipient_approval off so that a first
// transfer to a recipient is not held for a human.
func gethHome(t testing.TB) (*gethtest.Node, string, common.Address) {
	t.Helper()
	node := gethtest.Start(t)
	home, addr := newHome(t, 1337)
	setPolicy(t, home, "new_recipient_approval = true", "new_recipient_approval = false")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := node.Fund(ctx, addr, new(big.Int).Mul(big.NewInt(10), big.NewInt(1e18))); err != nil {
		t.Fatal(err)
	}
	return node, home, addr
}

// server is a `walletmcp serve` subprocess with an MCP client on its stdio.
type server struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	cs     *mcp.ClientSession
	stderr fmt.Stringer // the process's stderr, safe to read while it runs
}

func startServe(t testing.TB, home string, args ...string) *server {
	t.Helper()
	return startServeBin(t, binPath, home, args...)
}

// startServeBin is startServe with another build of the binary.
func startServeBin(t testing.TB, bin, home string, args ...string) *server {
	t.Helper()
	full := append([]string{"serve", "--home", home, "--password-file", passFile(t, home)}, args...)
	cmd := exec.Command(bin, full...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errBuf := &lockedBuffer{}
	s := &server{t: t, cmd: cmd, stdin: stdin, stderr: errBuf}
	cmd.Stderr = errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s.cs, err = client.Connect(ctx, &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, s.stderr)
	}
	return s
}

// stop closes stdin and requires a clean exit 0.
func (s *server) stop() {
	s.t.Helper()
	_ = s.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			s.t.Fatalf("serve exited with %v after stdin closed\nstderr:\n%s", err, s.stderr)
		}
	case <-time.After(30 * time.Second):
		s.t.Fatalf("serve still running 30s after stdin closed")
	}
	if strings.Contains(s.stderr.String(), testPassphrase) {
		s.t.Fatal("serve logged the passphrase")
	}
}

func (s *server) call(name string, args map[string]any, out any) *mcp.CallToolResult {
	s.t.Helper()
	res, err := s.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		s.t.Fatalf("%s: %v", name, err)
	}
	if out != nil && !res.IsError {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatal(err)
		}
	}
	return res
}

func (s *server) mustCall(name string, args map[string]any, out any) {
	s.t.Helper()
	if res := s.call(name, args, out); res.IsError {
		s.t.Fatalf("%s: %v", name, res.Content[0].(*mcp.TextContent).Text)
	}
}

func (s *server) balance(a string) string {
	var out struct {
		Balance string `json:"balance"`
	}
	s.mustCall("get_balance", map[string]any{"address": a}, &out)
	return out.Balance
}

func (s *server) waitMined(hash string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var st struct {
			Status string `json:"status"`
		}
		s.mustCall("get_transaction", map[string]any{"tx_hash": hash}, &st)
		if st.Status == "success" {
			return
		}
		if st.Status == "reverted" {
			s.t.Fatalf("%s reverted", hash)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("%s not mined in 30s", hash)
}

var recipient = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"

func TestServeDevOverStdio(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	// An empty home: --dev initialises it (its own random passphrase file).
	cmd := exec.Command(binPath, "serve", "--dev", "--home", home)
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, stdin: stdin, stderr: stderr}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	var err error
	s.cs, err = mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(context.Background(), &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, stderr)
	}
	var accts struct {
		ChainID  uint64 `json:"chain_id"`
		Accounts []struct {
			Address string `json:"address"`
		} `json:"accounts"`
	}
	s.mustCall("list_accounts", map[string]any{}, &accts)
	if accts.ChainID != 1337 || len(accts.Accounts) != 1 {
		t.Fatalf("list_accounts = %+v", accts)
	}
	from := accts.Accounts[0].Address
	if got := s.balance(from); got != "100" {
		t.Fatalf("dev account balance %s, want 100", got)
	}
	// The dev home printed its TOTP enrolment on stderr.
	m := stderr.waitFor(t, regexp.MustCompile(`otpauth://totp/[^ "]*secret=([A-Z2-7]+)`))
	totpSecret := m[1]
	devPass := filepath.Join(home, "dev-password")

	// A first payment to a new recipient needs the human (new_recipient_approval).
	var sent struct {
		Status     string `json:"status"`
		TxHash     string `json:"tx_hash"`
		ApprovalID string `json:"approval_id"`
	}
	s.mustCall("send_transfer", map[string]any{"from": from, "to": recipient, "amount": "0.01"}, &sent)
	if sent.Status != "approval_required" || sent.ApprovalID == "" {
		t.Fatalf("first payment to a new recipient: %+v", sent)
	}
	approveCLI(t, home, devPass, totpSecret, sent.ApprovalID, 0)
	s.waitMined(s.waitExecuted(sent.ApprovalID))
	if got := s.balance(recipient); got != "0.01" {
		t.Fatalf("recipient balance %s, want 0.01", got)
	}
	// The second payment to the same recipient is within auto_approve_max: no human.
	s.mustCall("send_transfer", map[string]any{"from": from, "to": recipient, "amount": "0.01"}, &sent)
	if sent.Status != "submitted" {
		t.Fatalf("repeat payment: %+v", sent)
	}
	s.waitMined(sent.TxHash)
	// 1 ETH is above auto_approve_max: approved in the CLI with the next code.
	s.mustCall("send_transfer", map[string]any{"from": from, "to": recipient, "amount": "1"}, &sent)
	if sent.Status != "approval_required" {
		t.Fatalf("1 ETH: %+v", sent)
	}
	// A wrong code changes nothing.
	if r := walletmcpWith(t, home, devPass, "approve", sent.ApprovalID, "--code", wrongCode(t, totpSecret)); r.code == 0 {
		t.Fatal("a wrong code approved")
	}
	approveCLI(t, home, devPass, totpSecret, sent.ApprovalID, 1)
	s.waitMined(s.waitExecuted(sent.ApprovalID))
	if got := s.balance(recipient); got != "1.02" {
		t.Fatalf("recipient balance %s, want 1.02", got)
	}
	if got := s.balance(from); !strings.HasPrefix(got, "98.97") {
		t.Fatalf("sender balance %s, want 98.97… (amounts plus fees)", got)
	}
	// A refused transfer leaves the balance alone.
	if res := s.call("send_transfer", map[string]any{"from": from, "to": recipient, "amount": "6"}, nil); !res.IsError {
		t.Fatal("6 ETH above per_tx_max was not refused")
	}
	s.stop()
	// The dev home it created is a real home: its audit log verifies.
	if r := walletmcpNoPass(t, home, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify: %d %s", r.code, r.stderr)
	}
	if r := walletmcpNoPass(t, home, "account", "list"); !strings.Contains(r.stdout, from) {
		t.Fatalf("account list: %s", r.stdout)
	}
}

func walletmcpNoPass(t *testing.T, home string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"--home", home}, args...)...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := cliResult{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestServeAgainstGethDevNode(t *testing.T) {
	node, home, addr := gethHome(t)
	// Over the websocket endpoint (reads at the pushed head): a transfer
	// seen mined is in the next get_balance; over http after the restart.
	s := startServe(t, home, "--rpc", node.WSURL)
	if got := s.balance(addr.Hex()); got != "10" {
		t.Fatalf("funded balance %s, want 10", got)
	}
	var sent struct {
		TxHash string `json:"tx_hash"`
	}
	s.mustCall("send_transfer", map[string]any{"from": addr.Hex(), "to": recipient, "amount": "0.01", "idempotency_key": "geth-1"}, &sent)
	s.waitMined(sent.TxHash)
	if got := s.balance(recipient); got != "0.01" {
		t.Fatalf("recipient balance %s, want 0.01", got)
	}
	s.stop()

	// Across a restart the same key moves nothing.
	s = startServe(t, home, "--rpc", node.URL)
	var again struct {
		TxHash string `json:"tx_hash"`
	}
	s.mustCall("send_transfer", map[string]any{"from": addr.Hex(), "to": recipient, "amount": "0.01", "idempotency_key": "geth-1"}, &again)
	if again.TxHash != sent.TxHash {
		t.Fatalf("replay after restart gave %s, want %s", again.TxHash, sent.TxHash)
	}
	if got := s.balance(recipient); got != "0.01" {
		t.Fatalf("recipient balance %s after the replay, want 0.01", got)
	}
	s.stop()

	// A node on another chain than the policy's: serve refuses to start.
	other, _ := newHome(t, 1)
	r := walletmcp(t, other, "serve", "--rpc", node.URL)
	if r.code == 0 || !strings.Contains(r.stderr, "chain id") {
		t.Fatalf("serve on a mismatched chain: exit %d, %s", r.code, r.stderr)
	}
}

func TestServeRefusesUnattestedOrChangedPolicy(t *testing.T) {
	home, _ := newHome(t, 1337)
	pol := filepath.Join(home, "policy.toml")
	b, _ := os.ReadFile(pol)
	if err := os.WriteFile(pol, bytes.Replace(b, []byte(`per_tx_max = "5"`), []byte(`per_tx_max = "6"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	r := walletmcp(t, home, "serve", "--dev")
	if r.code == 0 || !strings.Contains(r.stderr, "changed since it was attested") {
		t.Fatalf("changed policy: exit %d, %s", r.code, r.stderr)
	}
	if r := walletmcp(t, home, "policy", "check"); r.code != 1 || !strings.Contains(r.stderr, "CHANGED since it was attested") || !strings.Contains(r.stdout, "per_tx_max 6") {
		t.Fatalf("policy check does not report the change (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	// An attestation forged without the passphrase is refused too.
	att := filepath.Join(home, "policy.attest.json")
	var a map[string]any
	ab, _ := os.ReadFile(att)
	_ = json.Unmarshal(ab, &a)
	a["sha256"] = "0000000000000000000000000000000000000000000000000000000000000000"
	ab, _ = json.Marshal(a)
	_ = os.WriteFile(att, ab, 0o600)
	r = walletmcp(t, home, "serve", "--dev")
	if r.code == 0 || !strings.Contains(r.stderr, "invalid MAC") {
		t.Fatalf("forged attestation: exit %d, %s", r.code, r.stderr)
	}
	os.Remove(att)
	r = walletmcp(t, home, "serve", "--dev")
	if r.code == 0 || !strings.Contains(r.stderr, "not attested") {
		t.Fatalf("unattested: exit %d, %s", r.code, r.stderr)
	}
	// A policy that does not parse cannot be attested; the error names line and key.
	if err := os.WriteFile(pol, bytes.Replace(b, []byte(`per_tx_max = "5"`), []byte(`per_tx_max = "-5"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	r = walletmcp(t, home, "policy", "attest")
	if r.code == 0 || !strings.Contains(r.stderr, "native.per_tx_max") || !strings.Contains(r.stderr, "line 9") {
		t.Fatalf("attesting a bad policy: exit %d, %s", r.code, r.stderr)
	}
}

func TestAccountCommands(t *testing.T) {
	home, first := newHome(t, 1337)
	keyFile := filepath.Join(t.TempDir(), "key")
	// A well-known test key (the Web3 Secret Storage spec's).
	if err := os.WriteFile(keyFile, []byte("7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, home, "account", "import", "--key-file", keyFile, "--label", "imported")
	if !strings.Contains(out, "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b") {
		t.Fatalf("import printed %q", out)
	}
	r := walletmcp(t, home, "account", "import", "--key-file", keyFile)
	if r.code == 0 {
		t.Fatal("importing the same key twice succeeded")
	}
	list := mustCLI(t, home, "account", "list")
	for _, want := range []string{first.Hex(), "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b", "imported", "keystore"} {
		if !strings.Contains(list, want) {
			t.Fatalf("account list lacks %s:\n%s", want, list)
		}
	}
	// A V3 file written by geth's keystore (its test fixture), with its own passphrase.
	pf := filepath.Join(t.TempDir(), "v3pass")
	_ = os.WriteFile(pf, []byte("foobar\n"), 0o600)
	out = mustCLI(t, home, "account", "import", "--keystore", filepath.Join("..", "..", "testdata", "keystore", "geth", "aaa"), "--keystore-password-file", pf)
	if !strings.EqualFold(strings.TrimSpace(out), "0xf466859eAD1932D743d622CB74FC058882E8648A") {
		t.Fatalf("V3 import printed %q", out)
	}
	// Wrong home passphrase: refused, nothing written.
	bad := filepath.Join(t.TempDir(), "bad")
	_ = os.WriteFile(bad, []byte("wrong\n"), 0o600)
	cmd := exec.Command(binPath, "--home", home, "--password-file", bad, "account", "new")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "wrong home passphrase") {
		t.Fatalf("wrong passphrase: %v %s", err, out)
	}
	if got := mustCLI(t, home, "account", "list"); strings.Count(got, "\n") != 4 {
		t.Fatalf("account list after a refused command:\n%s", got)
	}
	// Bad key file content is refused without echoing it.
	_ = os.WriteFile(keyFile, []byte("not-a-key-but-maybe-a-secret\n"), 0o600)
	r = walletmcp(t, home, "account", "import", "--key-file", keyFile)
	if r.code == 0 || strings.Contains(r.stderr, "maybe-a-secret") {
		t.Fatalf("bad key file: exit %d, %s", r.code, r.stderr)
	}
}

func TestAuditVerifyCLI(t *testing.T) {
	home, addr := newHome(t, 1337)
	s := startServe(t, home, "--dev")
	s.mustCall("get_balance", map[string]any{"address": addr.Hex()}, nil)
	s.mustCall("send_transfer", map[string]any{"from": addr.Hex(), "to": recipient, "amount": "0.01"}, nil)
	s.stop()
	if r := walletmcp(t, home, "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "intact") {
		t.Fatalf("intact log: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	logPath := filepath.Join(home, "audit.log")
	b, _ := os.ReadFile(logPath)
	lines := strings.SplitAfter(string(b), "\n")
	// Edit the amount in the verdict record of the transfer.
	for i, l := range lines {
		if strings.Contains(l, `"type":"verdict"`) && strings.Contains(l, `"10000000000000000"`) {
			lines[i] = strings.Replace(l, `"10000000000000000"`, `"90000000000000000"`, 1)
			if err := os.WriteFile(logPath, []byte(strings.Join(lines, "")), 0o600); err != nil {
				t.Fatal(err)
			}
			r := walletmcp(t, home, "audit", "verify")
			if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("record %d", i+1)) || !strings.Contains(r.stderr, "edited") {
				t.Fatalf("edited record %d: exit %d, %s", i+1, r.code, r.stderr)
			}
			// serve refuses to start on a tampered log. Start-up verifies
			// from the keyed checkpoint on, and this record is before the
			// one serve's Close checkpointed (internal/audit's
			// TestCheckpointStartVerifiesTail covers both sides): without
			// the checkpoint, start-up verifies the whole chain.
			if err := os.Remove(logPath + ".checkpoint"); err != nil {
				t.Fatal(err)
			}
			r = walletmcp(t, home, "serve", "--dev")
			if r.code == 0 {
				t.Fatal("serve started on a tampered audit log")
			}
			return
		}
	}
	t.Fatalf("no verdict record for the transfer in:\n%s", b)
}

func decode(tb testing.TB, res *mcp.CallToolResult, out any) {
	tb.Helper()
	bs, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(bs, out); err != nil {
		tb.Fatal(err)
	}
}

// approveCLI approves an approval with `walletmcp approve ID --code C`, the
// code computed from the enrolled secret for now + step×30s (each approval
// in a test needs a later time step: a step is accepted once, ever).
func approveCLI(t *testing.T, home, pass, secret, id string, step int) {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now().Add(time.Duration(step)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r := walletmcpWith(t, home, pass, "approve", id, "--code", code)
	if r.code != 0 {
		t.Fatalf("walletmcp approve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Fatal("approve printed the TOTP secret")
	}
}

// waitExecuted polls get_approval until the approval is executed and returns
// its transaction hash.
func (s *server) waitExecuted(id string) string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var v struct {
			Status string `json:"status"`
			TxHash string `json:"tx_hash"`
			Error  string `json:"error"`
		}
		s.mustCall("get_approval", map[string]any{"approval_id": id}, &v)
		switch v.Status {
		case "executed":
			return v.TxHash
		case "pending", "approved":
		default:
			s.t.Fatalf("approval %s is %s: %s", id, v.Status, v.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("approval %s not executed in 30s", id)
	return ""
}

// setPolicy rewrites policy.toml (replacing old with new) and re-attests it.
func setPolicy(t testing.TB, home, old, new string) {
	t.Helper()
	p := filepath.Join(home, "policy.toml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("policy.toml has no %q", old)
	}
	if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, home, "policy", "attest")
}

// wrongCode returns a 6-digit code that is not valid for any step near now.
func wrongCode(t *testing.T, secret string) string {
	for _, c := range []string{"000000", "111111", "222222"} {
		ok := false
		for d := -2; d <= 2; d++ {
			v, _ := totp.GenerateCode(secret, time.Now().Add(time.Duration(d)*30*time.Second))
			ok = ok || v == c
		}
		if !ok {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// lockedBuffer is a process's stderr, safe to read while exec copies into it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until re matches the output (the process may have written a
// line that exec has not copied yet) and returns the submatches.
func (b *lockedBuffer) waitFor(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s in the output:\n%s", re, b)
	return nil
}

// TestTwoServesShareLimits: two `serve` processes on one home (what MCP
// hosts do, one per window) against one node share one set of limits. With
// window_auto_max 0.5 ETH and 0.1 ETH sends, twenty concurrent sends split
// between them sign exactly five and move exactly 0.5 ETH. Before, each
// process enforced the whole window alone.
func TestTwoServesShareLimits(t *testing.T) {
	node, home, addr := gethHome(t)
	setPolicy(t, home, `window_auto_max = "1"`, `window_auto_max = "0.5"`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	servers := []*server{startServe(t, home, "--rpc", node.URL), startServe(t, home, "--rpc", node.URL)}
	type result struct {
		status, hash string
		err          error
	}
	results := make(chan result, 20)
	var wg sync.WaitGroup
	for i := range 20 {
		s := servers[i%2]
		wg.Go(func() {
			res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: "send_transfer", Arguments: map[string]any{
				"from": addr.Hex(), "to": recipient, "amount": "0.1", "idempotency_key": fmt.Sprintf("two-%d", i)}})
			if err != nil || res.IsError {
				var text string
				if res != nil && len(res.Content) > 0 {
					if tc, ok := res.Content[0].(*mcp.TextContent); ok {
						text = tc.Text
					}
				}
				results <- result{err: fmt.Errorf("call %d: %v %s", i, err, text)}
				return
			}
			var out struct {
				Status string `json:"status"`
				TxHash string `json:"tx_hash"`
			}
			b, _ := json.Marshal(res.StructuredContent)
			results <- result{err: json.Unmarshal(b, &out), status: out.Status, hash: out.TxHash}
		})
	}
	wg.Wait()
	close(results)
	var hashes []string
	for r := range results {
		switch {
		case r.err != nil:
			t.Fatal(r.err)
		case r.status == "submitted":
			hashes = append(hashes, r.hash)
		case r.status != "approval_required":
			t.Fatalf("status %q", r.status)
		}
	}
	if len(hashes) != 5 {
		t.Fatalf("%d transfers signed by the two processes, want exactly 5 (0.5 ETH at 0.1)", len(hashes))
	}
	for _, h := range hashes {
		servers[0].waitMined(h)
	}
	if got := servers[1].balance(recipient); got != "0.5" {
		t.Fatalf("recipient balance %s, want exactly 0.5", got)
	}
	for _, s := range servers {
		s.stop()
	}
}
