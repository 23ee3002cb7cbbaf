//go:build unix

package main_test

// What a newcomer meets first, through the binary: help and exit codes, the
// missing-home message, policy check as a gate, refusals of exposed homes and
// secret files, a dev home that keeps its chain, and a stdio server that
// survives bad input and stops cleanly on Ctrl-C.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/pquerna/otp/totp"
)

// codeNow is the current code of secret.
func codeNow(secret string) (string, error) {
	return totp.GenerateCode(secret, time.Now())
}

// runBare runs the binary with exactly args (no home or password file added)
// and the environment's password file unset.
func runBare(t *testing.T, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=", "WALLETMCP_HOME=")
	cmd.Stdin = strings.NewReader("")
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := cliResult{stdout: so.String(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHelpOnStdoutExitZero(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"}, {"--home", "/nonexistent", "--help"},
		{"help", "init"}, {"help", "policy"}, {"help", "policy", "check"}, {"help", "approve"},
		{"init", "--help"}, {"init", "-h"}, {"init", "help"},
		{"account", "--help"}, {"account", "help"}, {"account", "new", "--help"}, {"account", "import", "-h"}, {"account", "list", "help"},
		{"totp", "help"}, {"totp", "enroll", "--help"}, {"totp", "show", "--help"},
		{"policy", "-h"}, {"policy", "check", "--help"}, {"policy", "attest", "help"},
		{"approvals", "--help"}, {"approve", "--help"}, {"approve", "help"}, {"reject", "-h"},
		{"audit", "help"}, {"audit", "verify", "--help"},
		{"serve", "--help"}, {"serve", "help"}, {"version", "--help"},
		{"token", "help"}, {"token", "new", "--help"}, {"token", "revoke", "-h"}, {"connect", "--help"},
	} {
		r := runBare(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage") || r.stderr != "" {
			t.Errorf("walletmcp %v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "help requested") {
			t.Errorf("walletmcp %v printed the flag package's error", args)
		}
	}
	if r := runBare(t, "serve", "--help"); !strings.Contains(r.stdout, "--http") || !strings.Contains(r.stdout, "--dev") {
		t.Errorf("serve --help:\n%s", r.stdout)
	}
	if r := runBare(t, "approve", "--help"); !strings.Contains(r.stdout, "--code C") {
		t.Errorf("approve --help does not list --code:\n%s", r.stdout)
	}
	// Usage errors: exit 2, on stderr.
	for _, args := range [][]string{{}, {"frobnicate"}, {"policy"}, {"account", "new", "--no-such-flag"}, {"policy", "check", "extra"}} {
		r := runBare(t, args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 2 || r.stderr == "" || strings.HasPrefix(lines[len(lines)-1], "walletmcp: ") {
			t.Errorf("walletmcp %v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	r := runBare(t, "version")
	for _, want := range []string{"walletmcp ", "go1.", "github.com/ethereum/go-ethereum v1.", "github.com/modelcontextprotocol/go-sdk v", "github.com/segmentio/encoding v0.5.4 => ./third_party/segmentio-encoding", "golang.org/x/crypto v", "github.com/pquerna/otp v", "modernc.org/sqlite v"} {
		if r.code != 0 || !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), want) {
			t.Errorf("version lacks %q (exit %d):\n%s", want, r.code, r.stdout)
		}
	}
}

func TestMissingHomeSameMessageEverywhere(t *testing.T) {
	home := filepath.Join(t.TempDir(), "none")
	want := "no walletmcp home at " + home + ": run `walletmcp init` to create one (or `walletmcp serve --dev` for a dev home), or pass --home DIR\n"
	id := strings.Repeat("ab", 16)
	for _, args := range [][]string{
		{"account", "list"}, {"account", "new"}, {"account", "import", "--key-file", "/dev/null"},
		{"totp", "enroll"}, {"totp", "show", "--dev"}, {"policy", "check"}, {"policy", "attest"},
		{"approvals"}, {"approve", id}, {"reject", id}, {"audit", "verify"}, {"serve"}, {"serve", "--rpc", "http://127.0.0.1:1"},
	} {
		r := runBare(t, append([]string{"--home", home}, args...)...)
		if r.code != 1 || r.stderr != want {
			t.Errorf("walletmcp %v: exit %d, stderr %q; want %q", args, r.code, r.stderr, want)
		}
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Fatalf("a command created the missing home: %v", err)
	}
}

func TestPolicyCheckGates(t *testing.T) {
	home, _ := newHome(t, 1337)
	if r := walletmcp(t, home, "policy", "check"); r.code != 0 || !strings.Contains(r.stdout, "attested") {
		t.Fatalf("attested policy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	pol := filepath.Join(home, "policy.toml")
	orig, _ := os.ReadFile(pol)
	write := func(b []byte) {
		if err := os.WriteFile(pol, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write([]byte(strings.Replace(string(orig), `per_tx_max = "5"`, `per_tx_max = "4"`, 1)))
	if r := walletmcp(t, home, "policy", "check"); r.code != 1 || !strings.Contains(r.stderr, "CHANGED since it was attested") {
		t.Fatalf("changed policy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	write([]byte(strings.Replace(string(orig), `auto_approve_max = "0.1"`, `auto_approve_max = "5"`, 1)))
	if r := walletmcp(t, home, "policy", "check"); r.code != 1 || !strings.Contains(r.stderr, "auto_approve_max 5 is above window_auto_max 1") {
		t.Fatalf("contradicting policy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	write(orig)
	if err := os.Remove(filepath.Join(home, "policy.attest.json")); err != nil {
		t.Fatal(err)
	}
	if r := walletmcp(t, home, "policy", "check"); r.code != 1 || !strings.Contains(r.stderr, "not attested") {
		t.Fatalf("unattested policy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestInitOrderAndShortPassphrase(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	r := runBare(t, "--home", home, "--password-file", short, "init", "--light-kdf")
	if r.code != 1 || !strings.Contains(r.stderr, "at least 10 characters") || strings.Contains(r.stderr, "123456789") {
		t.Fatalf("9-character passphrase: exit %d, %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "home.json")); !os.IsNotExist(err) {
		t.Fatal("a refused init left a home")
	}
	out := mustCLI(t, home, "init", "--light-kdf")
	order := []string{"totp enroll", "review", "policy attest", "account new", "serve"}
	last := -1
	for _, step := range order {
		i := strings.Index(out, step)
		if i <= last {
			t.Fatalf("init's next steps are not in the order %v:\n%s", order, out)
		}
		last = i
	}
}

func TestExposedHomesAndSecretFilesRefused(t *testing.T) {
	home, addr := newHome(t, 1337)
	keyFile, err := filepath.Glob(filepath.Join(home, "keystore", "*"))
	if err != nil || len(keyFile) != 1 {
		t.Fatalf("keystore files %v, %v", keyFile, err)
	}
	for _, c := range []struct {
		path, what string
		mode       os.FileMode
	}{
		{home, "home", 0o770},
		{home, "home", 0o707},
		{filepath.Join(home, "state.db"), "state file", 0o620},
		{filepath.Join(home, "keystore"), "keystore", 0o730},
		{keyFile[0], "keystore file", 0o602},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(c.path, c.mode); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s %s is writable by group or others: run chmod go-w %s\n", c.what, c.path, c.path)
		for _, args := range [][]string{{"account", "list"}, {"approvals"}, {"serve", "--dev"}} {
			if r := walletmcp(t, home, args...); r.code != 1 || r.stderr != want {
				t.Errorf("%s mode %o, walletmcp %v: exit %d, stderr %q; want %q", c.what, c.mode, args, r.code, r.stderr, want)
			}
		}
		if err := os.Chmod(c.path, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	if out := mustCLI(t, home, "account", "list"); !strings.Contains(out, addr.Hex()) {
		t.Fatalf("account list after the modes were restored:\n%s", out)
	}
	// A password file that group or others can read.
	pass := passFile(t, home)
	for _, mode := range []os.FileMode{0o640, 0o604} {
		if err := os.Chmod(pass, mode); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s is readable by group or others: run chmod go-rwx %s", pass, pass)
		if r := walletmcp(t, home, "account", "new"); r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("password file mode %o: exit %d, stderr %q", mode, r.code, r.stderr)
		}
	}
	if err := os.Chmod(pass, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeSurvivesGarbageAndStopsOnSIGINT: a line that is not JSON is
// answered with a parse error and the server keeps serving; SIGINT is a
// clean stop: exit 0, no ERROR line.
func TestServeSurvivesGarbageAndStopsOnSIGINT(t *testing.T) {
	home, addr := newHome(t, 1337)
	cmd := exec.Command(binPath, "serve", "--dev", "--home", home, "--password-file", passFile(t, home))
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	send := func(s string) {
		if _, err := io.WriteString(stdin, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	reply := func() map[string]any {
		if !lines.Scan() {
			t.Fatalf("no reply: %v\nstderr:\n%s", lines.Err(), stderr)
		}
		var m map[string]any
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			t.Fatalf("stdout line %q: %v", lines.Text(), err)
		}
		return m
	}
	send("hello, is this thing on?")
	if m := reply(); m["id"] != nil || fmt.Sprint(m["error"].(map[string]any)["code"]) != "-32700" {
		t.Fatalf("reply to garbage: %v", m)
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if m := reply(); m["error"] != nil || m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`not json either`)
	if m := reply(); m["error"] == nil {
		t.Fatalf("reply to garbage in the session: %v", m)
	}
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_accounts","arguments":{}}}`)
	if m := reply(); m["error"] != nil || !strings.Contains(fmt.Sprint(m["result"]), addr.Hex()) {
		t.Fatalf("list_accounts after garbage: %v", m)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGINT: %v\nstderr:\n%s", err, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve still running 30s after SIGINT")
	}
	if strings.Contains(stderr.String(), "level=ERROR") {
		t.Fatalf("an ERROR line on a clean stop:\n%s", stderr)
	}
}

// startDev starts `serve --dev` on home with no password file: a new dev
// home is initialised, an existing one found.
func startDev(t *testing.T, home string) *server {
	t.Helper()
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
	s.cs, err = mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(t.Context(), &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, stderr)
	}
	return s
}

// TestDevHomeAcrossRestarts: a dev home shows its TOTP enrolment as a QR code
// once and says where to see it again; its commands need no password file;
// the human sees why a transfer needs them; and its chain survives a restart,
// so that an idempotent replay names a transaction the chain knows.
func TestDevHomeAcrossRestarts(t *testing.T) {
	home := filepath.Join(t.TempDir(), "dev")
	s := startDev(t, home)
	m := s.stderr.(*lockedBuffer).waitFor(t, regexp.MustCompile(`(?m)^otpauth://totp/[^ "]*secret=([A-Z2-7]+)$`))
	totpSecret := m[1]
	first := s.stderr.String()
	if !strings.Contains(first, "█") || !strings.Contains(first, "walletmcp totp show --dev --home "+home) {
		t.Fatalf("first start shows no QR code or no way back to it:\n%s", first)
	}
	var accts struct {
		Accounts []struct {
			Address string `json:"address"`
		} `json:"accounts"`
	}
	s.mustCall("list_accounts", map[string]any{}, &accts)
	from := accts.Accounts[0].Address
	var sent struct {
		Status     string `json:"status"`
		TxHash     string `json:"tx_hash"`
		ApprovalID string `json:"approval_id"`
	}
	args := map[string]any{"from": from, "to": recipient, "amount": "0.01", "idempotency_key": "newcomer-1"}
	s.mustCall("send_transfer", args, &sent)
	if sent.Status != "approval_required" {
		t.Fatalf("first payment to a new recipient: %+v", sent)
	}
	// serve logs the new approval for a person watching it; the page link
	// (its token) only when stderr is a terminal, which a pipe is not.
	s.stderr.(*lockedBuffer).waitFor(t, regexp.MustCompile(`approval needed.* id=`+sent.ApprovalID+` .*reasons=new_recipient_approval .*cli="walletmcp approve `+sent.ApprovalID+`"`))
	if strings.Contains(s.stderr.String(), "/a/"+sent.ApprovalID+"/") {
		t.Fatal("serve logged the approval link into a pipe")
	}
	// The human's commands find the dev passphrase and show the reasons.
	r := walletmcpNoPass(t, home, "approvals")
	if r.code != 0 || !strings.Contains(r.stdout, sent.ApprovalID) || !strings.Contains(r.stdout, "new_recipient_approval: the sender has never paid "+recipient) {
		t.Fatalf("approvals: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	code, err := codeNow(totpSecret)
	if err != nil {
		t.Fatal(err)
	}
	if r := walletmcpNoPass(t, home, "approve", sent.ApprovalID, "--code", code); r.code != 0 || !strings.Contains(r.stdout, "never paid") {
		t.Fatalf("approve without --password-file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	hash := s.waitExecuted(sent.ApprovalID)
	s.waitMined(hash)
	// policy attest too finds the dev passphrase (with the next time step's code).
	next, err := totp.GenerateCode(totpSecret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if r := walletmcpNoPass(t, home, "policy", "attest", "--code", next); r.code != 0 || !strings.Contains(r.stdout, "attested sha256") {
		t.Fatalf("policy attest without --password-file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A second server on the same dev home is refused: the chain is in use.
	if r := walletmcpNoPass(t, home, "serve", "--dev"); r.code != 1 || !strings.Contains(r.stderr, "another `walletmcp serve --dev` is running") {
		t.Fatalf("second serve --dev: exit %d, %s", r.code, r.stderr)
	}
	s.stop()

	s = startDev(t, home)
	s.stderr.(*lockedBuffer).waitFor(t, regexp.MustCompile(`walletmcp totp show --dev --home `+regexp.QuoteMeta(home)))
	if strings.Contains(s.stderr.String(), totpSecret) {
		t.Fatal("a later start printed the TOTP secret again")
	}
	var again struct {
		Status string `json:"status"`
		TxHash string `json:"tx_hash"`
	}
	s.mustCall("send_transfer", args, &again)
	if again.Status != "submitted" || again.TxHash != hash {
		t.Fatalf("replay after a restart: %+v, want submitted %s", again, hash)
	}
	var st struct {
		Status string `json:"status"`
	}
	s.mustCall("get_transaction", map[string]any{"tx_hash": hash}, &st)
	if st.Status != "success" {
		t.Fatalf("the transaction before the restart is %q on the dev chain after it", st.Status)
	}
	if got := s.balance(recipient); got != "0.01" {
		t.Fatalf("recipient balance %s after a restart, want 0.01", got)
	}
	s.stop()
	if r := walletmcpNoPass(t, home, "totp", "show", "--dev"); r.code != 0 || !strings.Contains(r.stdout, "secret="+totpSecret) || !strings.Contains(r.stdout, "█") {
		t.Fatalf("totp show --dev: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A real home never shows its secret again.
	real, _ := newHome(t, 1337)
	if r := walletmcp(t, real, "totp", "show", "--dev"); r.code != 1 || !strings.Contains(r.stderr, "is not a dev home") {
		t.Fatalf("totp show on a real home: exit %d, %s", r.code, r.stderr)
	}
}
