package mcpserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/approval"
)

// stubGuard answers get_balance after release is closed (and panics on any
// other Guard method, which these tests do not reach).
type stubGuard struct {
	Guard
	entered chan struct{}
	release chan struct{}
}

func (g stubGuard) Balance(ctx context.Context, address, asset string) (*approval.BalanceInfo, error) {
	g.entered <- struct{}{}
	<-g.release
	return nil, io.EOF
}

type stubChain struct{}

func (stubChain) ChainID() *big.Int { return big.NewInt(1337) }

type nopAudit struct{}

func (nopAudit) Append(context.Context, string, any) error { return nil }

func stubServer(t *testing.T, g Guard) *Server {
	t.Helper()
	s, err := New(&Options{Guard: g, Chain: stubChain{}, Audit: nopAudit{}, ToolCallsPerMinute: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countingReader counts the lines read through it.
type countingReader struct {
	r     io.Reader
	lines atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			c.lines.Add(1)
		}
	}
	return n, err
}

// TestReadingStopsWhileAnswersPileUp: a client that sends calls and never
// reads the answers blocked the first answer's write, and the go-sdk queued
// every later message without bound (2 GB after 1,500 calls of 1 MB). Input
// is no longer read once maxReadWhileWriting messages came in during a
// write that has not ended.
func TestReadingStopsWhileAnswersPileUp(t *testing.T) {
	s := stubServer(t, stubGuard{})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe() // nobody reads outR
	in := &countingReader{r: inR}
	go func() { _ = s.Run(context.Background(), &StdioTransport{In: in, Out: outW}) }()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	// 64 KiB a call: the input's line buffer (MaxStdioLine) holds 16.
	const sent = 200
	junk := strings.Repeat("j", 64<<10)
	go func() {
		_, _ = io.WriteString(inW, initLine+"\n")
		for i := range sent {
			if _, err := fmt.Fprintf(inW, `{"jsonrpc":"2.0","id":%d,"method":"ping","params":{"_meta":{"junk":"%s"}}}`+"\n", i+2, junk); err != nil {
				return
			}
		}
	}()
	time.Sleep(2 * time.Second)
	if n := in.lines.Load(); n > int64(maxReadWhileWriting+MaxStdioLine/len(junk)+4) {
		t.Fatalf("%d of %d lines read while no answer could be written", n, sent+1)
	}
	// Once the client reads, the rest is read and answered.
	sc := bufio.NewScanner(outR)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for range sent + 1 {
		if !sc.Scan() {
			t.Fatalf("answers ended: %v", sc.Err())
		}
	}
}

// TestEOFWaitsOnlyForToolCalls: a request that ends only when cancelled
// (the go-sdk client's subscriptions/listen, at the newest protocol) held
// the end of input for the drain's minute, and with it serve (and a dev
// chain's lock) after the client was gone.
func TestEOFWaitsOnlyForToolCalls(t *testing.T) {
	s := stubServer(t, stubGuard{})
	c2sR, c2sW := io.Pipe()
	s2cR, s2cW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), &StdioTransport{In: c2sR, Out: s2cW}) }()
	client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {},
	})
	if _, err := client.Connect(context.Background(), &mcp.IOTransport{Reader: s2cR, Writer: c2sW}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	c2sW.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10 s after the input ended")
	}
}

// TestDeadClientEndsDrain: when the client is gone (its end of both pipes
// closed) while calls are in flight, the first answer's write fails and the
// go-sdk writes no more: the end of input waited the drain's minute for
// answers that could never be written.
func TestDeadClientEndsDrain(t *testing.T) {
	g := stubGuard{entered: make(chan struct{}, 3), release: make(chan struct{})}
	s := stubServer(t, g)
	c2sR, c2sW := io.Pipe()
	s2cR, s2cW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), &StdioTransport{In: c2sR, Out: s2cW}) }()
	sc := bufio.NewScanner(s2cR)
	_, _ = io.WriteString(c2sW, initLine+"\n")
	sc.Scan()
	_, _ = io.WriteString(c2sW, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	for i := range 3 {
		_, _ = fmt.Fprintf(c2sW, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"get_balance","arguments":{"address":"0x000000000000000000000000000000000000dEaD"}}}`+"\n", i+5)
	}
	for range 3 {
		<-g.entered
	}
	s2cR.Close()
	c2sW.Close()
	time.Sleep(100 * time.Millisecond)
	close(g.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10 s after the calls ended")
	}
}

const initElicit = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"c","version":"1"}}}`

// drainAfter runs tool x (which does what a test needs), then a get_balance
// that is in flight when the input ends: its answer must still be written
// before the session ends.
func drainAfter(t *testing.T, tool func(ctx context.Context, req *mcp.CallToolRequest, in emptyIn) (*mcp.CallToolResult, any, error)) {
	t.Helper()
	g := stubGuard{entered: make(chan struct{}, 3), release: make(chan struct{})}
	s := stubServer(t, g)
	mcp.AddTool(s.mcp, &mcp.Tool{Name: "x"}, tool)
	c2sR, c2sW := io.Pipe()
	s2cR, s2cW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), &StdioTransport{In: c2sR, Out: s2cW}) }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(s2cR)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	_, _ = io.WriteString(c2sW, initElicit+"\n")
	<-lines
	_, _ = io.WriteString(c2sW, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	_, _ = io.WriteString(c2sW, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":{}}}`+"\n")
	for l := range lines {
		if strings.Contains(l, `"id":2`) {
			break
		}
	}
	_, _ = io.WriteString(c2sW, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_balance","arguments":{"address":"0x000000000000000000000000000000000000dEaD"}}}`+"\n")
	<-g.entered
	c2sW.Close()
	select {
	case <-done:
		t.Fatal("the session ended before the call in flight was answered")
	case <-time.After(500 * time.Millisecond):
	}
	close(g.release)
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the call in flight was never answered")
			}
			if strings.Contains(l, `"id":7`) {
				return
			}
		case <-timeout:
			t.Fatal("the call in flight was never answered")
		}
	}
}

// TestDrainAfterCancelledWrite: a write refused only because its own
// context ended (a cancelled call's progress notification) was taken for a
// dead connection: the end of input then dropped the answers in flight, and
// reading was no longer bounded.
func TestDrainAfterCancelledWrite(t *testing.T) {
	drainAfter(t, func(ctx context.Context, req *mcp.CallToolRequest, in emptyIn) (*mcp.CallToolResult, any, error) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_ = req.Session.NotifyProgress(cctx, &mcp.ProgressNotificationParams{ProgressToken: "t", Progress: 1})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
}

// TestDrainAfterAbandonedElicitation: a request the server sent the client
// and then gave up (its call's context ended; the go-sdk sends
// notifications/cancelled, and the client need not answer) stayed counted
// as unanswered, and the end of input then dropped an answer in flight.
func TestDrainAfterAbandonedElicitation(t *testing.T) {
	drainAfter(t, func(ctx context.Context, req *mcp.CallToolRequest, in emptyIn) (*mcp.CallToolResult, any, error) {
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, _ = req.Session.Elicit(cctx, &mcp.ElicitParams{Message: "hi", RequestedSchema: map[string]any{"type": "object"}})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
}
