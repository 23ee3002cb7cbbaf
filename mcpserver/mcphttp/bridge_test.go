package mcphttp

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/mcpserver"
)

func TestBridge(t *testing.T) {
	dir, err := os.MkdirTemp("", "mcphttp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := Listen(&ListenConfig{Addr: UnixPrefix + sock})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, nil)
	h, err := New(&Options{Server: fakeServer(), Tokens: r.st, ResourceURL: ln.ResourceURL, AnyHost: true, Now: r.clock.Now, Logger: r.h.opts.Logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h, time.Second) }()
	defer func() { cancel(); <-served }()

	tok := r.issue([]string{ScopeRead}, time.Time{})
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(tok.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tokFile, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokenFile(tokFile); err == nil || strings.Contains(err.Error(), tok.Token) {
		t.Fatalf("a group-readable token file: %v", err)
	}
	if err := os.Chmod(tokFile, 0o600); err != nil {
		t.Fatal(err)
	}
	read, err := ReadTokenFile(tokFile)
	if err != nil || read != tok.Token {
		t.Fatalf("ReadTokenFile: %v", err)
	}
	remote, err := ClientTransport(UnixPrefix+sock, read)
	if err != nil {
		t.Fatal(err)
	}
	// host (client) ⇄ pipes ⇄ bridge ⇄ socket ⇄ daemon
	hostR, bridgeW := io.Pipe()
	bridgeR, hostW := io.Pipe()
	bridged := make(chan error, 1)
	go func() {
		err := Bridge(ctx, &mcpserver.StdioTransport{In: bridgeR, Out: bridgeW}, remote)
		bridgeW.Close() // as the process exiting closes its stdout
		bridged <- err
	}()
	c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "0"}, nil)
	cs, err := c.Connect(ctx, &mcp.IOTransport{Reader: hostR, Writer: hostW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != 2 {
		t.Errorf("tools through the bridge: %v", toolNames(res))
	}
	cr, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpserver.ToolSendTransfer, Arguments: map[string]any{}})
	if err != nil || !cr.IsError || !strings.HasPrefix(cr.Content[0].(*mcp.TextContent).Text, "insufficient_scope") {
		t.Errorf("a read token's transfer through the bridge: %+v, %v", cr, err)
	}
	cr, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpserver.ToolGetBalance, Arguments: map[string]any{}})
	if err != nil || cr.IsError {
		t.Fatalf("get_balance through the bridge: %+v, %v", cr, err)
	}
	cs.Close()
	hostW.Close()
	select {
	case err := <-bridged:
		if err != nil {
			t.Fatalf("Bridge: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the bridge did not end when the host left")
	}
	r.noSecrets(tok.Token)
}

// TestBridgeRevoked: a token revoked under a running bridge ends it with an
// error that does not show the token, and the host's call fails.
func TestBridgeRevoked(t *testing.T) {
	dir, err := os.MkdirTemp("", "mcphttp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := Listen(&ListenConfig{Addr: UnixPrefix + sock})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, nil)
	h, err := New(&Options{Server: fakeServer(), Tokens: r.st, ResourceURL: ln.ResourceURL, AnyHost: true, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h, time.Second) }()
	defer func() { cancel(); <-served }()
	tok := r.issue([]string{ScopeRead}, time.Time{})
	remote, err := ClientTransport(UnixPrefix+sock, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	hostR, bridgeW := io.Pipe()
	bridgeR, hostW := io.Pipe()
	bridged := make(chan error, 1)
	go func() {
		err := Bridge(ctx, &mcpserver.StdioTransport{In: bridgeR, Out: bridgeW}, remote)
		bridgeW.Close()
		bridged <- err
	}()
	c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "0"}, nil)
	cs, err := c.Connect(ctx, &mcp.IOTransport{Reader: hostR, Writer: hostW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := r.st.RevokeHTTPToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpserver.ToolGetBalance, Arguments: map[string]any{}}); err == nil {
		t.Fatal("a revoked token's call went through the bridge")
	}
	err = <-bridged
	if err == nil || strings.Contains(err.Error(), tok.Token) {
		t.Fatalf("Bridge ended with %v; want an error without the token", err)
	}
	hostW.Close()
}
