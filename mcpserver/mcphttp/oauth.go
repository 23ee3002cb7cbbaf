package mcphttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
)

// OAuthConfig configures OAuth 2.1 access tokens (JWTs) from one issuer.
type OAuthConfig struct {
	// Issuer is the authorization server's issuer identifier; a token's iss
	// must equal it. Required.
	Issuer string
	// JWKSURL is where the issuer's public keys are (https, or http on a
	// loopback host). Required.
	JWKSURL string
	// Audience is the value a token's aud must contain: this server's
	// resource URI (RFC 8707). Default: Options.ResourceURL.
	Audience string
	// HTTPClient fetches the JWKS. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// MaxKeyAge is how long a fetched JWKS is used before it is fetched
	// again. Default 10m.
	MaxKeyAge time.Duration
	// MinRefresh is the least time between two fetches of the JWKS, also
	// when a token names a key id not in it (key rotation). Default 30s.
	MinRefresh time.Duration
	// ClockSkew is the tolerance on exp, nbf and iat. Default 30s.
	ClockSkew time.Duration
}

// maxJWKSBytes bounds a JWKS document.
const maxJWKSBytes = 1 << 20

// allowedAlgs are the only JWS algorithms accepted, each with the key type it
// needs: asymmetric only, so "none" and HMAC (an HS256 token "signed" with
// the issuer's public key) are refused before any key is tried.
var allowedAlgs = map[string]jwa.KeyType{
	"RS256": jwa.RSA(), "RS384": jwa.RSA(), "RS512": jwa.RSA(),
	"PS256": jwa.RSA(), "PS384": jwa.RSA(), "PS512": jwa.RSA(),
	"ES256": jwa.EC(), "ES384": jwa.EC(), "ES512": jwa.EC(),
	"EdDSA": jwa.OKP(), "Ed25519": jwa.OKP(),
}

// Refusals of a JWT, as the client sees them.
var (
	errJWTInvalid  = fmt.Errorf("%w: the access token is not valid", auth.ErrInvalidToken)
	errJWTAlg      = fmt.Errorf("%w: the access token's algorithm is not allowed", auth.ErrInvalidToken)
	errJWTKey      = fmt.Errorf("%w: the access token's key is unknown", auth.ErrInvalidToken)
	errJWTExpired  = fmt.Errorf("%w: the access token expired", auth.ErrInvalidToken)
	errJWTIssuer   = fmt.Errorf("%w: the access token is from another issuer", auth.ErrInvalidToken)
	errJWTAudience = fmt.Errorf("%w: the access token is for another resource", auth.ErrInvalidToken)
	errJWTScope    = fmt.Errorf("%w: the access token has no walletmcp scope", auth.ErrInvalidToken)
	errJWTSubject  = fmt.Errorf("%w: the access token names no subject (sub)", auth.ErrInvalidToken)
)

// oauthVerifier verifies JWT access tokens against the issuer's JWKS.
type oauthVerifier struct {
	cfg    OAuthConfig
	now    func() time.Time
	logger *slog.Logger

	fetchMu sync.Mutex // one fetch at a time
	mu      sync.Mutex // guards the fields below
	set     jwk.Set
	fetched time.Time // when set was fetched
	tried   time.Time // when a fetch was last attempted
}

func newOAuthVerifier(cfg OAuthConfig, audience string, now func() time.Time, logger *slog.Logger) (*oauthVerifier, error) {
	if cfg.Issuer == "" || cfg.JWKSURL == "" {
		return nil, errors.New("mcphttp: [http.oauth] needs issuer and jwks_url")
	}
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
		return nil, errors.New("mcphttp: [http.oauth] jwks_url must be an https URL (http only on a loopback host)")
	}
	if cfg.Audience == "" {
		cfg.Audience = audience
	}
	if cfg.Audience == "" {
		return nil, errors.New("mcphttp: [http.oauth] needs an audience (this server's resource URI)")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MaxKeyAge <= 0 {
		cfg.MaxKeyAge = 10 * time.Minute
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = 30 * time.Second
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = 30 * time.Second
	}
	return &oauthVerifier{cfg: cfg, now: now, logger: logger}, nil
}

func (v *oauthVerifier) verify(ctx context.Context, token string) (*auth.TokenInfo, error) {
	var provErr error
	provider := jws.KeyProviderFunc(func(ctx context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
		alg, ok := sig.ProtectedHeaders().Algorithm()
		kty, allowed := allowedAlgs[alg.String()]
		if !ok || !allowed {
			provErr = errJWTAlg
			return provErr
		}
		kid, _ := sig.ProtectedHeaders().KeyID()
		key, err := v.key(ctx, kid)
		if err != nil {
			provErr = err
			return err
		}
		if key.KeyType() != kty {
			provErr = errJWTAlg
			return provErr
		}
		if ka, ok := key.Algorithm(); ok && ka.String() != alg.String() {
			provErr = errJWTAlg
			return provErr
		}
		sink.Key(alg, key)
		return nil
	})
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKeyProvider(provider),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithAcceptableSkew(v.cfg.ClockSkew),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithRequiredClaim("exp"),
		jwt.WithContext(ctx),
	)
	if err != nil {
		switch {
		case provErr != nil:
			return nil, provErr
		case errors.Is(err, jwt.TokenExpiredError()):
			return nil, errJWTExpired
		case errors.Is(err, jwt.InvalidIssuerError()):
			return nil, errJWTIssuer
		case errors.Is(err, jwt.InvalidAudienceError()):
			return nil, errJWTAudience
		}
		return nil, errJWTInvalid
	}
	var scopeClaim string
	if err := tok.Get("scope", &scopeClaim); err != nil {
		return nil, errJWTScope
	}
	var scopes []string
	for _, s := range strings.Fields(scopeClaim) {
		for _, known := range Scopes() {
			if s == known {
				scopes = append(scopes, s)
			}
		}
	}
	if len(scopes) == 0 {
		return nil, errJWTScope
	}
	// The subject is whom the token's session and rate limit belong to
	// (RFC 9068 requires it): without one, every such token of the issuer
	// would be the same user, and could carry on another's session.
	sub, ok := tok.Subject()
	if !ok || sub == "" {
		return nil, errJWTSubject
	}
	exp, _ := tok.Expiration()
	return &auth.TokenInfo{Scopes: scopes, Expiration: exp, UserID: "oauth:" + sub}, nil
}

// key returns the key kid of the JWKS, fetching the JWKS when it is older
// than MaxKeyAge or lacks kid, at most once per MinRefresh.
func (v *oauthVerifier) key(ctx context.Context, kid string) (jwk.Key, error) {
	if kid == "" {
		return nil, errJWTKey
	}
	v.mu.Lock()
	set, fetched := v.set, v.fetched
	v.mu.Unlock()
	if set != nil && v.now().Sub(fetched) < v.cfg.MaxKeyAge {
		if k, ok := set.LookupKeyID(kid); ok {
			return k, nil
		}
	}
	if err := v.refresh(ctx); err != nil {
		v.logger.Warn("jwks fetch failed", "error", err)
	}
	v.mu.Lock()
	set = v.set
	v.mu.Unlock()
	if set != nil {
		if k, ok := set.LookupKeyID(kid); ok {
			return k, nil
		}
	}
	return nil, errJWTKey
}

// refresh fetches the JWKS unless a fetch was attempted less than MinRefresh
// ago. A failed fetch keeps the keys already known.
func (v *oauthVerifier) refresh(ctx context.Context) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	v.mu.Lock()
	if !v.tried.IsZero() && v.now().Sub(v.tried) < v.cfg.MinRefresh {
		v.mu.Unlock()
		return nil
	}
	v.tried = v.now()
	v.mu.Unlock()
	set, err := v.fetch(ctx)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.set, v.fetched = set, v.now()
	v.mu.Unlock()
	return nil
}

func (v *oauthVerifier) fetch(ctx context.Context) (jwk.Set, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("mcphttp: jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mcphttp: jwks fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("mcphttp: jwks fetch: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("mcphttp: jwks fetch: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, errors.New("mcphttp: jwks document too large")
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, errors.New("mcphttp: jwks document does not parse")
	}
	return set, nil
}
