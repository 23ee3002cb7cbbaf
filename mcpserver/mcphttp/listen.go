package mcphttp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// UnixPrefix marks a Unix socket address: "unix:/run/walletmcp/mcp.sock".
const UnixPrefix = "unix:"

// UnixResourceURL is the resource URL of a server on a Unix socket: clients
// (walletmcp connect) send requests for it over the socket.
const UnixResourceURL = "http://localhost" + MCPPath

// ListenConfig says where to listen.
type ListenConfig struct {
	// Addr is host:port, or unix:PATH for a Unix socket.
	Addr string
	// TLSCert and TLSKey are PEM files; both or neither. A non-loopback
	// TCP address is refused without them.
	TLSCert, TLSKey string
	// SocketMode is the Unix socket's mode. Default 0660.
	SocketMode os.FileMode
}

// Listener is an open listener and what clients call it.
type Listener struct {
	net.Listener
	// ResourceURL is the URL of /mcp on it (for Options.ResourceURL).
	ResourceURL string
	// Unix reports a Unix socket (Options.AnyHost).
	Unix bool
}

// Listen opens the listener cfg describes. TLS (1.2 or later) is used when
// a certificate is given, and required on a non-loopback address.
func Listen(cfg *ListenConfig) (*Listener, error) {
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("mcphttp: --tls-cert and --tls-key go together")
	}
	if path, ok := strings.CutPrefix(cfg.Addr, UnixPrefix); ok {
		if cfg.TLSCert != "" {
			return nil, errors.New("mcphttp: TLS is not used on a Unix socket")
		}
		return listenUnix(path, cfg.SocketMode)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mcphttp: address %q: want host:port or unix:PATH", cfg.Addr)
	}
	if cfg.TLSCert == "" && !isLoopbackHost(host) {
		return nil, fmt.Errorf("mcphttp: %s is not a loopback address: serving it needs --tls-cert and --tls-key", cfg.Addr)
	}
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, errors.New("mcphttp: the TLS certificate or key does not load")
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mcphttp: listen: %w", err)
	}
	scheme := "http"
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
	}
	bound := ln.Addr().(*net.TCPAddr)
	name := host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		name = "localhost"
	}
	return &Listener{Listener: ln, ResourceURL: scheme + "://" + net.JoinHostPort(name, fmt.Sprint(bound.Port)) + MCPPath}, nil
}

// listenUnix listens on a Unix socket at path with mode (default 0660). A
// stale socket left by a dead server is replaced; a live one, or any other
// file, is an error.
func listenUnix(path string, mode os.FileMode) (*Listener, error) {
	if path == "" {
		return nil, errors.New("mcphttp: unix: needs a path")
	}
	if mode == 0 {
		mode = 0o660
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("mcphttp: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("mcphttp: a server is already listening on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("mcphttp: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("mcphttp: listen: %w", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("mcphttp: socket mode: %w", err)
	}
	return &Listener{Listener: ln, ResourceURL: UnixResourceURL, Unix: true}, nil
}

// Serve serves h on ln until ctx ends, then shuts down, giving requests in
// flight up to grace to finish.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("mcphttp: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// UnixClient is an HTTP client whose every request goes to the Unix socket
// at path (for walletmcp connect and tests).
func UnixClient(path string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: time.Minute,
	}
	return &http.Client{Transport: tr}
}
