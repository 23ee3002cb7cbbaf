package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// heldNode is a JSON-RPC "node" whose every answer is held until release:
// then eth_chainId is answered with chain id 1 (the policy's is 1337).
type heldNode struct {
	srv      *httptest.Server
	asked    chan struct{} // closed at the first request
	release  chan struct{}
	once     sync.Once
	released sync.Once
}

func newHeldNode(t *testing.T) *heldNode {
	n := &heldNode{asked: make(chan struct{}), release: make(chan struct{})}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req)
		n.once.Do(func() { close(n.asked) })
		<-n.release
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":"0x1"}`))
	}))
	t.Cleanup(func() { n.free(); n.srv.Close() })
	return n
}

func (n *heldNode) free() { n.released.Do(func() { close(n.release) }) }

// TestServeAnswersInitializeBeforeStartUp: serve answers the MCP handshake
// and tools/list while the rest of start-up (here the node, which does not
// answer yet) is still going on; a tool call waits and executes nothing;
// when start-up then fails (the node's chain id is not the policy's), the
// call is refused and serve exits non-zero with its "refusing to start".
func TestServeAnswersInitializeBeforeStartUp(t *testing.T) {
	home, addr := newHome(t, 1337)
	node := newHeldNode(t)
	cmd := exec.Command(binPath, "serve", "--home", home, "--password-file", passFile(t, home), "--rpc", node.srv.URL)
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := waitProcess(t, cmd)
	// Serve is dialling the node: start-up cannot finish before release.
	select {
	case <-node.asked:
	case <-exited.done:
		t.Fatalf("serve exited (%v) before asking the node\n%s", exited.err, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx, &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err != nil {
		t.Fatalf("initialize while start-up waits for the node: %v\n%s", err, stderr)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) == 0 {
		t.Fatalf("tools/list while start-up waits for the node: %v", err)
	}
	type result struct {
		res *mcp.CallToolResult
		err error
	}
	called := make(chan result, 1)
	go func() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_balance", Arguments: map[string]any{"address": addr.Hex()}})
		called <- result{res, err}
	}()
	node.free()
	var r result
	select {
	case r = <-called:
	case <-ctx.Done():
		t.Fatal("the tool call was never answered")
	}
	if r.err == nil && !r.res.IsError {
		t.Fatalf("a tool call was answered by a server that refused to start: %+v", r.res.StructuredContent)
	}
	if r.err == nil {
		if text := r.res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "could not start") {
			t.Fatalf("refused call says %q", text)
		}
	}
	var code int
	select {
	case <-exited.done:
		err := exited.err
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("serve exited with %v after a failed start-up, want a non-zero exit\n%s", err, stderr)
		}
		code = ee.ExitCode()
	case <-ctx.Done():
		t.Fatalf("serve still running after its start-up failed\n%s", stderr)
	}
	if code == 0 || !strings.Contains(stderr.String(), "refusing to start") || !strings.Contains(stderr.String(), "chain id") {
		t.Fatalf("serve: exit %d, stderr:\n%s\nwant a refusal naming the chain id", code, stderr)
	}
	// Nothing was recorded as executed: the only tool call in the audit
	// log would be the refused one's, and it never reached the server's
	// audited path.
	for _, line := range logLines(t, filepath.Join(home, "audit.log")) {
		if strings.Contains(line, `"tool_call"`) || strings.Contains(line, "serve_started") {
			t.Fatalf("audit log after a refused start: %s", line)
		}
	}
}

// TestServeRefusesCallsOnUnattestedPolicy: the handshake is answered before
// the policy's attestation is checked, but a tool call is not: a policy
// edited since it was attested stops serve before any call executes.
func TestServeRefusesCallsOnUnattestedPolicy(t *testing.T) {
	home, addr := newHome(t, 1337)
	p := filepath.Join(home, "policy.toml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "new_recipient_approval = true", "new_recipient_approval = false", 1)
	if edited == string(b) {
		t.Fatal("policy.toml has no new_recipient_approval = true")
	}
	if err := os.WriteFile(p, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "serve", "--dev", "--home", home, "--password-file", passFile(t, home))
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := waitProcess(t, cmd)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx, &mcp.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err == nil {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "send_transfer", Arguments: map[string]any{"from": addr.Hex(), "to": recipient, "amount": "0.01"}})
		if err == nil && !res.IsError {
			t.Fatalf("a transfer was executed on an unattested policy: %+v", res.StructuredContent)
		}
	}
	select {
	case <-exited.done:
		if exited.err == nil {
			t.Fatalf("serve exited 0 on an unattested policy\n%s", stderr)
		}
	case <-ctx.Done():
		t.Fatalf("serve still running on an unattested policy\n%s", stderr)
	}
	if !strings.Contains(stderr.String(), "refusing to start") {
		t.Fatalf("stderr does not say serve refuses to start:\n%s", stderr)
	}
}

// exit is a started process's exit: done is closed once it has exited,
// err is then Wait's error.
type exit struct {
	done chan struct{}
	err  error
}

// waitProcess waits for cmd in the background; the test's cleanup kills it
// if it is still running.
func waitProcess(t *testing.T, cmd *exec.Cmd) *exit {
	e := &exit{done: make(chan struct{})}
	go func() { e.err = cmd.Wait(); close(e.done) }()
	t.Cleanup(func() {
		select {
		case <-e.done:
		default:
			_ = cmd.Process.Kill()
			<-e.done
		}
	})
	return e
}
