package main

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Start-up waits for the first handshake answer, not for a tools/list or a
// ping, and a silent client holds it for handshakeWait at most.
func TestStartUpWaitsForTheHandshakeAnswer(t *testing.T) {
	g := newStartGate(1337)
	h := g.middleware(func(context.Context, string, mcp.Request) (mcp.Result, error) { return nil, nil })
	for _, m := range []string{"ping", "tools/list", "notifications/initialized"} {
		if _, err := h(context.Background(), m, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-g.greeted:
		t.Fatal("start-up released before the handshake")
	default:
	}
	if _, err := h(context.Background(), "initialize", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.greeted:
	default:
		t.Fatal("start-up not released by the initialize answer")
	}
	g.afterHandshake(context.Background()) // returns at once
	if _, err := h(context.Background(), "initialize", nil); err != nil {
		t.Fatal(err) // a second initialize does not close twice
	}
	// A client that never speaks: bounded by handshakeWait.
	g2 := newStartGate(1337)
	g2.afterHandshake(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	newStartGate(1337).afterHandshake(ctx) // ends with ctx
}
