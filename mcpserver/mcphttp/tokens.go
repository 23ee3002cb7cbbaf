package mcphttp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/walletmcp/walletmcp/internal/store"
)

// TokenPrefix starts every opaque token, so that a leaked one is recognisable
// (secret scanners) and is never mistaken for a JWT.
const TokenPrefix = "wmcp_"

// tokenBytes is the entropy of an opaque token.
const tokenBytes = 32

// maxTokenLen bounds a bearer token (opaque or JWT) before any work is done.
const maxTokenLen = 8 << 10

// TokenStore is the state store as the opaque tokens use it.
type TokenStore interface {
	CreateHTTPToken(ctx context.Context, t *store.HTTPToken) error
	HTTPTokenByHash(ctx context.Context, hash []byte) (*store.HTTPToken, error)
}

var _ TokenStore = (*store.Store)(nil)

// IssuedToken is a newly issued opaque token: ID is public, Token is shown
// once and never stored.
type IssuedToken struct {
	ID    string
	Token string
}

// IssueToken makes a new opaque token with scopes (validated as by
// ParseScopes), an optional label and expiry (zero: never), and stores its
// SHA-256. rand is the randomness source (crypto/rand.Reader in production).
func IssueToken(ctx context.Context, st TokenStore, rand io.Reader, scopes []string, label string, expires time.Time) (*IssuedToken, error) {
	if _, err := ParseScopes(strings.Join(scopes, ",")); err != nil {
		return nil, err
	}
	var id [6]byte
	secret := make([]byte, tokenBytes)
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return nil, fmt.Errorf("mcphttp: randomness: %w", err)
	}
	if _, err := io.ReadFull(rand, secret); err != nil {
		return nil, fmt.Errorf("mcphttp: randomness: %w", err)
	}
	tok := TokenPrefix + base64.RawURLEncoding.EncodeToString(secret)
	clear(secret)
	h := sha256.Sum256([]byte(tok))
	row := &store.HTTPToken{ID: "tok_" + hex.EncodeToString(id[:]), Hash: h[:], Label: label, Scopes: scopes, ExpiresAt: expires}
	if err := st.CreateHTTPToken(ctx, row); err != nil {
		return nil, err
	}
	return &IssuedToken{ID: row.ID, Token: tok}, nil
}

// Refusals, as the client sees them (after "invalid token: "). They never
// contain the token.
var (
	errUnknownToken = fmt.Errorf("%w: unknown or revoked token", auth.ErrInvalidToken)
	errExpiredToken = fmt.Errorf("%w: token expired", auth.ErrInvalidToken)
	errMalformed    = fmt.Errorf("%w: malformed token", auth.ErrInvalidToken)
	errNoOAuth      = fmt.Errorf("%w: not an opaque walletmcp token and no OAuth issuer is configured", auth.ErrInvalidToken)
	errCheckFailed  = errors.New("mcphttp: the token could not be checked (see the server log)")
)

// opaqueVerifier checks opaque tokens against the store on every request, so
// that a revocation is effective on the next request.
type opaqueVerifier struct {
	st     TokenStore
	now    func() time.Time
	logger *slog.Logger
}

func (v *opaqueVerifier) verify(ctx context.Context, token string) (*auth.TokenInfo, error) {
	h := sha256.Sum256([]byte(token))
	row, err := v.st.HTTPTokenByHash(ctx, h[:])
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errUnknownToken
	case err != nil:
		// A tampered row or a store failure: refuse, say why in the log only.
		v.logger.Error("http token check failed", "error", err)
		return nil, errCheckFailed
	case !row.RevokedAt.IsZero():
		return nil, errUnknownToken
	case !row.ExpiresAt.IsZero() && !v.now().Before(row.ExpiresAt):
		return nil, errExpiredToken
	}
	ti := &auth.TokenInfo{Scopes: row.Scopes, Expiration: row.ExpiresAt, UserID: "token:" + row.ID,
		Extra: map[string]any{"token_id": row.ID}}
	return ti, nil
}

// verifier returns the go-sdk TokenVerifier: opaque tokens by their prefix,
// anything else as a JWT when OAuth is configured.
func (h *Handler) verifier() auth.TokenVerifier {
	return func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		if len(token) > maxTokenLen {
			return nil, errMalformed
		}
		if strings.HasPrefix(token, TokenPrefix) {
			if h.opaque == nil {
				return nil, errUnknownToken
			}
			return h.opaque.verify(ctx, token)
		}
		if h.oauth == nil {
			return nil, errNoOAuth
		}
		return h.oauth.verify(ctx, token)
	}
}
