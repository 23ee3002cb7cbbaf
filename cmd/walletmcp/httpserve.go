package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/mcpserver"
	"github.com/walletmcp/walletmcp/mcpserver/mcphttp"
)

// httpFlags are serve's HTTP transport flags.
type httpFlags struct {
	addr, tlsCert, tlsKey string
}

// listenHTTP opens the listener early, so that a bad address or certificate
// stops serve before any key is unlocked.
func listenHTTP(f *httpFlags) (*mcphttp.Listener, error) {
	ln, err := mcphttp.Listen(&mcphttp.ListenConfig{Addr: f.addr, TLSCert: f.tlsCert, TLSKey: f.tlsKey})
	if err != nil {
		return nil, fmt.Errorf("serve: --http: %w", err)
	}
	return ln, nil
}

// serveHTTP serves srv on ln until ctx ends: tokens from st, OAuth from
// config.toml [http.oauth].
func serveHTTP(ctx context.Context, ln *mcphttp.Listener, srv *mcpserver.Server, st *store.Store, cfg *config.HTTPConfig, logger *slog.Logger) error {
	timeout, err := time.ParseDuration(cfg.SessionTimeout)
	if err != nil || timeout < time.Minute || timeout > 24*time.Hour {
		return errors.New("serve: config.toml http.session_timeout must be a duration from 1m to 24h")
	}
	resource := ln.ResourceURL
	if cfg.ResourceURL != "" {
		resource = cfg.ResourceURL
	}
	opts := &mcphttp.Options{
		Server: srv.MCP(), Tokens: st, ResourceURL: resource, Hosts: cfg.Hosts, AnyHost: ln.Unix,
		SessionTimeout: timeout, RequestsPerMinute: cfg.RequestsPerMinute, Logger: logger,
		Refused: srv.RecordRefused, // a call beyond the token's scopes is audited too
	}
	if cfg.OAuth.Issuer != "" {
		opts.OAuth = &mcphttp.OAuthConfig{Issuer: cfg.OAuth.Issuer, JWKSURL: cfg.OAuth.JWKSURL, Audience: cfg.OAuth.Audience}
	}
	h, err := mcphttp.New(opts)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("walletmcp serving MCP over HTTP", "addr", ln.Addr().String(), "resource", resource, "oauth", opts.OAuth != nil)
	return mcphttp.Serve(ctx, ln, h, 5*time.Second)
}
