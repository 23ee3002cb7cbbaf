package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/approval/web"
	"github.com/walletmcp/walletmcp/policy"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// The test approval: a token transfer whose recipient ends in "c0FfEe".
const (
	testID    = "7c0a9e4b2d1f4a6b8c3e5d7f9a1b2c4d"
	testToken = "tok_9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c"
	testCode  = "492817"
	testTo    = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1bEAed"
	otherID   = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	otherTok  = "tok_other_0123456789abcdef0123456789"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func testSummary() policy.Summary {
	return policy.Summary{
		ChainID:         1337,
		From:            "0x71C7656EC7ab88b098defB751B7401B5f6d8976F",
		To:              testTo,
		ToTail:          testTo[len(testTo)-6:],
		Amount:          "1250.5",
		AmountBaseUnits: "1250500000",
		Asset:           "USDC",
		MaxFee:          "0.0042",
		Contract:        "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
	}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type call struct{ Method, ID, Code, Channel string }

type entry struct {
	token string
	a     web.Approval
}

// fakeDecider is the approval service: links, one good code, and a record of
// every Approve and Reject.
type fakeDecider struct {
	mu      sync.Mutex
	entries map[string]*entry
	calls   []call
	// approveErr, when set, is what every Approve returns.
	approveErr error
}

var _ web.Decider = (*fakeDecider)(nil)

func newFake(c *clock) *fakeDecider {
	f := &fakeDecider{entries: map[string]*entry{}}
	f.add(testID, testToken, approvalstate.Pending, c.Now().Add(10*time.Minute))
	f.add(otherID, otherTok, approvalstate.Pending, c.Now().Add(10*time.Minute))
	return f
}

func (f *fakeDecider) add(id, token string, status approvalstate.Status, expires time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries[id] = &entry{token: token, a: web.Approval{ID: id, Status: status, ExpiresAt: expires, Summary: testSummary()}}
}

func (f *fakeDecider) set(id string, mut func(a *web.Approval)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mut(&f.entries[id].a)
}

func (f *fakeDecider) CheckLink(_ context.Context, id, token string) (*web.Approval, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.entries[id]
	if !ok || e.token != token {
		return nil, errors.New("approval: not found")
	}
	a := e.a
	return &a, nil
}

func (f *fakeDecider) Approve(_ context.Context, id, code, channel string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{"Approve", id, code, channel})
	if f.approveErr != nil {
		return f.approveErr
	}
	e := f.entries[id]
	if e.a.Status != approvalstate.Pending {
		return policy.Errorf(policy.CodeConflict, "approval is %s", e.a.Status)
	}
	if code != testCode {
		return policy.Errorf(policy.CodeInvalidArgument, "wrong code <b>try again</b>")
	}
	e.a.Status = approvalstate.Approved
	return nil
}

func (f *fakeDecider) Reject(_ context.Context, id, channel string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{"Reject", id, "", channel})
	e := f.entries[id]
	if e.a.Status != approvalstate.Pending {
		return policy.Errorf(policy.CodeConflict, "approval is %s", e.a.Status)
	}
	e.a.Status = approvalstate.Rejected
	return nil
}

func (f *fakeDecider) status(id string) approvalstate.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.entries[id].a.Status
}

func (f *fakeDecider) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// harness is a started Server with its fake Decider and clock.
type harness struct {
	s   *web.Server
	f   *fakeDecider
	c   *clock
	own string      // http://127.0.0.1:PORT
	log *syncBuffer // the server's log
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	c := &clock{t: t0}
	f := newFake(c)
	logs := &syncBuffer{}
	s, err := web.New(f, &web.Options{Now: c.Now, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &harness{s: s, f: f, c: c, own: "http://" + s.Addr(), log: logs}
}

type response struct {
	*http.Response
	body string
}

// do sends one request to the server. Host, when set, replaces the Host
// header; hdr adds headers; form, when not nil, is the urlencoded body.
func (h *harness) do(t *testing.T, method, path, host string, hdr http.Header, form url.Values) *response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.own+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if host != "" {
		req.Host = host
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	checkSecurityHeaders(t, method+" "+path, resp.Header)
	return &response{Response: resp, body: string(b)}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// render GETs the link of id and returns its CSRF token.
func (h *harness) render(t *testing.T, id, token string) string {
	t.Helper()
	r := h.do(t, "GET", "/a/"+id+"/"+token, "", nil, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET link: status %d", r.StatusCode)
	}
	m := csrfRE.FindAllStringSubmatch(r.body, -1)
	if len(m) != 2 || m[0][1] != m[1][1] {
		t.Fatalf("GET link: want one CSRF token in both forms, found %d", len(m))
	}
	return m[0][1]
}

// post sends a form to the approve or reject action of the test approval
// with the page's own Origin.
func (h *harness) post(t *testing.T, action string, form url.Values) *response {
	t.Helper()
	return h.do(t, "POST", "/a/"+testID+"/"+testToken+"/"+action, "", http.Header{"Origin": {h.own}}, form)
}

// checkSecurityHeaders asserts the headers every response carries.
func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'sha256-", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
		}
	}
	for _, bad := range []string{"script-src", "unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: Content-Security-Policy %q contains %q", what, csp, bad)
		}
	}
	want := map[string]string{
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	if rp := h.Get("Referrer-Policy"); rp != "no-referrer" && rp != "same-origin" {
		t.Errorf("%s: Referrer-Policy = %q", what, rp)
	}
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("%s: CORS header %s present", what, k)
		}
	}
}
