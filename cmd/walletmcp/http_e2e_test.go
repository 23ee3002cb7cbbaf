package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// startHTTPServe starts `serve --dev --http addr` and waits until it listens.
func startHTTPServe(t testing.TB, home, addr string) *lockedBuffer {
	t.Helper()
	cmd := exec.Command(binPath, "serve", "--dev", "--http", addr, "--home", home, "--password-file", passFile(t, home))
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	stderr.waitFor(t, regexp.MustCompile(`serving MCP over HTTP`))
	return stderr
}

// newToken runs `token new` and returns the id and the token.
func newToken(t testing.TB, home string, args ...string) (id, token string) {
	t.Helper()
	out := mustCLI(t, home, append([]string{"token", "new"}, args...)...)
	m := regexp.MustCompile(`^id: (tok_[0-9a-f]+)\ntoken: (wmcp_[A-Za-z0-9_-]+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("token new printed %q, want an id: and a token: line", out)
	}
	return m[1], m[2]
}

// bridge starts `walletmcp connect addr --token-file F` with an MCP client on
// its stdio.
func bridge(t testing.TB, addr, token string) (*mcp.ClientSession, *lockedBuffer) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "connect", addr, "--token-file", f)
	cmd.Env = append(os.Environ(), "WALLETMCP_HOME=/nonexistent", "WALLETMCP_PASSWORD_FILE=")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1"}, nil).Connect(ctx, &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, stderr)
	}
	return cs, stderr
}

// TestServeHTTPWithTokensAndBridge: serve --http on a Unix socket, tokens
// made, listed and revoked by the CLI, and MCP through `walletmcp connect`:
// scopes decide the tools, a revoked token stops working on a running
// server, and no token is printed by serve or connect or kept in the home.
func TestServeHTTPWithTokensAndBridge(t *testing.T) {
	home, from := newHome(t, 1337)
	dir, err := os.MkdirTemp("", "wm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := "unix:" + filepath.Join(dir, "mcp.sock")
	serveErr := startHTTPServe(t, home, sock)

	rwID, rw := newToken(t, home, "--scope", "read,transfer", "--label", "agent-rw")
	_, ro := newToken(t, home, "--scope", "read", "--expires", "1h")
	list := mustCLI(t, home, "token", "list")
	if !strings.Contains(list, rwID) || !strings.Contains(list, "agent-rw") || strings.Contains(list, rw) {
		t.Fatalf("token list:\n%s", list)
	}

	cs, bridgeErr := bridge(t, sock, rw)
	ctx := context.Background()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "send_transfer") {
		t.Fatalf("a read,transfer token sees %v", names)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "send_transfer", Arguments: map[string]any{"from": from.Hex(), "to": recipient, "amount": "0.01"}})
	if err != nil || res.IsError {
		t.Fatalf("send_transfer through the bridge: %+v %v", res, err)
	}
	if sc, _ := res.StructuredContent.(map[string]any); sc["status"] != "approval_required" {
		t.Fatalf("first payment to a new recipient: %v", res.StructuredContent)
	}

	csRO, _ := bridge(t, sock, ro)
	res, err = csRO.CallTool(ctx, &mcp.CallToolParams{Name: "send_transfer", Arguments: map[string]any{"from": from.Hex(), "to": recipient, "amount": "0.01"}})
	if err != nil || !res.IsError || !strings.HasPrefix(res.Content[0].(*mcp.TextContent).Text, "insufficient_scope") {
		t.Fatalf("a read token's transfer: %+v %v", res, err)
	}
	// The refused call is in the audit log like any other (written within
	// the log's linger).
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := os.ReadFile(filepath.Join(home, "audit.log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"code":"insufficient_scope"`) && strings.Contains(string(b), `"tool":"send_transfer"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call refused for its scope is not in the audit log")
		}
		time.Sleep(50 * time.Millisecond)
	}

	mustCLI(t, home, "token", "revoke", rwID)
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_accounts", Arguments: map[string]any{}}); err == nil {
		t.Fatal("a revoked token still works on the running server")
	}
	if r := walletmcp(t, home, "token", "revoke", "tok_000000000000"); r.code == 0 {
		t.Fatal("revoking an unknown token succeeded")
	}

	// No token anywhere: serve's and connect's output, the home's files.
	for name, s := range map[string]string{"serve": serveErr.String(), "connect": bridgeErr.String()} {
		if strings.Contains(s, rw) || strings.Contains(s, ro) {
			t.Errorf("%s printed a token", name)
		}
	}
	filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), rw) || strings.Contains(string(b), ro) {
			t.Errorf("%s holds a token", p)
		}
		return nil
	})
}

// TestServeHTTPRefusesPlainNonLoopback: a non-loopback address without TLS
// stops serve before the home is unlocked.
func TestServeHTTPRefusesPlainNonLoopback(t *testing.T) {
	home, _ := newHome(t, 1337)
	r := walletmcp(t, home, "serve", "--dev", "--http", "0.0.0.0:0")
	if r.code == 0 || !strings.Contains(r.stderr, "--tls-cert") {
		t.Fatalf("serve --http 0.0.0.0:0 without TLS: exit %d, %s", r.code, r.stderr)
	}
}
