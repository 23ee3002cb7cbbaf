package web_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/approval/web"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

func TestNewRefusesNonLoopback(t *testing.T) {
	f := newFake(&clock{t: t0})
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:8080", "example.com:80", "127.0.0.1", "localhost.evil.example:1"} {
		if _, err := web.New(f, &web.Options{Addr: addr}); err == nil {
			t.Errorf("New(Addr %q): no error", addr)
		}
	}
	if _, err := web.New(f, &web.Options{Addr: "0.0.0.0:0"}); !errors.Is(err, web.ErrNotLoopback) {
		t.Errorf("New(0.0.0.0:0) = %v, want ErrNotLoopback", err)
	}
	for _, addr := range []string{"", "127.0.0.1:0", "localhost:0"} {
		s, err := web.New(f, &web.Options{Addr: addr})
		if err != nil {
			t.Errorf("New(Addr %q): %v", addr, err)
			continue
		}
		if s.Addr() != "" || s.URL("a", "b") != "" {
			t.Errorf("Addr/URL before Start not empty")
		}
	}
	if _, err := web.New(nil, nil); err == nil {
		t.Error("New(nil Decider): no error")
	}
}

func TestURL(t *testing.T) {
	h := newHarness(t)
	if !strings.HasPrefix(h.s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q", h.s.Addr())
	}
	want := "http://" + h.s.Addr() + "/a/" + testID + "/" + testToken
	if got := h.s.URL(testID, testToken); got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
}

// TestGetRendersSummary checks the page: the whole summary, the highlighted
// tail, the code field, two plain forms and no script or remote resource.
func TestGetRendersSummary(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	sum := testSummary()
	for _, want := range []string{
		`<span id="amount" class="amount">1250.5</span> <span id="asset" class="amount">USDC</span>`,
		`<td id="to" class="mono">0x5aAeb6053F3E94C9b9A09f33669435E7Ef<mark id="to-tail" class="tail">1bEAed</mark></td>`,
		`<td id="from" class="mono">` + sum.From + `</td>`,
		`<td id="contract" class="mono">` + sum.Contract + `</td>`,
		`<span id="max-fee">0.0042</span> ETH`,
		`<td id="chain-id">1337</td>`,
		`<td id="expires">2026-11-01 12:10:00 UTC (in 10 min 0 s)</td>`,
		`1250500000`,
		`<form id="approve-form" method="post" action="/a/` + testID + `/` + testToken + `/approve">`,
		`<form id="reject-form" method="post" action="/a/` + testID + `/` + testToken + `/reject">`,
		`name="code"`,
		`<button id="approve" class="approve" type="submit">Approve</button>`,
		`<button id="reject" class="reject" type="submit">Reject</button>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	lower := strings.ToLower(r.body)
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "src=", "http://", "https://", "@import", "url(", "javascript:"} {
		if strings.Contains(lower, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if m := regexp.MustCompile(`\son[a-z]+\s*=`).FindString(lower); m != "" {
		t.Errorf("page has an event handler attribute %q", m)
	}
	if rp := r.Header.Get("Referrer-Policy"); rp != "same-origin" {
		t.Errorf("form page Referrer-Policy = %q, want same-origin", rp)
	}
}

// TestStyleHashMatchesCSP checks that the one inline style is the one the
// Content-Security-Policy allows (else the tail highlight would be dropped).
func TestStyleHashMatchesCSP(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(r.body, -1)
	if len(m) != 1 {
		t.Fatalf("want one <style>, found %d", len(m))
	}
	sum := sha256.Sum256([]byte(m[0][1]))
	want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
		t.Fatalf("CSP %q lacks %q", csp, want)
	}
	if strings.Count(r.body, "style=") != 0 {
		t.Error("page has a style attribute (blocked by the CSP)")
	}
}

// TestRefusals is one row per way a request is refused. None reaches
// Approve or Reject.
func TestRefusals(t *testing.T) {
	link := "/a/" + testID + "/" + testToken
	good := func(csrf string) url.Values { return url.Values{"csrf": {csrf}, "code": {testCode}} }
	tests := []struct {
		name string
		// run sends the refused request (after any setup) and returns it.
		run      func(t *testing.T, h *harness) *response
		status   int
		bodyHas  string
		bodyNot  string // e.g. "<form": no form on this page
		wantCall int    // Approve/Reject calls expected (setup calls included)
	}{
		{
			name: "foreign Origin",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "POST", link+"/approve", "", http.Header{"Origin": {"http://evil.example"}}, good(h.render(t, testID, testToken)))
			},
			status: 403, bodyHas: "only be sent from the approval page",
		},
		{
			name: "Origin of localhost when the page is 127.0.0.1",
			run: func(t *testing.T, h *harness) *response {
				port := h.s.Addr()[strings.LastIndex(h.s.Addr(), ":"):]
				return h.do(t, "POST", link+"/approve", "", http.Header{"Origin": {"http://localhost" + port}}, good(h.render(t, testID, testToken)))
			},
			status: 403, bodyHas: "only be sent from the approval page",
		},
		{
			name: "Origin null",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "POST", link+"/approve", "", http.Header{"Origin": {"null"}}, good(h.render(t, testID, testToken)))
			},
			status: 403, bodyHas: "only be sent from the approval page",
		},
		{
			name: "Origin with a path-less https scheme",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "POST", link+"/approve", "", http.Header{"Origin": {"https://" + h.s.Addr()}}, good(h.render(t, testID, testToken)))
			},
			status: 403, bodyHas: "only be sent from the approval page",
		},
		{
			name: "missing Origin and Referer",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "POST", link+"/approve", "", nil, good(h.render(t, testID, testToken)))
			},
			status: 403, bodyHas: "only be sent from the approval page",
		},
		{
			name: "foreign Referer without Origin",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "POST", link+"/approve", "", http.Header{"Referer": {"http://evil.example" + link}}, good(h.render(t, testID, testToken)))
			},
			status: 403, bodyHas: "only be sent from the approval page",
		},
		{
			name: "foreign Origin with own Referer",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "POST", link+"/approve", "", http.Header{"Origin": {"http://evil.example"}, "Referer": {h.own + link}}, good(h.render(t, testID, testToken)))
			},
			status: 403, bodyHas: "only be sent from the approval page",
		},
		{
			name: "missing CSRF",
			run: func(t *testing.T, h *harness) *response {
				h.render(t, testID, testToken)
				return h.post(t, "approve", url.Values{"code": {testCode}})
			},
			status: 403, bodyHas: "missing its token",
		},
		{
			name: "wrong CSRF",
			run: func(t *testing.T, h *harness) *response {
				tok := h.render(t, testID, testToken)
				// Right handle, wrong secret: one character of the secret
				// changed (not the last, whose low bits are padding).
				i := strings.Index(tok, ".") + 5
				repl := byte('A')
				if tok[i] == 'A' {
					repl = 'B'
				}
				return h.post(t, "approve", good(tok[:i]+string(repl)+tok[i+1:]))
			},
			status: 403, bodyHas: "missing its token",
		},
		{
			name: "garbage CSRF",
			run: func(t *testing.T, h *harness) *response {
				h.render(t, testID, testToken)
				return h.post(t, "approve", good("0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
			},
			status: 403, bodyHas: "missing its token",
		},
		{
			name: "CSRF of another approval",
			run: func(t *testing.T, h *harness) *response {
				return h.post(t, "approve", good(h.render(t, otherID, otherTok)))
			},
			status: 403, bodyHas: "missing its token",
		},
		{
			name: "reused CSRF",
			run: func(t *testing.T, h *harness) *response {
				tok := h.render(t, testID, testToken)
				first := h.post(t, "approve", url.Values{"csrf": {tok}, "code": {"000000"}})
				if first.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("first post: status %d, want 422", first.StatusCode)
				}
				return h.post(t, "approve", good(tok))
			},
			status: 403, bodyHas: "missing its token", wantCall: 1,
		},
		{
			name: "expired CSRF",
			run: func(t *testing.T, h *harness) *response {
				h.f.set(testID, func(a *web.Approval) { a.ExpiresAt = t0.Add(time.Hour) })
				tok := h.render(t, testID, testToken)
				h.c.Add(11 * time.Minute)
				return h.post(t, "approve", good(tok))
			},
			status: 403, bodyHas: "missing its token",
		},
		{
			name: "bad Host",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "GET", link, "evil.example", nil, nil)
			},
			status: 421, bodyNot: "1bEAed",
		},
		{
			name: "bad Host with our port (DNS rebinding)",
			run: func(t *testing.T, h *harness) *response {
				port := h.s.Addr()[strings.LastIndex(h.s.Addr(), ":"):]
				return h.do(t, "GET", link, "rebind.evil.example"+port, nil, nil)
			},
			status: 421, bodyNot: "1bEAed",
		},
		{
			name: "bad Host on a post",
			run: func(t *testing.T, h *harness) *response {
				tok := h.render(t, testID, testToken)
				port := h.s.Addr()[strings.LastIndex(h.s.Addr(), ":"):]
				return h.do(t, "POST", link+"/approve", "127.0.0.1.evil.example"+port, http.Header{"Origin": {"http://127.0.0.1.evil.example" + port}}, good(tok))
			},
			status: 421,
		},
		{
			name: "bad token",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "GET", "/a/"+testID+"/tok_wrong", "", nil, nil)
			},
			status: 404, bodyHas: "not valid", bodyNot: "1bEAed",
		},
		{
			name: "bad token on a post",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "POST", "/a/"+testID+"/tok_wrong/approve", "", http.Header{"Origin": {h.own}}, good(h.render(t, testID, testToken)))
			},
			status: 404,
		},
		{
			name: "token of another approval",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "GET", "/a/"+testID+"/"+otherTok, "", nil, nil)
			},
			status: 404,
		},
		{
			name: "malformed link",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "GET", "/a/"+testID+"/"+testToken+"%2F..", "", nil, nil)
			},
			status: 404,
		},
		{
			name: "decided approval: post",
			run: func(t *testing.T, h *harness) *response {
				tok := h.render(t, testID, testToken)
				h.f.set(testID, func(a *web.Approval) { a.Status = approvalstate.Approved })
				return h.post(t, "approve", good(tok))
			},
			status: 409, bodyHas: "This link was already used: the request is approved", bodyNot: "<form",
		},
		{
			name: "decided approval: reject",
			run: func(t *testing.T, h *harness) *response {
				tok := h.render(t, testID, testToken)
				h.f.set(testID, func(a *web.Approval) { a.Status = approvalstate.Executed; a.TxHash = "0xabc123" })
				return h.post(t, "reject", url.Values{"csrf": {tok}})
			},
			status: 409, bodyHas: "0xabc123", bodyNot: "<form",
		},
		{
			name: "expired approval: post",
			run: func(t *testing.T, h *harness) *response {
				tok := h.render(t, testID, testToken)
				h.c.Add(10 * time.Minute)
				return h.post(t, "approve", good(tok))
			},
			status: 409, bodyHas: "request is expired", bodyNot: "<form",
		},
		{
			name: "body too large",
			run: func(t *testing.T, h *harness) *response {
				f := good(h.render(t, testID, testToken))
				f.Set("pad", strings.Repeat("x", 5000))
				return h.post(t, "approve", f)
			},
			status: 413,
		},
		{
			name: "GET on an action",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "GET", link+"/approve", "", nil, nil)
			},
			status: 405,
		},
		{
			name: "POST on the link",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "POST", link, "", http.Header{"Origin": {h.own}}, good(h.render(t, testID, testToken)))
			},
			status: 405,
		},
		{
			name: "unknown action",
			run: func(t *testing.T, h *harness) *response {
				return h.do(t, "POST", link+"/cancel", "", http.Header{"Origin": {h.own}}, good(h.render(t, testID, testToken)))
			},
			status: 404,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := tt.run(t, h)
			if r.StatusCode != tt.status {
				t.Errorf("status %d, want %d; body:\n%s", r.StatusCode, tt.status, r.body)
			}
			if tt.bodyHas != "" && !strings.Contains(r.body, tt.bodyHas) {
				t.Errorf("body lacks %q:\n%s", tt.bodyHas, r.body)
			}
			if tt.bodyNot != "" && strings.Contains(r.body, tt.bodyNot) {
				t.Errorf("body contains %q:\n%s", tt.bodyNot, r.body)
			}
			if n := len(h.f.Calls()); n != tt.wantCall {
				t.Errorf("Decider got %d Approve/Reject calls, want %d: %+v", n, tt.wantCall, h.f.Calls())
			}
			if st := h.f.status(testID); tt.status != 409 && st != approvalstate.Pending {
				t.Errorf("approval status %s after a refusal", st)
			}
		})
	}
}

// TestWrongLinkPagesIdentical: a wrong id and a wrong token give the same
// page, so the response does not tell which part was wrong.
func TestWrongLinkPagesIdentical(t *testing.T) {
	h := newHarness(t)
	a := h.do(t, "GET", "/a/"+testID+"/tok_wrong", "", nil, nil)
	b := h.do(t, "GET", "/a/apr_unknown/"+testToken, "", nil, nil)
	c := h.do(t, "GET", "/nothing-here", "", nil, nil)
	if a.StatusCode != 404 || b.StatusCode != 404 || c.StatusCode != 404 {
		t.Fatalf("statuses %d %d %d, want 404", a.StatusCode, b.StatusCode, c.StatusCode)
	}
	if a.body != b.body || a.body != c.body {
		t.Fatalf("wrong-link pages differ:\n%s\n---\n%s", a.body, b.body)
	}
}

// TestHeadersOnEveryResponse: the security headers on a page, a redirect
// and each kind of refusal (do checks them on every response; this test
// makes sure each kind is sent at least once).
func TestHeadersOnEveryResponse(t *testing.T) {
	h := newHarness(t)
	link := "/a/" + testID + "/" + testToken
	statuses := map[int]bool{}
	for _, r := range []*response{
		h.do(t, "GET", link, "", nil, nil),
		h.do(t, "HEAD", link, "", nil, nil),
		h.do(t, "GET", "/", "", nil, nil),
		h.do(t, "GET", "/favicon.ico", "", nil, nil),
		h.do(t, "GET", link, "evil.example", nil, nil),
		h.do(t, "OPTIONS", link, "", nil, nil),
		h.do(t, "POST", link+"/approve", "", nil, url.Values{}),
		h.post(t, "approve", url.Values{"csrf": {h.render(t, testID, testToken)}, "code": {testCode}}),
		h.do(t, "GET", link, "", nil, nil),
	} {
		statuses[r.StatusCode] = true
	}
	for _, want := range []int{200, 303, 403, 404, 405, 421} {
		if !statuses[want] {
			t.Errorf("no response with status %d seen", want)
		}
	}
}

func TestGetHeaders(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'sha256-",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "same-origin",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
	}
	for k, v := range want {
		if got := r.Header.Get(k); !strings.HasPrefix(got, v) {
			t.Errorf("%s = %q, want prefix %q", k, got, v)
		}
	}
	if !strings.HasSuffix(r.Header.Get("Content-Security-Policy"), "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'") {
		t.Errorf("CSP = %q", r.Header.Get("Content-Security-Policy"))
	}
	// A page without a form sends no referrer at all.
	n := h.do(t, "GET", "/a/"+testID+"/tok_wrong", "", nil, nil)
	if got := n.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("404 page Referrer-Policy = %q, want no-referrer", got)
	}
}

func TestOptionsNoCORS(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/a/" + testID + "/" + testToken, "/a/" + testID + "/" + testToken + "/approve", "/"} {
		r := h.do(t, "OPTIONS", path, "", http.Header{
			"Origin":                         {"http://evil.example"},
			"Access-Control-Request-Method":  {"POST"},
			"Access-Control-Request-Headers": {"content-type"},
		}, nil)
		// "/" is a wrong link: 404 before the method is looked at.
		if want := map[bool]int{true: 404, false: 405}[path == "/"]; r.StatusCode != want {
			t.Errorf("OPTIONS %s: status %d, want %d", path, r.StatusCode, want)
		}
		// checkSecurityHeaders (in do) has already refused any Access-Control-*.
	}
}

func TestApproveFlow(t *testing.T) {
	h := newHarness(t)
	tok := h.render(t, testID, testToken)
	r := h.post(t, "approve", url.Values{"csrf": {tok}, "code": {"492 817"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: status %d, body:\n%s", r.StatusCode, r.body)
	}
	if loc := r.Header.Get("Location"); loc != "/a/"+testID+"/"+testToken {
		t.Fatalf("Location %q", loc)
	}
	want := []call{{"Approve", testID, testCode, "web"}}
	if got := h.f.Calls(); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("calls %+v, want %+v", got, want)
	}
	g := h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
	if g.StatusCode != 200 || !strings.Contains(g.body, `<h1 id="title">Approved</h1>`) || strings.Contains(g.body, "<form") {
		t.Fatalf("after approve: status %d, body:\n%s", g.StatusCode, g.body)
	}
	if got := g.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("decided page Referrer-Policy = %q, want no-referrer", got)
	}
}

func TestRejectFlow(t *testing.T) {
	h := newHarness(t)
	tok := h.render(t, testID, testToken)
	// The Referer stands in for a missing Origin.
	r := h.do(t, "POST", "/a/"+testID+"/"+testToken+"/reject", "", http.Header{"Referer": {h.own + "/a/" + testID + "/" + testToken}}, url.Values{"csrf": {tok}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reject: status %d, body:\n%s", r.StatusCode, r.body)
	}
	if got := h.f.Calls(); len(got) != 1 || got[0] != (call{"Reject", testID, "", "web"}) {
		t.Fatalf("calls %+v", got)
	}
	g := h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
	if !strings.Contains(g.body, `<h1 id="title">Rejected</h1>`) || strings.Contains(g.body, "<form") {
		t.Fatalf("after reject:\n%s", g.body)
	}
}

// TestWrongCodeShowsError: the Decider's message is shown (escaped) with a
// fresh form; a malformed code never reaches the Decider.
func TestWrongCodeShowsError(t *testing.T) {
	h := newHarness(t)
	tok := h.render(t, testID, testToken)
	r := h.post(t, "approve", url.Values{"csrf": {tok}, "code": {"111111"}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", r.StatusCode)
	}
	if !strings.Contains(r.body, "wrong code &lt;b&gt;try again&lt;/b&gt;") {
		t.Fatalf("error not shown escaped:\n%s", r.body)
	}
	m := csrfRE.FindStringSubmatch(r.body)
	if m == nil || m[1] == tok {
		t.Fatalf("no fresh CSRF token after a wrong code")
	}
	r = h.post(t, "approve", url.Values{"csrf": {m[1]}, "code": {"12ab56"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Enter the 6-digit code") {
		t.Fatalf("malformed code: status %d\n%s", r.StatusCode, r.body)
	}
	if n := len(h.f.Calls()); n != 1 {
		t.Fatalf("Decider got %d calls, want 1 (the malformed code must not reach it)", n)
	}
	m = csrfRE.FindStringSubmatch(r.body)
	r = h.post(t, "approve", url.Values{"csrf": {m[1]}, "code": {testCode}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("right code after wrong ones: status %d", r.StatusCode)
	}
}

func TestDecidedLinkShowsStateWithoutForm(t *testing.T) {
	for _, st := range []approvalstate.Status{approvalstate.Approved, approvalstate.Rejected, approvalstate.Expired, approvalstate.Executed, approvalstate.Failed, "weird"} {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t)
			h.f.set(testID, func(a *web.Approval) { a.Status = st })
			r := h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
			if r.StatusCode != 200 {
				t.Fatalf("status %d", r.StatusCode)
			}
			if strings.Contains(r.body, "<form") || strings.Contains(r.body, "csrf") {
				t.Fatalf("decided page has a form:\n%s", r.body)
			}
			if !strings.Contains(r.body, `id="to-tail" class="tail">1bEAed</mark>`) {
				t.Errorf("decided page lacks the summary")
			}
		})
	}
	t.Run("pending past expiry", func(t *testing.T) {
		h := newHarness(t)
		h.c.Add(10 * time.Minute)
		r := h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
		if strings.Contains(r.body, "<form") || !strings.Contains(r.body, `<h1 id="title">Expired</h1>`) {
			t.Fatalf("expired page:\n%s", r.body)
		}
	})
}

// TestEscaping: text in the summary is escaped, never markup.
func TestEscaping(t *testing.T) {
	h := newHarness(t)
	h.f.set(testID, func(a *web.Approval) { a.Summary.Asset = `<script>alert(1)</script>"'` })
	r := h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
	if strings.Contains(r.body, "<script") {
		t.Fatalf("symbol not escaped:\n%s", r.body)
	}
	if !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;") {
		t.Fatalf("escaped symbol missing:\n%s", r.body)
	}
}

// TestInconsistentSummaryRefused: a to_tail that is not the recipient's own
// tail, or a summary for another id, is never offered for approval.
func TestInconsistentSummaryRefused(t *testing.T) {
	for name, mut := range map[string]func(a *web.Approval){
		"tail":     func(a *web.Approval) { a.Summary.ToTail = "c0ffee" },
		"id":       func(a *web.Approval) { a.ID = otherID },
		"to":       func(a *web.Approval) { a.Summary.To = "1bEAed" },
		"noamount": func(a *web.Approval) { a.Summary.Amount = "" },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.f.set(testID, mut)
			r := h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
			if r.StatusCode != 500 || strings.Contains(r.body, "<form") {
				t.Fatalf("status %d, body:\n%s", r.StatusCode, r.body)
			}
		})
	}
}

// TestLocalhostHost: the page also answers as localhost:PORT, and then
// wants that origin on a post.
func TestLocalhostHost(t *testing.T) {
	h := newHarness(t)
	port := h.s.Addr()[strings.LastIndex(h.s.Addr(), ":"):]
	host := "localhost" + port
	r := h.do(t, "GET", "/a/"+testID+"/"+testToken, host, nil, nil)
	if r.StatusCode != 200 {
		t.Fatalf("GET as %s: %d", host, r.StatusCode)
	}
	tok := csrfRE.FindStringSubmatch(r.body)[1]
	p := h.do(t, "POST", "/a/"+testID+"/"+testToken+"/approve", host, http.Header{"Origin": {"http://" + host}}, url.Values{"csrf": {tok}, "code": {testCode}})
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST as %s: %d", host, p.StatusCode)
	}
}

// TestLogsHoldNoSecrets: the log names approvals and outcomes, never the link
// token, a CSRF token or a code.
func TestLogsHoldNoSecrets(t *testing.T) {
	h := newHarness(t)
	link := "/a/" + testID + "/" + testToken
	var csrfs []string
	tok := h.render(t, testID, testToken)
	csrfs = append(csrfs, tok)
	h.do(t, "POST", link+"/approve", "", http.Header{"Origin": {"http://evil.example"}}, url.Values{"csrf": {tok}, "code": {"271828"}})
	h.post(t, "approve", url.Values{"csrf": {tok}, "code": {"314159"}})
	h.post(t, "approve", url.Values{"csrf": {"x"}, "code": {"161803"}})
	tok = h.render(t, testID, testToken)
	csrfs = append(csrfs, tok)
	r := h.post(t, "approve", url.Values{"csrf": {tok}, "code": {"141421"}})
	csrfs = append(csrfs, csrfRE.FindStringSubmatch(r.body)[1])
	h.post(t, "approve", url.Values{"csrf": {csrfs[2]}, "code": {testCode}})
	h.do(t, "GET", link, "evil.example", nil, nil)
	h.do(t, "GET", "/a/"+testID+"/tok_wrong_secret", "", nil, nil)
	logs := h.log.String()
	if !strings.Contains(logs, "decision recorded") || !strings.Contains(logs, testID) {
		t.Fatalf("log lacks the decision:\n%s", logs)
	}
	for _, secret := range append(csrfs, testToken, "tok_wrong_secret", testCode, "271828", "314159", "161803", "141421") {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

// TestRefusalMessages: what the page says when a code or a decision is
// refused is a sentence for a person, without an internal prefix.
func TestRefusalMessages(t *testing.T) {
	until := time.Date(2026, 5, 1, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"wrong code", &totp.FailedError{Err: totp.ErrWrongCode, Left: 4}, []string{"Wrong code", "4 tries left for this request"}},
		{"used code", &totp.FailedError{Err: totp.ErrReplay, Left: 3}, []string{"already used", "wait for the next code"}},
		{"link locked", &totp.FailedError{Err: totp.ErrWrongCode, Lock: &totp.LockedError{Until: until, ApprovalID: testID}},
			[]string{"Too many wrong codes for this request", "2026-05-01 10:30:00 UTC", "walletmcp approve " + testID}},
		{"page locked", &totp.LockedError{Until: until, Page: true, ApprovalID: testID}, []string{"approval page", "security event", "in a terminal still works"}},
		{"state invalid", totp.ErrStateInvalid, []string{"does not verify", "walletmcp totp enroll"}},
		{"with an audit error", errors.Join(&totp.FailedError{Err: totp.ErrWrongCode, Left: 1}, errors.New("audit: disk full")), []string{"Wrong code", "1 try left"}},
		{"expired", pending.ErrExpired, []string{"expired"}},
		{"decided elsewhere", &pending.NotPendingError{ID: testID, Status: "approved"}, []string{"already decided"}},
		{"internal", errors.New("store: database is locked"), []string{"nothing was approved", "walletmcp approve"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.f.mu.Lock()
			h.f.approveErr = tt.err
			h.f.mu.Unlock()
			tok := h.render(t, testID, testToken)
			r := h.post(t, "approve", url.Values{"csrf": {tok}, "code": {"123456"}})
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d", r.StatusCode)
			}
			body := html.UnescapeString(r.body)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
			for _, bad := range []string{"totp:", "pending:", "store:", "audit:"} {
				if strings.Contains(body, bad) {
					t.Errorf("page shows an internal prefix %q", bad)
				}
			}
			if !strings.Contains(r.body, "<form") {
				t.Error("no form after a refusal: the human cannot reject")
			}
		})
	}
}
