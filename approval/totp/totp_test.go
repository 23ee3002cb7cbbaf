package totp

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// rfcSecret is the SHA-1 seed of RFC 6238 Appendix B, "12345678901234567890"
// in ASCII, in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// testSecret is the secret of most tests (base32 of 20 bytes).
const testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// TestRFC6238Vectors checks the SHA-1 test vectors of RFC 6238, Appendix B
// (https://www.rfc-editor.org/rfc/rfc6238#appendix-B): 8-digit codes through
// pquerna/otp, and the same codes truncated to our 6 digits (the last six:
// the HOTP value modulo 10^6) through Check, which must find the step T.
func TestRFC6238Vectors(t *testing.T) {
	tests := []struct {
		name string
		unix int64
		step int64 // T in the RFC's table, in hex there
		code string
	}{
		{"1970-01-01 00:00:59", 59, 0x1, "94287082"},
		{"2005-03-18 01:58:29", 1111111109, 0x23523EC, "07081804"},
		{"2005-03-18 01:58:31", 1111111111, 0x23523ED, "14050471"},
		{"2009-02-13 23:31:30", 1234567890, 0x273EF07, "89005924"},
		{"2033-05-18 03:33:20", 2000000000, 0x3F940AA, "69279037"},
		{"2603-10-11 11:33:20", 20000000000, 0x27BC86AA, "65353130"},
	}
	sec := secret.NewBytes([]byte(rfcSecret))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Unix(tt.unix, 0)
			got, err := pqtotp.GenerateCodeCustom(rfcSecret, at, pqtotp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1})
			if err != nil || got != tt.code {
				t.Fatalf("pquerna 8 digits at %d: %q %v, want %s", tt.unix, got, err, tt.code)
			}
			step, err := Check(sec, tt.code[2:], at)
			if tt.unix < 60 {
				// Our clock check refuses the first minute of 1970.
				if err == nil {
					t.Fatal("Check accepted a time in the first minute of 1970")
				}
				return
			}
			if err != nil || step != tt.step {
				t.Fatalf("Check(6 digits) = %d, %v; want step %d", step, err, tt.step)
			}
		})
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// t0 is the start of a time step, well inside it for tests that move ±1 step.
var t0 = time.Unix(step0*30+10, 0).UTC()

// step0 is t0's time step.
const step0 = 58_712_345

// recorder is an Auditor that keeps the events, or fails when failing is set.
type recorder struct {
	mu      sync.Mutex
	events  []map[string]any
	failing bool
}

func (r *recorder) Append(_ context.Context, typ string, fields any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		return errors.New("audit: disk full")
	}
	b, _ := json.Marshal(fields)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["type"] = typ
	r.events = append(r.events, m)
	return nil
}

func (r *recorder) count(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e["event"] == event {
			n++
		}
	}
	return n
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := json.Marshal(r.events)
	return string(b)
}

// code is the 6-digit code of step for a base32 secret.
func code(t testing.TB, sec string, step int64) string {
	t.Helper()
	c, err := hotp.GenerateCode(sec, uint64(step))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a well-formed code that matches none of steps around step.
func wrongCode(t testing.TB, sec string, step int64) string {
	t.Helper()
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", i*111111%1000000)
		ok := true
		for s := step - 3; s <= step+3; s++ {
			ok = ok && c != code(t, sec, s)
		}
		if ok {
			return c
		}
	}
}

func TestSealOpen(t *testing.T) {
	key := secret.NewBytes(bytes.Repeat([]byte{1}, 32))
	other := secret.NewBytes(bytes.Repeat([]byte{2}, 32))
	sealed, err := Seal(key, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(testSecret)) {
		t.Fatal("the sealed blob contains the secret")
	}
	again, _ := Seal(key, testSecret)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals are equal: the nonce is not random")
	}
	got, err := Open(key, sealed)
	if err != nil || string(got.Reveal()) != testSecret {
		t.Fatalf("round trip: %v", err)
	}
	tests := []struct {
		name   string
		key    *secret.Bytes
		sealed func() []byte
	}{
		{"wrong key", other, func() []byte { return sealed }},
		{"short key", secret.NewBytes(make([]byte, 16)), func() []byte { return sealed }},
		{"no key", nil, func() []byte { return sealed }},
		{"empty blob", key, func() []byte { return nil }},
		{"truncated", key, func() []byte { return sealed[:len(sealed)-1] }},
		{"header only", key, func() []byte { return sealed[:13] }},
		{"other version", key, func() []byte { b := bytes.Clone(sealed); b[0] = 2; return b }},
		{"appended byte", key, func() []byte { return append(bytes.Clone(sealed), 0) }},
	}
	for i := range sealed {
		tests = append(tests, struct {
			name   string
			key    *secret.Bytes
			sealed func() []byte
		}{fmt.Sprintf("byte %d flipped", i), key, func() []byte { b := bytes.Clone(sealed); b[i] ^= 0x01; return b }})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Open(tt.key, tt.sealed())
			if err == nil || got != nil {
				t.Fatal("opened")
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("error contains the secret")
			}
		})
	}
	for _, bad := range []string{"", "not base32!", "JBSWY3DP", "jbswy3dpehpk3pxpjbswy3dpehpk3pxp"} {
		if _, err := Seal(key, bad); err == nil {
			t.Errorf("Seal(%q) accepted", bad)
		}
	}
	if _, err := Seal(secret.NewBytes(make([]byte, 31)), testSecret); err == nil {
		t.Error("Seal with a 31-byte key accepted")
	}
}

func TestNewSecret(t *testing.T) {
	k, err := NewSecret("laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := otpDecode(k.Secret())
	if err != nil || len(raw) != SecretSize {
		t.Fatalf("secret of %d bytes (%v), want %d", len(raw), err, SecretSize)
	}
	u, err := url.Parse(k.URL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/walletmcp:laptop" || q.Get("issuer") != "walletmcp" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" || q.Get("secret") != k.Secret() {
		t.Fatalf("URI %s", k.URL())
	}
	k2, _ := NewSecret("laptop", &Options{Issuer: "acme"})
	if k2.Issuer() != "acme" || k2.Secret() == k.Secret() {
		t.Fatalf("second secret: issuer %q, same secret %v", k2.Issuer(), k2.Secret() == k.Secret())
	}
	// A new secret seals, and its codes check.
	sealed, err := Seal(secret.NewBytes(make([]byte, 32)), k.Secret())
	if err != nil {
		t.Fatal(err)
	}
	opened, err := Open(secret.NewBytes(make([]byte, 32)), sealed)
	if err != nil {
		t.Fatal(err)
	}
	if step, err := Check(opened, code(t, k.Secret(), step0), t0); err != nil || step != step0 {
		t.Fatalf("Check: %d %v", step, err)
	}
	for _, bad := range []string{"", "a:b"} {
		if _, err := NewSecret(bad, nil); err == nil {
			t.Errorf("account %q accepted", bad)
		}
	}
}

func otpDecode(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

func TestCheck(t *testing.T) {
	sec := secret.NewBytes([]byte(testSecret))
	tests := []struct {
		name     string
		code     string
		wantStep int64
		wantErr  error
	}{
		{"t-1", code(t, testSecret, step0-1), step0 - 1, nil},
		{"t", code(t, testSecret, step0), step0, nil},
		{"t+1", code(t, testSecret, step0+1), step0 + 1, nil},
		{"t+2", code(t, testSecret, step0+2), 0, ErrWrongCode},
		{"malformed", "12 456", 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, err := Check(sec, tt.code, t0)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) || step != tt.wantStep {
				t.Fatalf("Check = %d, %v; want %d, %v", step, err, tt.wantStep, tt.wantErr)
			}
		})
	}
}
