package web_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, installed by `make chromium`.
const chromiumPath = "/usr/bin/chromium"

// syncBuffer collects the browser's output for the failure log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newBrowser starts headless Chromium with a fresh profile and no background
// networking, and returns a context for its first tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing (%v): run make chromium", chromiumPath, err)
	}
	out := &syncBuffer{}
	// A fresh profile, and a TMPDIR of its own so that Chromium's lock and
	// shared-memory files go away with the test.
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
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
	// The whole browser session is bounded; each step below waits for a
	// page or an element, never for a fixed time.
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
	start := time.Now()
	if err := chromedp.Do(bctx); err != nil { // starts the browser and opens the tab
		t.Fatalf("start chromium: %v\n%s", err, out.String())
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
	return bctx
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func countNodes(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
	if err != nil {
		t.Fatalf("nodes %s: %v", sel, err)
	}
	return len(nodes)
}

// clickForResponse clicks sel and returns the HTTP status and URL of the
// page the click loads (after redirects).
func clickForResponse(t *testing.T, ctx context.Context, sel string) (int64, string) {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	return resp.Status, resp.URL
}

// TestChromiumApprove drives the page in headless Chromium as a human would:
// open the link, read the summary, enter the code, approve. On the way it
// checks that a real browser's cross-origin form, a form without its CSRF
// token and a stale form in a second tab (a reused link) are refused.
func TestChromiumApprove(t *testing.T) {
	testStart := time.Now()
	h := newHarness(t)
	link := h.s.URL(testID, testToken)
	ctx := newBrowser(t)

	// 1. Open the link and read the summary.
	if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#title"); got != "Approve this transfer?" {
		t.Fatalf("title %q", got)
	}
	if got := text(t, ctx, "#amount") + " " + text(t, ctx, "#asset"); got != "1250.5 USDC" {
		t.Errorf("amount %q, want 1250.5 USDC", got)
	}
	if got := text(t, ctx, "#to"); got != testTo {
		t.Errorf("recipient %q, want %q", got, testTo)
	}
	if got, want := text(t, ctx, "#to-tail"), testTo[len(testTo)-6:]; got != want {
		t.Errorf("highlighted tail %q, want %q", got, want)
	}
	for sel, want := range map[string]string{
		"#from": testSummary().From, "#contract": testSummary().Contract,
		"#max-fee": "0.0042", "#chain-id": "1337", "#approval-id": testID,
	} {
		if got := text(t, ctx, sel); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if got := text(t, ctx, "#expires"); !strings.HasPrefix(got, "2026-11-01 12:10:00 UTC") {
		t.Errorf("expires %q", got)
	}
	// The highlight is applied, so the CSP let the inline style through.
	style, err := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS("#to-tail")))
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	for _, p := range style {
		props[p.Name] = p.Value
	}
	if props["background-color"] != "rgb(255, 212, 0)" || props["font-weight"] != "700" {
		t.Errorf("tail not highlighted: background-color %q, font-weight %q", props["background-color"], props["font-weight"])
	}
	if n := countNodes(t, ctx, "script"); n != 0 {
		t.Errorf("%d script elements", n)
	}

	// 2. A foreign origin's form, even with a valid CSRF token and the right
	// code, is refused: the browser sends its own Origin.
	stolen := h.render(t, testID, testToken)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/approve">`+
			`<input type="hidden" name="csrf" value="%s"><input type="hidden" name="code" value="%s">`+
			`<button id="go" type="submit">Claim your prize</button></form>`,
			html.EscapeString(link), html.EscapeString(stolen), testCode)
	}))
	defer evil.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(evil.URL)); err != nil {
		t.Fatal(err)
	}
	if status, _ := clickForResponse(t, ctx, "#go"); status != http.StatusForbidden {
		t.Errorf("cross-origin form: status %d, want 403", status)
	}
	if got := text(t, ctx, "#message"); !strings.Contains(got, "only be sent from the approval page") {
		t.Errorf("cross-origin form: message %q", got)
	}

	// 3. The page's own form without its CSRF token is refused.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.SetAttributeValue(chromedp.CSS(`#approve-form input[name="csrf"]`), "name", "not-csrf"),
		chromedp.SendKeys(chromedp.CSS("#code"), testCode),
	); err != nil {
		t.Fatal(err)
	}
	if status, _ := clickForResponse(t, ctx, "#approve"); status != http.StatusForbidden {
		t.Errorf("form without CSRF token: status %d, want 403", status)
	}
	if got := text(t, ctx, "#message"); !strings.Contains(got, "missing its token") {
		t.Errorf("form without CSRF token: message %q", got)
	}
	if calls := h.f.Calls(); len(calls) != 0 {
		t.Fatalf("refused forms reached the Decider: %+v", calls)
	}

	// A second tab holds the form open, to be sent after the decision.
	tab2, cancelTab2 := chromedp.NewContext(ctx)
	defer cancelTab2()
	if err := chromedp.Do(tab2, chromedp.Navigate(link), chromedp.SendKeys(chromedp.CSS("#code"), testCode)); err != nil {
		t.Fatal(err)
	}

	// 4. Open the link, enter the code, approve.
	flowStart := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.SendKeys(chromedp.CSS("#code"), testCode)); err != nil {
		t.Fatal(err)
	}
	status, url := clickForResponse(t, ctx, "#approve")
	if status != http.StatusOK || url != link {
		t.Fatalf("after Approve: status %d at %s, want 200 at %s", status, url, link)
	}
	if got := text(t, ctx, "#title"); got != "Approved" {
		t.Fatalf("after Approve: title %q", got)
	}
	t.Logf("open, type the code, approve: %v", time.Since(flowStart).Round(time.Millisecond))
	want := call{"Approve", testID, testCode, "web"}
	if calls := h.f.Calls(); len(calls) != 1 || calls[0] != want {
		t.Fatalf("Decider calls %+v, want [%+v]", calls, want)
	}

	// 5. Reopening the link shows the decision and no form.
	if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#title"); got != "Approved" {
		t.Errorf("reopened: title %q", got)
	}
	if got := text(t, ctx, "#status"); got != "approved" {
		t.Errorf("reopened: status %q", got)
	}
	if n := countNodes(t, ctx, "form"); n != 0 {
		t.Errorf("reopened: %d forms, want none", n)
	}
	if n := countNodes(t, ctx, "#decided[data-status=approved]"); n != 1 {
		t.Errorf("reopened: no decided marker")
	}

	// 6. The stale form in the second tab (a reused link) is refused.
	status, _ = clickForResponse(t, tab2, "#approve")
	if status != http.StatusConflict {
		t.Errorf("stale form: status %d, want 409", status)
	}
	if got := text(t, tab2, "#message"); !strings.Contains(got, "already used") {
		t.Errorf("stale form: message %q", got)
	}
	if n := countNodes(t, tab2, "form"); n != 0 {
		t.Errorf("stale form: %d forms on the 409 page", n)
	}
	if calls := h.f.Calls(); len(calls) != 1 {
		t.Errorf("Decider calls after the stale form %+v, want only the approval", calls)
	}
	t.Logf("whole browser test: %v", time.Since(testStart).Round(time.Millisecond))
}
