package mcphttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/mcpserver"
)

func TestAuthRefusals(t *testing.T) {
	r := newRig(t, nil)
	good := r.issue([]string{ScopeRead}, time.Time{})
	expired := r.issue([]string{ScopeRead}, r.clock.Now().Add(time.Minute))
	revoked := r.issue([]string{ScopeRead}, time.Time{})
	if err := r.st.RevokeHTTPToken(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(2 * time.Minute)
	host := strings.TrimPrefix(strings.TrimSuffix(r.url, MCPPath), "http://")

	tests := []struct {
		name   string
		rec    *recorder
		status int
	}{
		{"no token", &recorder{}, http.StatusUnauthorized},
		{"wrong token", &recorder{token: TokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, http.StatusUnauthorized},
		{"not a walletmcp token, no oauth", &recorder{token: "abc.def.ghi"}, http.StatusUnauthorized},
		{"expired", &recorder{token: expired.Token}, http.StatusUnauthorized},
		{"revoked", &recorder{token: revoked.Token}, http.StatusUnauthorized},
		{"foreign origin", &recorder{token: good.Token, origin: "https://evil.example"}, http.StatusForbidden},
		{"wrong host", &recorder{token: good.Token, host: "evil.example:80"}, http.StatusMisdirectedRequest},
		{"rebound host", &recorder{token: good.Token, host: "attacker.example:" + strings.Split(host, ":")[1]}, http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := r.connect(tt.rec)
			if err == nil {
				cs.Close()
				t.Fatalf("connected")
			}
			if got := tt.rec.last(); got != tt.status {
				t.Fatalf("status %d, want %d", got, tt.status)
			}
		})
	}
	t.Run("own origin", func(t *testing.T) {
		cs, err := r.connect(&recorder{token: good.Token, origin: "http://" + host})
		if err != nil {
			t.Fatal(err)
		}
		cs.Close()
	})
	r.noSecrets(good.Token, expired.Token, revoked.Token)
}

func TestUnauthorizedPointsAtMetadata(t *testing.T) {
	r := newRig(t, nil)
	resp, err := http.Post(r.url, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := `resource_metadata="` + strings.TrimSuffix(r.url, MCPPath) + MetadataPath + `"`
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), want) {
		t.Fatalf("status %d, WWW-Authenticate %q; want 401 with %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
	meta, err := http.Get(strings.TrimSuffix(r.url, MCPPath) + MetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Body.Close()
	body, err := io.ReadAll(meta.Body)
	if err != nil {
		t.Fatal(err)
	}
	if meta.StatusCode != 200 || !strings.Contains(string(body), `"resource":"`+r.url+`"`) {
		t.Fatalf("metadata %d %s", meta.StatusCode, body)
	}
}

// TestScopes: a token's scopes filter tools/list and refuse the calls
// beyond them, and each refused call is reported to Options.Refused (the
// MCP server's audit), with its code; allowed calls are not.
func TestScopes(t *testing.T) {
	var mu sync.Mutex
	var refused []string
	r := newRig(t, func(o *Options) {
		o.Refused = func(_ context.Context, req *mcp.CallToolRequest, code string) {
			mu.Lock()
			defer mu.Unlock()
			refused = append(refused, req.Params.Name+" "+code)
		}
	})
	ctx := context.Background()
	for _, tt := range []struct {
		scopes []string
		want   []string
	}{
		{[]string{ScopeRead}, []string{mcpserver.ToolGetBalance, mcpserver.ToolListAccounts}},
		{[]string{ScopeTransfer}, []string{mcpserver.ToolSendTransfer}},
		{[]string{ScopeRead, ScopeOffline}, []string{"create_offline_request", mcpserver.ToolGetBalance, mcpserver.ToolListAccounts}},
	} {
		tok := r.issue(tt.scopes, time.Time{})
		cs, err := r.connect(&recorder{token: tok.Token})
		if err != nil {
			t.Fatal(err)
		}
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.CacheScope != "private" {
			t.Errorf("tools/list cacheScope %q: a per-token list must not be cached publicly", res.CacheScope)
		}
		got := toolNames(res)
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("scopes %v: tools %v, want %v", tt.scopes, got, tt.want)
		}
		for _, tool := range []string{mcpserver.ToolGetBalance, mcpserver.ToolSendTransfer, "create_offline_request", "debug_dump"} {
			cr, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}})
			if err != nil {
				t.Fatalf("%s: %v", tool, err)
			}
			allowed := slices.Contains(tt.want, tool)
			if cr.IsError == allowed {
				t.Errorf("scopes %v calling %s: isError %v", tt.scopes, tool, cr.IsError)
			}
			if !allowed && !strings.HasPrefix(cr.Content[0].(*mcp.TextContent).Text, "insufficient_scope:") {
				t.Errorf("refusal %q", cr.Content[0].(*mcp.TextContent).Text)
			}
			mu.Lock()
			got := refused
			refused = nil
			mu.Unlock()
			if want := []string{tool + " insufficient_scope"}; allowed && len(got) != 0 || !allowed && !slices.Equal(got, want) {
				t.Errorf("scopes %v calling %s: reported refused %v", tt.scopes, tool, got)
			}
		}
		cs.Close()
		r.noSecrets(tok.Token)
	}
}

func TestRevokedDuringSession(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	tok := r.issue([]string{ScopeRead}, time.Time{})
	rec := &recorder{token: tok.Token}
	cs, err := r.connect(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpserver.ToolGetBalance, Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if err := r.st.RevokeHTTPToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpserver.ToolGetBalance, Arguments: map[string]any{}}); err == nil {
		t.Fatal("a call with a revoked token succeeded")
	}
	if rec.last() != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", rec.last())
	}
	r.noSecrets(tok.Token)
}

func TestSessionBoundToToken(t *testing.T) {
	r := newRig(t, nil)
	a := r.issue([]string{ScopeRead}, time.Time{})
	b := r.issue([]string{ScopeRead, ScopeTransfer}, time.Time{})
	rec := &recorder{token: a.Token}
	cs, err := r.connect(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	rec.token = b.Token // another identity takes over the session id
	if _, err := cs.ListTools(context.Background(), nil); err == nil {
		t.Fatal("another token used the session")
	}
	if rec.last() != http.StatusForbidden {
		t.Fatalf("status %d, want 403", rec.last())
	}
}

func TestOversizedBody(t *testing.T) {
	r := newRig(t, func(o *Options) { o.MaxBodyBytes = 64 << 10 })
	tok := r.issue([]string{ScopeRead}, time.Time{})
	rec := &recorder{token: tok.Token}
	cs, err := r.connect(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	_, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: mcpserver.ToolGetBalance, Arguments: map[string]any{"text": strings.Repeat("x", 128<<10)}})
	if err == nil {
		t.Fatal("an oversized call went through")
	}
	if !rec.saw(http.StatusRequestEntityTooLarge) {
		t.Fatalf("statuses %v, want a 413", rec.statuses)
	}
	r.noSecrets(tok.Token)
}

func TestRateLimitPerToken(t *testing.T) {
	r := newRig(t, func(o *Options) { o.RequestsPerMinute = 5 })
	a := r.issue([]string{ScopeRead}, time.Time{})
	b := r.issue([]string{ScopeRead}, time.Time{})
	ra := &recorder{token: a.Token}
	cs, err := r.connect(ra) // initialize + initialized: 2 requests
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var limited bool
	for range 5 {
		if _, err := cs.ListTools(context.Background(), nil); err != nil {
			limited = true
			break
		}
	}
	if !limited || ra.last() != http.StatusTooManyRequests {
		t.Fatalf("not limited (last status %d)", ra.last())
	}
	csb, err := r.connect(&recorder{token: b.Token})
	if err != nil {
		t.Fatalf("another token was limited too: %v", err)
	}
	csb.Close()
	r.clock.Advance(time.Minute)
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatalf("still limited after a minute: %v", err)
	}
}

// post sends body to the rig's endpoint with token, as a raw client would
// (session id and headers optional), and returns the status and body.
func (r *rig) post(token, sid, body string, hdr map[string]string) (*http.Response, string) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp, string(b)
}

// TestRateLimitCountsBatch: a JSON-RPC batch (accepted from clients of the
// 2025-03-26 protocol) counts as many requests as it holds calls, so one
// POST cannot carry more calls than the token's limit.
func TestRateLimitCountsBatch(t *testing.T) {
	r := newRig(t, func(o *Options) { o.RequestsPerMinute = 10 })
	tok := r.issue([]string{ScopeRead}, time.Time{})
	old := map[string]string{"Mcp-Protocol-Version": "2025-03-26"}
	resp, _ := r.post(tok.Token, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"x","version":"0"}}}`, nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, sid)
	}
	if resp, _ = r.post(tok.Token, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, old); resp.StatusCode >= 300 {
		t.Fatalf("initialized: %d", resp.StatusCode)
	}
	batch := func(n int) string {
		var calls []string
		for i := range n {
			calls = append(calls, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, i+10))
		}
		return "[" + strings.Join(calls, ",") + "]"
	}
	// 2 requests so far, 8 left: a batch of 200 is refused whole.
	resp, body := r.post(tok.Token, sid, batch(200), old)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a batch of 200 under a limit of 10: %d %.200s", resp.StatusCode, body)
	}
	// A batch within what is left goes through, and uses it up.
	if resp, body = r.post(tok.Token, sid, batch(8), old); resp.StatusCode != http.StatusOK || strings.Count(body, `"tools"`) != 8 {
		t.Fatalf("a batch of 8: %d %.300s", resp.StatusCode, body)
	}
	if resp, _ = r.post(tok.Token, sid, batch(1), old); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %d", resp.StatusCode)
	}
	if got := batchLen([]byte(" \n[1, {\"a\": [2, 3]}, \"x\"]")); got != 3 {
		t.Fatalf("batchLen = %d, want 3", got)
	}
	for _, one := range []string{`{"id":1}`, `[`, ``, `[]`, `nonsense`} {
		if got := batchLen([]byte(one)); got != 1 {
			t.Fatalf("batchLen(%q) = %d, want 1", one, got)
		}
	}
}

// TestSessionsBounded: one token holds at most SessionsPerToken live
// sessions (one more closes its oldest, which then answers 404) and the
// server MaxSessions (one more is 429, until a session is closed).
func TestSessionsBounded(t *testing.T) {
	r := newRig(t, func(o *Options) { o.SessionsPerToken, o.MaxSessions = 3, 5 })
	a := r.issue([]string{ScopeRead}, time.Time{})
	b := r.issue([]string{ScopeRead}, time.Time{})
	c := r.issue([]string{ScopeRead}, time.Time{})
	open := func(token string) (int, string) {
		t.Helper()
		resp, _ := r.post(token, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"0"}}}`, nil)
		return resp.StatusCode, resp.Header.Get("Mcp-Session-Id")
	}
	ping := func(token, sid string) int {
		t.Helper()
		resp, _ := r.post(token, sid, `{"jsonrpc":"2.0","id":2,"method":"ping"}`, map[string]string{"Mcp-Protocol-Version": "2025-06-18"})
		return resp.StatusCode
	}
	var sa []string
	for i := range 4 {
		code, sid := open(a.Token)
		if code != http.StatusOK || sid == "" {
			t.Fatalf("session %d of a: %d %q", i, code, sid)
		}
		sa = append(sa, sid)
	}
	if code := ping(a.Token, sa[0]); code != http.StatusNotFound {
		t.Fatalf("a's oldest session, after a fourth: %d, want 404 (closed)", code)
	}
	for _, sid := range sa[1:] {
		if code := ping(a.Token, sid); code != http.StatusOK {
			t.Fatalf("a's session %s: %d", sid, code)
		}
	}
	var sb []string
	for i := range 2 {
		code, sid := open(b.Token)
		if code != http.StatusOK {
			t.Fatalf("session %d of b: %d", i, code)
		}
		sb = append(sb, sid)
	}
	if code, _ := open(c.Token); code != http.StatusTooManyRequests {
		t.Fatalf("the server's sixth session: %d, want 429", code)
	}
	req, err := http.NewRequest(http.MethodDelete, r.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+b.Token)
	req.Header.Set("Mcp-Session-Id", sb[0])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if code, _ := open(c.Token); code != http.StatusOK {
		t.Fatalf("a session after one was closed: %d", code)
	}
}

// TestStreamEndsWhenTokenRevoked: an open event stream (GET /mcp) is
// checked again every StreamRecheck: once its token is revoked the stream
// ends; while the token is good it stays open.
func TestStreamEndsWhenTokenRevoked(t *testing.T) {
	r := newRig(t, func(o *Options) { o.StreamRecheck = 20 * time.Millisecond })
	tok := r.issue([]string{ScopeRead}, time.Time{})
	v := map[string]string{"Mcp-Protocol-Version": "2025-06-18"}
	resp, _ := r.post(tok.Token, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"0"}}}`, nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d %q", resp.StatusCode, sid)
	}
	if resp, _ = r.post(tok.Token, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, v); resp.StatusCode >= 300 {
		t.Fatalf("initialized: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("GET stream: %d", stream.StatusCode)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _ = io.Copy(io.Discard, stream.Body)
	}()
	select {
	case <-ended:
		t.Fatal("the stream ended while its token was good")
	case <-time.After(300 * time.Millisecond):
	}
	if err := r.st.RevokeHTTPToken(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of a revoked token is still open")
	}
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes("transfer, read,read")
	if err != nil || !slices.Equal(got, []string{ScopeRead, ScopeTransfer}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", " , ", "admin", "read,all"} {
		if _, err := ParseScopes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
