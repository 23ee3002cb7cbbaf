package mcphttp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/walletmcp/walletmcp/mcpserver"
)

// issuer is a test OAuth issuer: signing keys and a JWKS endpoint whose key
// set can be rotated.
type issuer struct {
	t       *testing.T
	url     string
	mu      sync.Mutex
	public  jwk.Set
	fetches atomic.Int32
}

func newIssuer(t *testing.T) *issuer {
	is := &issuer{t: t, public: jwk.NewSet()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("the JWKS fetch carried an Authorization header")
		}
		is.fetches.Add(1)
		is.mu.Lock()
		defer is.mu.Unlock()
		json.NewEncoder(w).Encode(is.public)
	}))
	t.Cleanup(srv.Close)
	is.url = srv.URL
	return is
}

// publish replaces the JWKS with the public halves of keys.
func (is *issuer) publish(keys ...jwk.Key) {
	set := jwk.NewSet()
	for _, k := range keys {
		pk, err := k.PublicKey()
		if err != nil {
			is.t.Fatal(err)
		}
		set.AddKey(pk)
	}
	is.mu.Lock()
	is.public = set
	is.mu.Unlock()
}

func newKey(t *testing.T, kid string, raw any, alg jwa.SignatureAlgorithm) jwk.Key {
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	k.Set(jwk.KeyIDKey, kid)
	k.Set(jwk.AlgorithmKey, alg)
	return k
}

type claims struct {
	iss, sub, scope string
	noSub           bool // no sub claim at all (sub "" is an empty one)
	aud             []string
	exp             time.Time
}

func sign(t *testing.T, c claims, opt jwt.SignOption) string {
	b := jwt.NewBuilder().Issuer(c.iss).Audience(c.aud)
	if !c.noSub {
		b = b.Subject(c.sub)
	}
	if !c.exp.IsZero() {
		b = b.Expiration(c.exp)
	}
	if c.scope != "" {
		b = b.Claim("scope", c.scope)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	out, err := jwt.Sign(tok, opt)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestOAuth(t *testing.T) {
	is := newIssuer(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k1 := newKey(t, "k1", rsaKey, jwa.RS256())
	k2 := newKey(t, "k2", ecKey, jwa.ES256())
	forged := newKey(t, "k1", otherKey, jwa.RS256()) // claims k1's id, signed by another key
	is.publish(k1)

	const iss = "https://issuer.example"
	r := newRig(t, func(o *Options) {
		o.Tokens = nil
		o.OAuth = &OAuthConfig{Issuer: iss, JWKSURL: is.url, MinRefresh: time.Minute}
	})
	aud := []string{r.url}
	ok := claims{iss: iss, sub: "alice", scope: "read", aud: aud, exp: r.clock.Now().Add(time.Hour)}
	with := func(f func(*claims)) claims { c := ok; f(&c); return c }

	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	k1hdr := jws.NewHeaders()
	k1hdr.Set(jws.KeyIDKey, "k1")

	good := sign(t, ok, jwt.WithKey(jwa.RS256(), k1))
	cs, err := r.connect(&recorder{token: good})
	if err != nil {
		t.Fatalf("a valid token was refused: %v", err)
	}
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := toolNames(res); slices.Contains(got, mcpserver.ToolSendTransfer) || !slices.Contains(got, mcpserver.ToolGetBalance) {
		t.Errorf("a read token sees %v", got)
	}
	cs.Close()

	bad := map[string]string{
		"wrong audience":       sign(t, with(func(c *claims) { c.aud = []string{"https://other.example/mcp"} }), jwt.WithKey(jwa.RS256(), k1)),
		"no audience":          sign(t, with(func(c *claims) { c.aud = nil }), jwt.WithKey(jwa.RS256(), k1)),
		"wrong issuer":         sign(t, with(func(c *claims) { c.iss = "https://evil.example" }), jwt.WithKey(jwa.RS256(), k1)),
		"expired":              sign(t, with(func(c *claims) { c.exp = r.clock.Now().Add(-time.Hour) }), jwt.WithKey(jwa.RS256(), k1)),
		"no expiry":            sign(t, with(func(c *claims) { c.exp = time.Time{} }), jwt.WithKey(jwa.RS256(), k1)),
		"no walletmcp scope":   sign(t, with(func(c *claims) { c.scope = "email profile" }), jwt.WithKey(jwa.RS256(), k1)),
		"empty subject":        sign(t, with(func(c *claims) { c.sub = "" }), jwt.WithKey(jwa.RS256(), k1)),
		"no subject":           sign(t, with(func(c *claims) { c.noSub = true }), jwt.WithKey(jwa.RS256(), k1)),
		"wrong signature":      sign(t, ok, jwt.WithKey(jwa.RS256(), forged)),
		"alg none":             sign(t, ok, jwt.WithInsecureNoSignature()),
		"HS256 w/ public key":  sign(t, ok, jwt.WithKey(jwa.HS256(), pubPEM, jws.WithProtectedHeaders(k1hdr))),
		"HS256 w/ raw modulus": sign(t, ok, jwt.WithKey(jwa.HS256(), rsaKey.PublicKey.N.Bytes(), jws.WithProtectedHeaders(k1hdr))),
		"unknown key":          sign(t, ok, jwt.WithKey(jwa.ES256(), k2)),
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{token: tok}
			if cs, err := r.connect(rec); err == nil {
				cs.Close()
				t.Fatal("accepted")
			}
			if rec.last() != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", rec.last())
			}
		})
	}

	// Rotation: the issuer now signs with k2 only. A token naming k2 makes
	// the server fetch the JWKS again (once the rate limit allows), and k1
	// tokens stop working.
	is.publish(k2)
	r.clock.Advance(2 * time.Minute)
	rotated := sign(t, with(func(c *claims) { c.exp = r.clock.Now().Add(time.Hour) }), jwt.WithKey(jwa.ES256(), k2))
	before := is.fetches.Load()
	cs, err = r.connect(&recorder{token: rotated})
	if err != nil {
		t.Fatalf("a token of the rotated key was refused: %v", err)
	}
	cs.Close()
	if is.fetches.Load() == before {
		t.Error("the rotation did not fetch the JWKS")
	}
	// Unknown kids do not make the server hammer the issuer.
	before = is.fetches.Load()
	for range 3 {
		rec := &recorder{token: sign(t, with(func(c *claims) { c.exp = r.clock.Now().Add(time.Hour) }), jwt.WithKey(jwa.RS256(), k1))}
		if cs, err := r.connect(rec); err == nil {
			cs.Close()
			t.Fatal("a token of the retired key was accepted")
		}
	}
	if n := is.fetches.Load() - before; n > 1 {
		t.Errorf("%d JWKS fetches for unknown kids within MinRefresh, want at most 1", n)
	}
	secrets := []string{good, rotated}
	for _, s := range bad {
		secrets = append(secrets, s)
	}
	r.noSecrets(secrets...)
}
