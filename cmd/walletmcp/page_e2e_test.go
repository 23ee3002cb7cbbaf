package main_test

// The approval page end to end: `walletmcp serve --dev` as a subprocess, an
// agent's transfer over MCP, and a human in headless Chromium who opens the
// approval_url, checks the recipient, mistypes the code, approves; and who
// rejects a second request with the page's Reject button. Then the audit log
// must verify and hold the decisions, and never the TOTP secret, a code or a
// link token.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/pquerna/otp/totp"
)

// pageChromium is Debian's Chromium, installed by `make chromium`.
const pageChromium = "/usr/bin/chromium"

// pageStderr collects a subprocess's output. With secret set, it sends on it
// the TOTP secret of the first otpauth:// URI written (the enrolment that
// `serve --dev` prints on stderr for a new home), as soon as it is written.
type pageStderr struct {
	mu     sync.Mutex
	buf    *bytes.Buffer
	sent   bool
	secret chan string
}

var otpauthSecret = regexp.MustCompile(`otpauth://totp/[^ "]*secret=([A-Z2-7]+)`)

func (w *pageStderr) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.secret != nil && !w.sent {
		if m := otpauthSecret.FindSubmatch(w.buf.Bytes()); m != nil {
			w.sent = true
			w.secret <- string(m[1])
		}
	}
	return n, err
}

func (w *pageStderr) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// pageBrowser starts headless Chromium with a fresh profile and no background
// networking and returns a context for its first tab (flags as in
// approval/web's browser test).
func pageBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(pageChromium); err != nil {
		t.Fatalf("%s is missing (%v): run make chromium", pageChromium, err)
	}
	out := &pageStderr{buf: &bytes.Buffer{}}
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(pageChromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Env("TMPDIR="+tmp),
		chromedp.CombinedOutput(out),
	)
	// The whole browser session is bounded; every step waits for a page or
	// an element, never for a fixed time.
	ctx, cancelTimeout := context.WithTimeout(context.Background(), 2*time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, out.String())
	}
	return bctx
}

func pageText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func pageCount(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
	if err != nil {
		t.Fatalf("nodes %s: %v", sel, err)
	}
	return len(nodes)
}

// pageNavigate opens link and returns the HTTP status of the page.
func pageNavigate(t *testing.T, ctx context.Context, link string) int64 {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(link))
	if err != nil {
		t.Fatalf("open %s: %v", link, err)
	}
	return resp.Status
}

// pageSubmit types code into the code field (unless empty), clicks sel and
// returns the status and URL of the page the click loads (after redirects).
func pageSubmit(t *testing.T, ctx context.Context, code, sel string) (int64, string) {
	t.Helper()
	if code != "" {
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), code)); err != nil {
			t.Fatalf("type the code: %v", err)
		}
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	return resp.Status, resp.URL
}

// pageApproval is get_approval's answer.
type pageApproval struct {
	Status string `json:"status"`
	TxHash string `json:"tx_hash"`
}

func (s *server) approval(id string) pageApproval {
	s.t.Helper()
	var v pageApproval
	s.mustCall("get_approval", map[string]any{"approval_id": id}, &v)
	return v
}

// pageTransfer asks for a 0.01 ETH transfer to a new recipient, which the dev
// policy sends to a human, and returns the approval and its checked link.
func pageTransfer(t *testing.T, s *server, from, to string) (id, link, token string) {
	t.Helper()
	var sent struct {
		Status      string `json:"status"`
		ApprovalID  string `json:"approval_id"`
		ApprovalURL string `json:"approval_url"`
	}
	s.mustCall("send_transfer", map[string]any{"from": from, "to": to, "amount": "0.01"}, &sent)
	if sent.Status != "approval_required" || sent.ApprovalID == "" {
		t.Fatalf("0.01 ETH to a new recipient: %+v", sent)
	}
	m := regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/a/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)$`).FindStringSubmatch(sent.ApprovalURL)
	if m == nil || m[1] != sent.ApprovalID {
		t.Fatalf("approval_url %q for approval %s, want http://127.0.0.1:PORT/a/ID/TOKEN", sent.ApprovalURL, sent.ApprovalID)
	}
	return sent.ApprovalID, sent.ApprovalURL, m[2]
}

// freshRecipient returns a new random address whose EIP-55 tail mixes upper
// and lower case letters, so that the page's tail can only match the
// recipient's checksummed form.
func freshRecipient(t *testing.T) common.Address {
	t.Helper()
	for {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		a := crypto.PubkeyToAddress(k.PublicKey)
		tail := a.Hex()[len(a.Hex())-6:]
		if tail != strings.ToLower(tail) && tail != strings.ToUpper(tail) {
			return a
		}
	}
}

// checkSummary checks what the page shows before the human decides.
func checkSummary(t *testing.T, ctx context.Context, id string, to common.Address, from string) {
	t.Helper()
	if got := pageText(t, ctx, "#title"); got != "Approve this transfer?" {
		t.Fatalf("title %q", got)
	}
	if got := pageText(t, ctx, "#amount") + " " + pageText(t, ctx, "#asset"); got != "0.01 ETH" {
		t.Errorf("amount %q, want 0.01 ETH", got)
	}
	// The agent sent the address in lower case; the page shows EIP-55.
	eip55 := to.Hex()
	if got := pageText(t, ctx, "#to"); got != eip55 {
		t.Errorf("recipient %q, want %q", got, eip55)
	}
	if got, want := pageText(t, ctx, "#to-tail"), eip55[len(eip55)-6:]; got != want {
		t.Errorf("highlighted tail %q, want %q", got, want)
	}
	for sel, want := range map[string]string{"#from": from, "#chain-id": "1337", "#approval-id": id, "#status": "pending"} {
		if got := pageText(t, ctx, sel); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if n := pageCount(t, ctx, "#approve-form #code, #reject-form #reject"); n != 2 {
		t.Errorf("pending page: %d of the code field and Reject button", n)
	}
}

// checkDecided checks a reopened link: the decision and no form.
func checkDecided(t *testing.T, ctx context.Context, link, title, status string) {
	t.Helper()
	if code := pageNavigate(t, ctx, link); code != http.StatusOK {
		t.Errorf("reopened link: HTTP %d", code)
	}
	if got := pageText(t, ctx, "#title"); got != title {
		t.Errorf("reopened link: title %q, want %q", got, title)
	}
	if got := pageText(t, ctx, "#status"); got != status {
		t.Errorf("reopened link: status %q, want %q", got, status)
	}
	if n := pageCount(t, ctx, "form, input, button"); n != 0 {
		t.Errorf("reopened link: %d form elements, want none", n)
	}
	if n := pageCount(t, ctx, "#decided[data-status="+status+"]"); n != 1 {
		t.Errorf("reopened link: no decided marker for %s", status)
	}
}

// TestPageE2E is a human approving and rejecting an agent's transfers on the
// approval page, in a real browser, against a real `serve --dev`.
func TestPageE2E(t *testing.T) {
	start := time.Now()
	if _, err := os.Stat(pageChromium); err != nil {
		t.Fatalf("%s is missing (%v): run make chromium", pageChromium, err)
	}

	// serve --dev on an empty home, MCP on its stdio.
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
	var accts struct {
		Accounts []struct {
			Address string `json:"address"`
		} `json:"accounts"`
	}
	s.mustCall("list_accounts", map[string]any{}, &accts)
	if len(accts.Accounts) != 1 {
		t.Fatalf("list_accounts = %+v", accts)
	}
	from := accts.Accounts[0].Address
	browser := pageBrowser(t)
	t.Logf("serve and chromium up: %v", time.Since(start).Round(time.Millisecond))

	// 1. The agent asks for 0.01 ETH to a fresh recipient: a human must approve.
	to1 := freshRecipient(t)
	id1, link1, token1 := pageTransfer(t, s, from, strings.ToLower(to1.Hex()))
	if code := pageNavigate(t, browser, link1); code != http.StatusOK {
		t.Fatalf("approval link: HTTP %d", code)
	}
	checkSummary(t, browser, id1, to1, from)

	// A wrong code: the page says so, shows the form again, nothing changes.
	bad := wrongCode(t, secret)
	status, at := pageSubmit(t, browser, bad, "#approve")
	if status != http.StatusUnprocessableEntity || at != link1+"/approve" {
		t.Errorf("wrong code: HTTP %d at %s, want 422 at %s/approve", status, at, link1)
	}
	if got := pageText(t, browser, "#message"); !strings.HasPrefix(got, "Wrong code") || !strings.Contains(got, "4 tries left") {
		t.Errorf("wrong code: message %q", got)
	}
	if n := pageCount(t, browser, "#message.err[role=alert]"); n != 1 {
		t.Errorf("wrong code: the message is not shown as an error")
	}
	if got := s.approval(id1); got.Status != "pending" || got.TxHash != "" {
		t.Fatalf("after a wrong code: get_approval %+v, want pending", got)
	}
	if got := s.balance(to1.Hex()); got != "0" {
		t.Fatalf("after a wrong code: recipient balance %s", got)
	}

	// The valid code, typed into the form the error page shows again. No code
	// was accepted before on this home, so the current step is a later one.
	good, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if good == bad {
		t.Fatal("the wrong code is the valid one")
	}
	checkSummary(t, browser, id1, to1, from)
	status, at = pageSubmit(t, browser, good, "#approve")
	if status != http.StatusOK || at != link1 {
		t.Fatalf("after Approve: HTTP %d at %s, want 200 at %s", status, at, link1)
	}
	// The executor may already have sent it: "Approved" or "Approved and sent".
	if got := pageText(t, browser, "#title"); !strings.HasPrefix(got, "Approved") || strings.Contains(got, "failed") {
		t.Fatalf("after Approve: title %q", got)
	}
	if n := pageCount(t, browser, "form"); n != 0 {
		t.Errorf("after Approve: %d forms", n)
	}
	hash := s.waitExecuted(id1)
	s.waitMined(hash)
	if got := s.balance(to1.Hex()); got != "0.01" {
		t.Fatalf("recipient balance %s, want 0.01", got)
	}

	// The reused link shows the decision, the transaction and no form.
	checkDecided(t, browser, link1, "Approved and sent", "executed")
	if got := pageText(t, browser, "#tx-hash"); !strings.EqualFold(got, hash) {
		t.Errorf("reopened link: tx %q, want %q", got, hash)
	}

	// 2. A second request, rejected with the page's Reject button.
	to2 := freshRecipient(t)
	before := s.balance(from)
	id2, link2, token2 := pageTransfer(t, s, from, strings.ToLower(to2.Hex()))
	if pageNavigate(t, browser, link2) != http.StatusOK {
		t.Fatal("second approval link did not open")
	}
	checkSummary(t, browser, id2, to2, from)
	status, at = pageSubmit(t, browser, "", "#reject")
	if status != http.StatusOK || at != link2 {
		t.Fatalf("after Reject: HTTP %d at %s, want 200 at %s", status, at, link2)
	}
	if got := pageText(t, browser, "#title"); got != "Rejected" {
		t.Fatalf("after Reject: title %q", got)
	}
	if got := s.approval(id2); got.Status != "rejected" || got.TxHash != "" {
		t.Fatalf("after Reject: get_approval %+v, want rejected without a transaction", got)
	}
	checkDecided(t, browser, link2, "Rejected", "rejected")
	if got := s.balance(to2.Hex()); got != "0" {
		t.Errorf("rejected recipient balance %s, want 0", got)
	}
	if got := s.balance(from); got != before {
		t.Errorf("sender balance %s after the rejection, was %s", got, before)
	}
	// The first approval was not touched by the second's decision.
	if got := s.approval(id1); got.Status != "executed" || got.TxHash != hash {
		t.Errorf("first approval now %+v", got)
	}

	s.stop()
	t.Logf("browser flows done: %v", time.Since(start).Round(time.Millisecond))

	// The home's audit log verifies and holds the decisions, made on the web.
	if r := walletmcpNoPass(t, home, "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "intact") {
		t.Fatalf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	logBytes, err := os.ReadFile(filepath.Join(home, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"the TOTP secret": secret, "the first link token": token1, "the second link token": token2}
	codes := map[string]string{"the wrong code": bad, "the valid code": good}
	events := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(logBytes))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Type string                     `json:"type"`
			Data map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("audit record %q: %v", sc.Text(), err)
		}
		var ev, aid, ch string
		_ = json.Unmarshal(rec.Data["event"], &ev)
		_ = json.Unmarshal(rec.Data["approval_id"], &aid)
		_ = json.Unmarshal(rec.Data["channel"], &ch)
		events[rec.Type+" "+ev+" "+aid+" "+ch]++
		if ev == "approval_approved" || ev == "approval_rejected" {
			var to, amount string
			_ = json.Unmarshal(rec.Data["to"], &to)
			_ = json.Unmarshal(rec.Data["amount"], &amount)
			want := map[string]string{id1: to1.Hex(), id2: to2.Hex()}[aid]
			if to != want || amount != "10000000000000000" {
				t.Errorf("audit %s of %s: to %s amount %s, want %s 10000000000000000", ev, aid, to, amount, want)
			}
		}
		// No value anywhere in the record is a code; no text holds a secret.
		for name, c := range codes {
			if auditHasValue(t, sc.Bytes(), c) {
				t.Errorf("the audit log holds %s: %s", name, sc.Text())
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for name, v := range secrets {
		if bytes.Contains(logBytes, []byte(v)) {
			t.Errorf("the audit log holds %s", name)
		}
	}
	for _, want := range []string{
		"verdict approval_parked " + id1 + " ",
		"security approval_code_refused " + id1 + " web",
		"verdict approval_approved " + id1 + " web",
		"verdict approval_parked " + id2 + " ",
		"verdict approval_rejected " + id2 + " web",
		"security totp_failed " + id1 + " web",   // the wrong code
		"security totp_accepted " + id1 + " web", // the valid code, once
	} {
		if events[want] != 1 {
			t.Errorf("audit log: %d records %q, want 1", events[want], want)
		}
	}
	for _, never := range []string{"verdict approval_approved " + id2 + " web", "verdict approval_rejected " + id1 + " web"} {
		if events[never] != 0 {
			t.Errorf("audit log: %q", never)
		}
	}
	if t.Failed() {
		t.Logf("audit log:\n%s", logBytes)
	}
	// serve's own log on stderr: no code, no link token (the dev secret is
	// printed there on purpose, once).
	stderr := errw.String()
	for name, v := range map[string]string{"the first link token": token1, "the second link token": token2} {
		if strings.Contains(stderr, v) {
			t.Errorf("serve logged %s", name)
		}
	}
	for name, c := range codes {
		if regexp.MustCompile(`(^|[^0-9])` + c + `($|[^0-9])`).MatchString(stderr) {
			t.Errorf("serve logged %s", name)
		}
	}
	if n := strings.Count(stderr, secret); n != 1 {
		t.Errorf("serve printed the TOTP secret %d times, want once (the dev enrolment)", n)
	}
	u, _ := url.Parse(link1)
	t.Logf("approval page at %s; whole test: %v", u.Host, time.Since(start).Round(time.Millisecond))
}

// auditHasValue reports whether any string or number in the JSON record
// equals v.
func auditHasValue(t *testing.T, rec []byte, v string) bool {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(rec))
	d.UseNumber()
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		switch x := tok.(type) {
		case string:
			if x == v {
				return true
			}
		case json.Number:
			if x.String() == v {
				return true
			}
		}
	}
}
