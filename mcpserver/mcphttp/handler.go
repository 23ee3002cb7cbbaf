package mcphttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Paths served.
const (
	MCPPath      = "/mcp"
	MetadataPath = "/.well-known/oauth-protected-resource"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes      = 1 << 20
	DefaultSessionTimeout    = 30 * time.Minute
	DefaultRequestsPerMinute = 600
	DefaultSessionsPerToken  = 16
	DefaultMaxSessions       = 256
	DefaultStreamRecheck     = 10 * time.Second
)

// Options configures New. Server is required, and Tokens or OAuth (or both).
type Options struct {
	// Server is the MCP server; New adds ScopeMiddleware to it, so it must
	// serve this handler only.
	Server *mcp.Server
	// Tokens checks opaque tokens (the state store, opened with its key).
	// Nil: opaque tokens are refused.
	Tokens TokenStore
	// OAuth accepts JWT access tokens from one issuer. Nil: JWTs are refused.
	OAuth *OAuthConfig
	// ResourceURL is this server's resource URI, as clients reach /mcp
	// (https://host:port/mcp). It is the RFC 9728 resource, the default
	// OAuth audience, and its host is an allowed Host and Origin. Required.
	ResourceURL string
	// Hosts are further Host header values accepted (host or host:port).
	// A loopback ResourceURL also accepts localhost, 127.0.0.1 and [::1] on
	// its port.
	Hosts []string
	// AnyHost skips the Host check: for a Unix socket, which no browser can
	// reach by a rebound DNS name.
	AnyHost bool
	// MaxBodyBytes bounds a request body (413 beyond). Default 1 MiB.
	MaxBodyBytes int64
	// SessionTimeout closes a session idle that long. Default 30m.
	SessionTimeout time.Duration
	// RequestsPerMinute limits requests per token identity (429 beyond).
	// Default 600.
	RequestsPerMinute int
	// SessionsPerToken bounds the live sessions of one token identity (one
	// more closes its oldest), and MaxSessions those of all (one more is
	// 429). Defaults 16 and 256.
	SessionsPerToken, MaxSessions int
	// StreamRecheck is how often an open event stream (GET /mcp) checks
	// its token again: one revoked or expired meanwhile ends the stream.
	// Default 10s.
	StreamRecheck time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives operational logs (never a token). Default discards.
	Logger *slog.Logger
	// Refused, when set, is told each tools/call the token's scopes refuse
	// (code "insufficient_scope"): the scope check runs before the MCP
	// server's own middleware, which audits and rate-limits every other
	// call, so that a refused call is recorded too (mcpserver.Server's
	// RecordRefused).
	Refused func(ctx context.Context, req *mcp.CallToolRequest, code string)
}

// Handler is the HTTP face of the MCP server: /mcp behind bearer auth, and
// the protected resource metadata.
type Handler struct {
	opts     Options
	hosts    []string
	origin   []string
	opaque   *opaqueVerifier
	oauth    *oauthVerifier
	limits   *rateLimits
	sessions *sessionLimits
	mux      *http.ServeMux
	mcp      *mcp.StreamableHTTPHandler
}

var _ http.Handler = (*Handler)(nil)

// New builds the handler.
func New(o *Options) (*Handler, error) {
	if o == nil || o.Server == nil {
		return nil, errors.New("mcphttp: Options.Server is required")
	}
	opts := *o
	if opts.Tokens == nil && opts.OAuth == nil {
		return nil, errors.New("mcphttp: no way to check tokens (neither the state store nor [http.oauth])")
	}
	ru, err := url.Parse(opts.ResourceURL)
	if err != nil || (ru.Scheme != "http" && ru.Scheme != "https") || ru.Host == "" {
		return nil, errors.New("mcphttp: ResourceURL must be an absolute http(s) URL")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = DefaultSessionTimeout
	}
	if opts.RequestsPerMinute <= 0 {
		opts.RequestsPerMinute = DefaultRequestsPerMinute
	}
	if opts.SessionsPerToken <= 0 {
		opts.SessionsPerToken = DefaultSessionsPerToken
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	if opts.StreamRecheck <= 0 {
		opts.StreamRecheck = DefaultStreamRecheck
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{opts: opts, limits: newRateLimits(opts.RequestsPerMinute, time.Minute, opts.Now),
		sessions: newSessionLimits(opts.Server, opts.SessionsPerToken, opts.MaxSessions)}
	h.hosts = append([]string{strings.ToLower(ru.Host)}, lower(opts.Hosts)...)
	if isLoopbackHost(ru.Hostname()) {
		port := ru.Port()
		for _, n := range []string{"localhost", "127.0.0.1", "[::1]"} {
			if port != "" {
				h.hosts = append(h.hosts, n+":"+port)
			} else {
				h.hosts = append(h.hosts, n)
			}
		}
	}
	for _, hh := range h.hosts {
		h.origin = append(h.origin, ru.Scheme+"://"+hh)
	}
	if opts.Tokens != nil {
		h.opaque = &opaqueVerifier{st: opts.Tokens, now: opts.Now, logger: opts.Logger}
	}
	if opts.OAuth != nil {
		if h.oauth, err = newOAuthVerifier(*opts.OAuth, opts.ResourceURL, opts.Now, opts.Logger); err != nil {
			return nil, err
		}
	}
	opts.Server.AddReceivingMiddleware(scopeMiddleware(opts.Refused))
	h.mcp = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return opts.Server }, &mcp.StreamableHTTPOptions{
		SessionTimeout:      opts.SessionTimeout,
		MaxRequestBodyBytes: opts.MaxBodyBytes,
		Logger:              opts.Logger,
	})
	meta := &oauthex.ProtectedResourceMetadata{
		Resource:               opts.ResourceURL,
		ScopesSupported:        Scopes(),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "walletmcp",
	}
	if opts.OAuth != nil {
		meta.AuthorizationServers = []string{opts.OAuth.Issuer}
	}
	metaURL := ru.Scheme + "://" + ru.Host + MetadataPath
	bearer := auth.RequireBearerToken(h.verifier(), &auth.RequireBearerTokenOptions{
		ResourceMetadataURL:    metaURL,
		AllowMissingExpiration: true, // opaque tokens may not expire; JWTs need exp (checked in the verifier)
	})
	h.mux = http.NewServeMux()
	h.mux.Handle(MetadataPath, auth.ProtectedResourceMetadataHandler(meta))
	h.mux.Handle(MetadataPath+MCPPath, auth.ProtectedResourceMetadataHandler(meta))
	h.mux.Handle(MCPPath, h.checkOrigin(bearer(h.rateLimit(h.limitSessions(h.recheckStreams(h.mcp))))))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !h.opts.AnyHost && !slices.Contains(h.hosts, strings.ToLower(r.Host)) {
		http.Error(w, "misdirected request: this server does not answer to that Host", http.StatusMisdirectedRequest)
		return
	}
	if r.ContentLength > h.opts.MaxBodyBytes {
		http.Error(w, fmt.Sprintf("request body exceeds %d bytes", h.opts.MaxBodyBytes), http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	h.mux.ServeHTTP(w, r)
}

// recheckStreams ends an open event stream (GET) whose token stops being
// valid (revoked, expired): every other request is checked as it comes,
// but a stream lasts until its session's idle timeout.
func (h *Handler) recheckStreams(next http.Handler) http.Handler {
	verify := h.verifier()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			t := time.NewTicker(h.opts.StreamRecheck)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if _, err := verify(ctx, token, r); err != nil && ctx.Err() == nil {
						h.opts.Logger.Info("closing an event stream: its token is no longer valid")
						cancel()
						return
					}
				}
			}
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// checkOrigin refuses a request whose Origin (sent by browsers) is not this
// server's own: a web page must not drive the wallet.
func (h *Handler) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Values("Origin"); len(o) > 0 {
			if len(o) != 1 || !slices.Contains(h.origin, strings.ToLower(o[0])) {
				http.Error(w, "forbidden: cross-origin request", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// rateLimit limits requests per token identity. A JSON-RPC batch (which the
// go-sdk accepts from clients of protocol versions before 2025-06-18) counts
// as many requests as it holds messages: one POST of a thousand calls is a
// thousand requests.
func (h *Handler) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 1
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					http.Error(w, fmt.Sprintf("request body exceeds %d bytes", h.opts.MaxBodyBytes), http.StatusRequestEntityTooLarge)
					return
				}
				http.Error(w, "reading the request body failed", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			n = batchLen(body)
		}
		ti := auth.TokenInfoFromContext(r.Context())
		if ti == nil || !h.limits.allowN(ti.UserID, n) {
			w.Header().Set("Retry-After", "10")
			http.Error(w, fmt.Sprintf("rate limited: at most %d requests per minute per token", h.opts.RequestsPerMinute), http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// batchLen is how many JSON-RPC messages body holds: the length of a
// top-level array (a batch), else 1 (one message, or something the go-sdk
// will refuse).
func batchLen(body []byte) int {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return 1
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil { // the '['
		return 1
	}
	n := 0
	for dec.More() {
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
		n++
	}
	return max(n, 1)
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

// isLoopbackHost reports whether host (no port) is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
