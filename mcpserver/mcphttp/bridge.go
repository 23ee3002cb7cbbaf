package mcphttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MaxTokenFileBytes bounds a token file.
const MaxTokenFileBytes = 16 << 10

// ReadTokenFile reads a bearer token from path: the whole file, surrounding
// white space removed. A file that group or others may read or write is
// refused. The error never contains the file's content.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("mcphttp: token file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", fmt.Errorf("mcphttp: token file: %w", err)
	} else if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("mcphttp: token file %s is readable or writable by group or others: chmod 600 %s", path, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxTokenFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("mcphttp: token file: %w", err)
	}
	if len(b) > MaxTokenFileBytes {
		return "", errors.New("mcphttp: token file too large")
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", errors.New("mcphttp: the token file must hold one token")
	}
	return tok, nil
}

// ClientTransport is the go-sdk streamable client transport to a walletmcp
// daemon at addr (unix:PATH, or an http(s) URL of /mcp) that sends token on
// every request.
func ClientTransport(addr, token string) (*mcp.StreamableClientTransport, error) {
	var hc *http.Client
	endpoint := addr
	if path, ok := strings.CutPrefix(addr, UnixPrefix); ok {
		if path == "" {
			return nil, errors.New("mcphttp: unix: needs a path")
		}
		hc, endpoint = UnixClient(path), UnixResourceURL
	} else if strings.HasPrefix(addr, "https://") || strings.HasPrefix(addr, "http://") {
		u, err := url.Parse(addr)
		if err != nil {
			return nil, errors.New("mcphttp: the daemon address is not a URL")
		}
		if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
			return nil, errors.New("mcphttp: the token would cross the network in clear: use https:// for a daemon off this machine")
		}
		hc = &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A redirect is never followed: the bearer token goes to the
			// daemon named here and nowhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	} else {
		return nil, errors.New("mcphttp: the daemon address must be unix:PATH or an http(s) URL")
	}
	hc.Transport = &bearerTransport{token: token, next: hc.Transport}
	return &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, DisableStandaloneSSE: true, MaxRetries: -1}, nil
}

// bearerTransport adds the bearer token to each request, and never forwards
// it on a redirect (the client is built without following any).
type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (b *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(req)
}

// bridgeDrain bounds how long the bridge waits, after the host closed its
// side, for answers to calls already forwarded.
const bridgeDrain = 60 * time.Second

// Bridge relays JSON-RPC messages between a local transport (the host's
// stdio) and a remote one (the daemon) until either side ends. When the
// local side ends, answers to calls already forwarded are relayed first.
// It holds no key, no home and no policy: it only moves messages.
func Bridge(ctx context.Context, local, remote mcp.Transport) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lc, err := local.Connect(ctx)
	if err != nil {
		return fmt.Errorf("mcphttp: bridge: %w", err)
	}
	defer lc.Close()
	rc, err := remote.Connect(ctx)
	if err != nil {
		return fmt.Errorf("mcphttp: bridge: %w", err)
	}
	defer rc.Close()

	var mu sync.Mutex
	pending := 0
	idle := make(chan struct{}, 1)
	errc := make(chan error, 2)
	go func() { // host → daemon
		for {
			m, err := lc.Read(ctx)
			if err != nil {
				// The host is gone: wait for the answers it is owed.
				deadline := time.NewTimer(bridgeDrain)
				defer deadline.Stop()
				for {
					mu.Lock()
					n := pending
					mu.Unlock()
					if n == 0 {
						break
					}
					select {
					case <-idle:
					case <-deadline.C:
						errc <- nil
						return
					case <-ctx.Done():
						errc <- nil
						return
					}
				}
				errc <- nil
				return
			}
			r, isCall := m.(*jsonrpc.Request)
			isCall = isCall && r.IsCall()
			if isCall {
				mu.Lock()
				pending++
				mu.Unlock()
			}
			if err := rc.Write(ctx, m); err != nil {
				if isCall {
					mu.Lock()
					pending--
					mu.Unlock()
				}
				if !isCall {
					continue // a notification the daemon refused: nobody waits for it
				}
				// The call failed between here and the daemon: refused (401,
				// 403, 413, 429...) or lost after it left, which cannot be told
				// apart here. Say so: a transfer may have been executed, so the
				// host must look before it retries.
				resp := &jsonrpc.Response{ID: r.ID, Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "walletmcp connect: the request failed on its way to the daemon and may have been executed (check get_transaction or get_approval before retrying): " + bounded(err.Error(), 300)}}
				if err := lc.Write(ctx, resp); err != nil {
					errc <- fmt.Errorf("mcphttp: bridge: to the host: %w", err)
					return
				}
				continue
			}
		}
	}()
	go func() { // daemon → host
		for {
			m, err := rc.Read(ctx)
			if err != nil {
				if errors.Is(err, io.EOF) || ctx.Err() != nil {
					errc <- nil
				} else {
					errc <- fmt.Errorf("mcphttp: bridge: from the daemon: %w", err)
				}
				return
			}
			if err := lc.Write(ctx, m); err != nil {
				errc <- fmt.Errorf("mcphttp: bridge: to the host: %w", err)
				return
			}
			if _, ok := m.(*jsonrpc.Response); ok {
				mu.Lock()
				if pending > 0 {
					pending--
				}
				mu.Unlock()
				select {
				case idle <- struct{}{}:
				default:
				}
			}
		}
	}()
	return <-errc
}

// bounded cuts s to at most n bytes.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
