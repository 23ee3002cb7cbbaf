package mcphttp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestListenRefusesPlainNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:8900", "example.com:8900", "[::]:0"} {
		if ln, err := Listen(&ListenConfig{Addr: addr}); err == nil {
			ln.Close()
			t.Errorf("%s: listening without TLS", addr)
		} else if !strings.Contains(err.Error(), "tls") {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if _, err := Listen(&ListenConfig{Addr: "127.0.0.1:0", TLSCert: "x"}); err == nil {
		t.Error("a certificate without a key was accepted")
	}
}

func TestUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "mcphttp") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "mcp.sock")
	ln, err := Listen(&ListenConfig{Addr: UnixPrefix + path})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want 0660", fi.Mode().Perm())
	}
	if _, err := Listen(&ListenConfig{Addr: UnixPrefix + path}); err == nil {
		t.Error("a second server took over a live socket")
	}
	r := newRig(t, nil) // for its store and token
	h, err := New(&Options{Server: fakeServer(), Tokens: r.st, ResourceURL: ln.ResourceURL, AnyHost: ln.Unix, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, time.Second) }()
	tok := r.issue([]string{ScopeRead}, time.Time{})
	hc := UnixClient(path)
	hc.Transport = &bearer{token: tok.Token, next: hc.Transport}
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "0"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: ln.ResourceURL, HTTPClient: hc, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := cs.ListTools(ctx, nil); err != nil || len(res.Tools) != 2 {
		t.Fatalf("tools/list over the socket: %v, %v", res, err)
	}
	cs.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ln2, err := Listen(&ListenConfig{Addr: UnixPrefix + path}) // stale or removed: either way usable
	if err != nil {
		t.Fatalf("after shutdown: %v", err)
	}
	ln2.Close()
}
