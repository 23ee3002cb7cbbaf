//go:build unix

package main_test

// The agent cannot lock the human out (issue 7 §5). The agent is handed
// approval_url; with a plain HTTP client it loads the page, takes its form
// token and posts wrong codes with the page's own Origin. That locks the
// approval it posted to, and nothing else: the human approves another
// request, and that one too, with `walletmcp approve` in the terminal.

import (
	"bytes"
	"context"
	"database/sql"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	otptotp "github.com/pquerna/otp/totp"
)

var pageCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// agentPost is the agent's attack: GET the link for a form token, then POST
// code to the approve action with the page's own Origin. It returns the
// status and the page's message.
func agentPost(t *testing.T, client *http.Client, link, code string) (int, string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	origin := u.Scheme + "://" + u.Host
	res, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := pageCSRF.FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %d, form token found: %v", u.Path, res.StatusCode, m != nil)
	}
	req, err := http.NewRequest("POST", link+"/approve", strings.NewReader(url.Values{"csrf": {string(m[1])}, "code": {code}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	msg := regexp.MustCompile(`(?s)<p id="message"[^>]*>(.*?)</p>`).FindSubmatch(body)
	if msg == nil {
		return res.StatusCode, ""
	}
	return res.StatusCode, html.UnescapeString(string(msg[1]))
}

func TestPageWrongCodesDoNotLockTheTerminal(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	cmd := exec.Command(binPath, "serve", "--dev", "--home", home)
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errw := &pageStderr{buf: &bytes.Buffer{}, secret: make(chan string, 1)}
	cmd.Stderr = errw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, stdin: stdin, stderr: errw}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.cs, err = mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx, &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, errw)
	}
	var secret string
	select {
	case secret = <-errw.secret:
	case <-ctx.Done():
		t.Fatalf("no otpauth URI on stderr:\n%s", errw)
	}
	devPass := filepath.Join(home, "dev-password")
	var accts struct {
		Accounts []struct {
			Address string `json:"address"`
		} `json:"accounts"`
	}
	s.mustCall("list_accounts", map[string]any{}, &accts)
	from := accts.Accounts[0].Address

	// Two requests that need the human.
	id1, link1, _ := pageTransfer(t, s, from, freshRecipient(t).Hex())
	id2, _, _ := pageTransfer(t, s, from, freshRecipient(t).Hex())

	// The agent posts five wrong codes to the first link.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	bad := wrongCode(t, secret)
	for i := 1; i <= 5; i++ {
		status, msg := agentPost(t, client, link1, bad)
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("wrong code %d: HTTP %d (%s)", i, status, msg)
		}
		if strings.Contains(msg, "totp:") || !strings.HasPrefix(msg, "Wrong code") {
			t.Fatalf("wrong code %d: page says %q", i, msg)
		}
		if i < 5 && !strings.Contains(msg, "tries left") && !strings.Contains(msg, "try left") {
			t.Fatalf("wrong code %d: page says %q, want the tries left", i, msg)
		}
		if i == 5 && !strings.Contains(msg, "Too many wrong codes for this request") {
			t.Fatalf("fifth wrong code: page says %q, want the link locked", msg)
		}
	}
	// The link is locked now, even for the right code.
	right, err := otptotp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if status, msg := agentPost(t, client, link1, right); status != http.StatusUnprocessableEntity || !strings.Contains(msg, "walletmcp approve "+id1) {
		t.Fatalf("right code on the locked link: HTTP %d, %q", status, msg)
	}
	if st := s.approval(id1).Status; st != "pending" {
		t.Fatalf("approval 1 is %s", st)
	}

	// The human approves the OTHER request in the terminal, then the locked one.
	approveCLI(t, home, devPass, secret, id2, 0)
	s.waitMined(s.waitExecuted(id2))
	approveCLI(t, home, devPass, secret, id1, 1)
	s.waitMined(s.waitExecuted(id1))
	s.stop()

	// The lockout is a security event in the audit log, which verifies.
	if r := walletmcpWith(t, home, devPass, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify: %s", r.stderr)
	}
	logb, err := os.ReadFile(filepath.Join(home, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logb, []byte(`"event":"totp_lockout"`)) || !bytes.Contains(logb, []byte(`"approval_id":"`+id1+`"`)) {
		t.Fatal("the lockout is not in the audit log")
	}
	if bytes.Contains(logb, []byte(secret)) || bytes.Contains(logb, []byte(`"`+bad+`"`)) {
		t.Fatal("the audit log holds the secret or a code")
	}
}

// TestTamperedTOTPStateCLI edits state.db as an agent with a shell could,
// to replay a used code: the code is refused with a message that says what
// to do, and a re-enrolment in the terminal repairs the state.
func TestTamperedTOTPStateCLI(t *testing.T) {
	home, addr := newHome(t, 1337)
	st := openState(t, home)
	clk := &stepClock{t: t}
	var s1 int64
	r, secret := enroll(t, home, func(sec string) string {
		s1 = clk.nextStep()
		// One mistyped code first: the same secret is asked for again.
		return wrongCode(t, sec) + "\n" + totpCode(t, sec, s1)
	})
	if r.code != 0 || !strings.Contains(r.stderr, "Wrong code") || !strings.Contains(r.stderr, "2 more tries") {
		t.Fatalf("enrol after a wrong code: exit %d\n%s", r.code, r.stderr)
	}
	a := parkApproval(t, st, addr, 2e17)
	b := parkApproval(t, st, addr, 3e17)
	used := totpCode(t, secret, clk.nextStep())
	if r := runCLI(t, home, nil, nil, "approve", a.ID, "--code", used); r.code != 0 {
		t.Fatalf("approve: %s", r.stderr)
	}
	db, err := sql.Open("sqlite", filepath.Join(home, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE totp SET last_step = -1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r = runCLI(t, home, nil, nil, "approve", b.ID, "--code", used)
	if r.code == 0 || !strings.Contains(r.stderr, "does not verify") || !strings.Contains(r.stderr, "walletmcp totp enroll") || strings.Contains(r.stderr, "totp:") {
		t.Fatalf("replay after the edit: exit %d\n%s", r.code, r.stderr)
	}
	if approvalStatus(t, st, b.ID) != "pending" {
		t.Fatal("approved through a tampered state")
	}
	// Re-enrolling repairs it; the new secret approves.
	r, secret2 := enroll(t, home, func(sec string) string { return totpCode(t, sec, clk.usableStep()) },
		"--code", totpCode(t, secret, clk.nextStep()))
	if r.code != 0 || secret2 == secret || !strings.Contains(r.stderr, "re-enrolling repairs it") {
		t.Fatalf("re-enrol over a tampered state: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, home, nil, nil, "approve", b.ID, "--code", totpCode(t, secret2, clk.nextStep())); r.code != 0 {
		t.Fatalf("approve after re-enrolling: %s", r.stderr)
	}
	logb, _ := os.ReadFile(filepath.Join(home, "audit.log"))
	for _, ev := range []string{"totp_state_invalid", "totp_reenrol_invalid_state"} {
		if !bytes.Contains(logb, []byte(`"event":"`+ev+`"`)) {
			t.Errorf("no %s event in the audit log", ev)
		}
	}
}
