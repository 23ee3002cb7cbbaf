// Package mcphttp serves the walletmcp MCP server over streamable HTTP (the
// go-sdk's StreamableHTTPHandler at /mcp), on a TCP address or a Unix socket,
// behind bearer-token authorization: opaque tokens issued by `walletmcp token
// new` (kept in the state store as SHA-256, each row MAC'd) or OAuth 2.1
// access tokens (JWTs from a configured issuer, checked against its JWKS).
//
// # Security model
//
// Every request to /mcp needs a bearer token, on loopback too. A missing,
// unknown, expired, revoked or otherwise invalid token is 401 with a
// WWW-Authenticate header naming the RFC 9728 protected resource metadata
// (served unauthenticated at /.well-known/oauth-protected-resource). The
// token is checked on every request, so a revocation takes effect on the
// next request of a running session; a session is bound to the token
// identity that opened it (the go-sdk refuses another identity with 403).
//
// A token carries scopes (read, transfer, offline): tools/list shows a
// session only the tools its token allows, and a call beyond them is a tool
// error "insufficient_scope". A tool this package does not know is in no
// scope, so it is hidden and refused (fail closed).
//
// A request whose Host is not one of the server's names is 421; an Origin
// header (a browser) that is not the server's own origin is 403. Bodies are
// bounded (MaxBodyBytes), idle sessions are closed (SessionTimeout), and each
// token identity has its own request rate limit (429). A non-loopback TCP
// address is refused unless TLS (1.2 or later) is configured. A Unix socket
// is made mode 0660: whoever may connect is decided by its group and the
// directory it is in.
//
// Tokens never reach logs, errors, the audit log or any upstream request:
// the JWKS is fetched without them, and every refusal is a fixed message.
// JWTs are verified with github.com/lestrrat-go/jwx/v3, only with asymmetric
// algorithms (RS*, PS*, ES*, EdDSA) and with a key whose type matches the
// algorithm, so "none" and HS256-signed-with-the-public-key are refused; the
// issuer, the audience (this resource, RFC 8707), the expiry and the scopes
// are checked.
package mcphttp
