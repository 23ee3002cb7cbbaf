package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

func testHTTPToken(id, secret string) *HTTPToken {
	h := sha256.Sum256([]byte(secret))
	return &HTTPToken{ID: id, Hash: h[:], Label: "ci", Scopes: []string{"read", "transfer"}}
}

func TestHTTPTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	tok := testHTTPToken("tok_a", "secret-a")
	tok.ExpiresAt = clk.Now().Add(time.Hour)
	if err := s.CreateHTTPToken(ctx, tok); err != nil {
		t.Fatalf("CreateHTTPToken: %v", err)
	}
	got, err := s.HTTPTokenByHash(ctx, tok.Hash)
	if err != nil {
		t.Fatalf("HTTPTokenByHash: %v", err)
	}
	if got.ID != "tok_a" || got.Label != "ci" || len(got.Scopes) != 2 || !got.ExpiresAt.Equal(tok.ExpiresAt) || !got.RevokedAt.IsZero() {
		t.Fatalf("got %+v", got)
	}
	other := sha256.Sum256([]byte("secret-b"))
	if _, err := s.HTTPTokenByHash(ctx, other[:]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown hash: %v, want ErrNotFound", err)
	}
	if err := s.CreateHTTPToken(ctx, testHTTPToken("tok_a", "secret-c")); err == nil {
		t.Fatal("a duplicate id was stored")
	}
	clk.Advance(time.Second)
	if err := s.RevokeHTTPToken(ctx, "tok_a"); err != nil {
		t.Fatalf("RevokeHTTPToken: %v", err)
	}
	if got, err = s.HTTPTokenByHash(ctx, tok.Hash); err != nil || !got.RevokedAt.Equal(clk.Now()) {
		t.Fatalf("after revoke: %+v, %v", got, err)
	}
	if err := s.RevokeHTTPToken(ctx, "tok_nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	list, err := s.HTTPTokens(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("HTTPTokens: %v, %v", list, err)
	}
}

func TestHTTPTokenTamper(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		sql  string
	}{
		{"un-revoked", `UPDATE http_tokens SET revoked_at = 0`},
		{"scope widened", `UPDATE http_tokens SET scopes = 'read,transfer,offline'`},
		{"expiry removed", `UPDATE http_tokens SET expires_at = 0`},
		{"hash swapped", `UPDATE http_tokens SET hash = zeroblob(32)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, nil)
			tok := testHTTPToken("tok_a", "secret-a")
			tok.ExpiresAt = time.Now().Add(time.Hour)
			if err := s.CreateHTTPToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if err := s.RevokeHTTPToken(ctx, "tok_a"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.ExecContext(ctx, tt.sql); err != nil {
				t.Fatal(err)
			}
			if _, err := s.HTTPTokens(ctx); !errors.Is(err, ErrTampered) {
				t.Fatalf("HTTPTokens after %s: %v, want ErrTampered", tt.name, err)
			}
		})
	}
}

func TestHTTPTokenNeedsKey(t *testing.T) {
	ctx := context.Background()
	_, path := openTest(t, nil)
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok := testHTTPToken("tok_a", "secret-a")
	if err := s.CreateHTTPToken(ctx, tok); !errors.Is(err, ErrNoKey) {
		t.Errorf("create without key: %v", err)
	}
	if _, err := s.HTTPTokenByHash(ctx, tok.Hash); !errors.Is(err, ErrNoKey) {
		t.Errorf("lookup without key: %v", err)
	}
}

func TestHTTPTokenRefusesBadFields(t *testing.T) {
	s, _ := openTest(t, nil)
	for name, mut := range map[string]func(*HTTPToken){
		"no scopes":  func(t *HTTPToken) { t.Scopes = nil },
		"bad scope":  func(t *HTTPToken) { t.Scopes = []string{"read,transfer"} },
		"short hash": func(t *HTTPToken) { t.Hash = t.Hash[:5] },
		"no id":      func(t *HTTPToken) { t.ID = "" },
	} {
		tok := testHTTPToken("tok_a", "secret-a")
		mut(tok)
		if err := s.CreateHTTPToken(context.Background(), tok); err == nil {
			t.Errorf("%s: stored", name)
		}
	}
}
