package mcphttp

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/mcpserver"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type echoArgs struct {
	Text string `json:"text,omitempty"`
}

type echoOut struct {
	Tool string `json:"tool"`
}

// fakeServer is an MCP server with tools named like walletmcp's, one per
// scope, plus one this package does not know.
func fakeServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "fake", Version: "0"}, nil)
	for _, name := range []string{mcpserver.ToolGetBalance, mcpserver.ToolListAccounts, mcpserver.ToolSendTransfer, "create_offline_request", "debug_dump"} {
		mcp.AddTool(s, &mcp.Tool{Name: name}, func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, echoOut, error) {
			return nil, echoOut{Tool: name}, nil
		})
	}
	return s
}

// rig is a running handler over a real store, with everything it wrote to
// clients and logs recorded.
type rig struct {
	t     *testing.T
	st    *store.Store
	clock *testClock
	srv   *httptest.Server
	h     *Handler
	url   string
	logs  *syncBuffer
	seen  *syncBuffer // every response status line, header and body a client received
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newRig(t *testing.T, mut func(*Options)) *rig {
	t.Helper()
	ctx := context.Background()
	// Near the real time: the go-sdk bearer middleware checks expiry on time.Now.
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"), &store.Options{Key: bytes.Repeat([]byte{7}, store.KeyLen), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{t: t, st: st, clock: clk, logs: &syncBuffer{}, seen: &syncBuffer{}}
	r.srv = httptest.NewUnstartedServer(nil)
	r.url = "http://" + r.srv.Listener.Addr().String() + MCPPath
	opts := &Options{
		Server:      fakeServer(),
		Tokens:      st,
		ResourceURL: r.url,
		Now:         clk.Now,
		Logger:      slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mut != nil {
		mut(opts)
	}
	if r.h, err = New(opts); err != nil {
		t.Fatal(err)
	}
	r.srv.Config.Handler = r.h
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

// issue makes an opaque token.
func (r *rig) issue(scopes []string, expires time.Time) *IssuedToken {
	r.t.Helper()
	tok, err := IssueToken(context.Background(), r.st, rand.Reader, scopes, "test", expires)
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// recorder is the client's RoundTripper: it sets the bearer token and any
// header overrides, and records what comes back.
type recorder struct {
	r        *rig
	token    string
	origin   string
	host     string
	mu       sync.Mutex
	statuses []int
}

func (c *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	if c.host != "" {
		req.Host = c.host
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.statuses = append(c.statuses, resp.StatusCode)
	c.mu.Unlock()
	c.r.seen.Write([]byte(resp.Status + "\n"))
	resp.Header.Write(c.r.seen)
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, c.r.seen), resp.Body}
	return resp, nil
}

func (c *recorder) saw(status int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.statuses, status)
}

func (c *recorder) last() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.statuses) == 0 {
		return 0
	}
	return c.statuses[len(c.statuses)-1]
}

// connect opens a go-sdk client session through rec.
func (r *rig) connect(rec *recorder) (*mcp.ClientSession, error) {
	rec.r = r
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: r.url, HTTPClient: &http.Client{Transport: rec}, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
}

// noSecrets fails when any token appears in what clients saw or the logs.
func (r *rig) noSecrets(secrets ...string) {
	r.t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(r.seen.String(), s) {
			r.t.Errorf("a token appears in a response")
		}
		if strings.Contains(r.logs.String(), s) {
			r.t.Errorf("a token appears in the logs")
		}
	}
}

func toolNames(res *mcp.ListToolsResult) []string {
	var out []string
	for _, t := range res.Tools {
		out = append(out, t.Name)
	}
	return out
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(req)
}
