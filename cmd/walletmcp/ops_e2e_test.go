package main_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/pquerna/otp/totp"
	"github.com/prometheus/common/expfmt"
)

// startDevServe runs `serve --dev` on home (its own dev password) with an
// MCP client on its stdio.
func startDevServe(t *testing.T, home string) *server {
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
	s.cs, err = mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(context.Background(), &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, stderr)
	}
	return s
}

func editFile(t *testing.T, path string, pairs ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(pairs); i += 2 {
		if !bytes.Contains(b, []byte(pairs[i])) {
			t.Fatalf("%s has no %q", path, pairs[i])
		}
		b = bytes.Replace(b, []byte(pairs[i]), []byte(pairs[i+1]), 1)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOpsFreezeAlertsMetrics: a scripted burst of 30 denied transfers within
// a minute freezes the account (a webhook receiver gets the signed alerts,
// with no secret in them); a small transfer that was automatic now parks;
// status shows the freeze; unfreeze with a TOTP code restores it; /metrics
// parses and its counters moved; /readyz is green.
func TestOpsFreezeAlertsMetrics(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	devPass := filepath.Join(home, "dev-password")
	// First run: serve --dev creates the dev home; stop it.
	s := startDevServe(t, home)
	totpSecret := s.stderr.(*lockedBuffer).waitFor(t, regexp.MustCompile(`otpauth://totp/[^ "]*secret=([A-Z2-7]+)`))[1]
	s.stop()

	// Alerts to a receiver that checks the HMAC; ops on a free port; no
	// human approval for a first recipient (so a small transfer is automatic).
	key := []byte("e2e-webhook-hmac-key")
	got := make(chan map[string]any, 100)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, key)
		m.Write(body)
		if r.Header.Get("X-Walletmcp-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("bad alert signature")
		}
		dp, _ := os.ReadFile(devPass)
		if bytes.Contains(body, key) || strings.Contains(string(body), totpSecret) || (len(dp) > 4 && bytes.Contains(body, bytes.TrimSpace(dp))) {
			t.Errorf("alert carries a secret: %s", body)
		}
		var a map[string]any
		json.Unmarshal(body, &a)
		got <- a
	}))
	defer recv.Close()
	secretFile := filepath.Join(t.TempDir(), "hook.secret")
	os.WriteFile(secretFile, append(key, '\n'), 0o600)
	editFile(t, filepath.Join(home, "config.toml"),
		`listen = "127.0.0.1:9464"`, `listen = "127.0.0.1:0"`,
		`webhook_url = ""`, `webhook_url = "`+recv.URL+`"`,
		`webhook_secret_file = ""`, `webhook_secret_file = "`+secretFile+`"`)
	editFile(t, filepath.Join(home, "policy.toml"), "new_recipient_approval = true", "new_recipient_approval = false")
	code := func(step int) string {
		c, err := totp.GenerateCode(totpSecret, time.Now().Add(time.Duration(step)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if r := walletmcpWith(t, home, devPass, "policy", "attest", "--code", code(0)); r.code != 0 {
		t.Fatalf("policy attest: %s%s", r.stdout, r.stderr)
	}

	s = startDevServe(t, home)
	defer s.stop()
	stderr := s.stderr.(*lockedBuffer)
	opsAddr := stderr.waitFor(t, regexp.MustCompile(`ops endpoint.* listen=(127\.0\.0\.1:[0-9]+)`))[1]
	var accts struct {
		Accounts []struct{ Address string } `json:"accounts"`
	}
	s.mustCall("list_accounts", map[string]any{}, &accts)
	from := accts.Accounts[0].Address
	send := func(amount string) (string, bool) {
		var out struct{ Status string }
		res := s.call("send_transfer", map[string]any{"from": from, "to": recipient, "amount": amount}, &out)
		return out.Status, res.IsError
	}
	if st, isErr := send("0.01"); isErr || st != "submitted" {
		t.Fatalf("before the burst: %s %v", st, isErr)
	}
	for i := range 30 {
		if _, isErr := send("6"); !isErr {
			t.Fatalf("send %d of 6 ETH was not denied", i)
		}
	}
	if st, isErr := send("0.01"); isErr || st != "approval_required" {
		t.Fatalf("after the burst a small transfer: %s %v; want approval_required", st, isErr)
	}
	kinds := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for !kinds["denial_burst"] || !kinds["account_frozen"] {
		select {
		case a := <-got:
			kinds[a["kind"].(string)] = true
		case <-deadline:
			t.Fatalf("alerts received: %v", kinds)
		}
	}
	st := walletmcpWith(t, home, devPass, "status", "--json")
	var status struct {
		Accounts []struct {
			Address string
			Frozen  bool
		}
	}
	if err := json.Unmarshal([]byte(st.stdout), &status); err != nil || len(status.Accounts) != 1 || !status.Accounts[0].Frozen {
		t.Fatalf("status --json: %v %s%s", err, st.stdout, st.stderr)
	}
	if r := walletmcpWith(t, home, devPass, "unfreeze", from, "--code", code(1)); r.code != 0 {
		t.Fatalf("unfreeze: %s%s", r.stdout, r.stderr)
	}
	if st, isErr := send("0.01"); isErr || st != "submitted" {
		t.Fatalf("after unfreeze: %s %v; want submitted", st, isErr)
	}

	resp, err := http.Get("http://" + opsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	fams, err := new(expfmt.TextParser).TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	denied := 0.0
	for _, m := range fams["walletmcp_tool_calls_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["tool"] == "send_transfer" && labels["code"] == "policy_denied" {
			denied = m.Counter.GetValue()
		}
	}
	if denied < 30 {
		t.Fatalf("tool_calls_total{send_transfer,policy_denied} = %v, want ≥ 30", denied)
	}
	// The Guard's chain calls and the transfers' signatures are observed
	// (the self-check at start is one signature; the transfers add more).
	sends, signs := uint64(0), uint64(0)
	for _, m := range fams["walletmcp_chain_call_seconds"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "method" && l.GetValue() == "send" {
				sends = m.Histogram.GetSampleCount()
			}
		}
	}
	for _, m := range fams["walletmcp_signing_seconds"].GetMetric() {
		signs += m.Histogram.GetSampleCount()
	}
	if sends < 1 || signs < 2 {
		t.Fatalf("chain_call_seconds{method=send} has %d samples (want ≥ 1), signing_seconds %d (want ≥ 2)", sends, signs)
	}
	if n := fams["walletmcp_frozen_accounts"].GetMetric(); len(n) != 1 || n[0].Gauge.GetValue() != 0 {
		t.Fatalf("frozen_accounts after unfreeze: %v", n)
	}
	resp, err = http.Get("http://" + opsAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz %d %s", resp.StatusCode, body)
	}
}
