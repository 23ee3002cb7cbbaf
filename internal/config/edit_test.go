package config_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/internal/config"
)

// TestSetString: a key is set with the rest of the document kept line for
// line; the edited default config loads with the new value.
func TestSetString(t *testing.T) {
	out, err := config.SetString(config.DefaultConfigText, "keystore.scrypt", "light")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(config.DefaultConfigText, `scrypt = "standard"`, `scrypt = "light"`, 1)
	if out != want {
		t.Fatalf("edited:\n%s\nwant:\n%s", out, want)
	}

	tests := []struct {
		name, in, key, value, want string
	}{
		{"top level", "rpc_url = \"\"\n[approval]\nttl = \"10m\"\n", "rpc_url", "http://x", "rpc_url = \"http://x\"\n[approval]\nttl = \"10m\"\n"},
		{"same name in another table", "[a]\nttl = \"1\"\n[approval]\nttl = \"10m\"\n", "approval.ttl", "5m", "[a]\nttl = \"1\"\n[approval]\nttl = \"5m\"\n"},
		{"indented, comment kept above", "[approval]\n# the ttl\n  ttl = \"10m\"  # old\n", "approval.ttl", "5m", "[approval]\n# the ttl\n  ttl = \"5m\"\n"},
		{"added to its table", "[approval]\nlisten = \"127.0.0.1:0\"\n\n[keystore]\nscrypt = \"light\"\n", "approval.ttl", "5m", "[approval]\nlisten = \"127.0.0.1:0\"\nttl = \"5m\"\n\n[keystore]\nscrypt = \"light\"\n"},
		{"table created", "rpc_url = \"\"", "approval.ttl", "5m", "rpc_url = \"\"\n\n[approval]\nttl = \"5m\"\n"},
		{"top level added before tables", "# c\n[approval]\nttl = \"1m\"\n", "rpc_url", "u", "# c\nrpc_url = \"u\"\n[approval]\nttl = \"1m\"\n"},
		{"quotes escaped", "[approval]\nlisten = \"\"\n", "approval.listen", "a\"b\\c", "[approval]\nlisten = \"a\\\"b\\\\c\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.SetString(tt.in, tt.key, tt.value)
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}

	refused := []struct{ name, in, key string }{
		{"does not parse", "[approval\n", "approval.ttl"},
		{"dotted key elsewhere", "approval.ttl = \"1m\"\n", "approval.ttl"},
		{"not a table", "approval = \"x\"\n", "approval.ttl"},
		{"nested table", "", "a.b.c"},
		{"quoted key", "", `approval."ttl"`},
		{"multi-line value", "[approval]\nttl = \"\"\"\n1m\"\"\"\n", "approval.ttl"},
	}
	for _, tt := range refused {
		t.Run("refused "+tt.name, func(t *testing.T) {
			if got, err := config.SetString(tt.in, tt.key, "secret-value"); err == nil || strings.Contains(err.Error(), "secret-value") {
				t.Fatalf("got %q, %v; want an error without the value", got, err)
			}
		})
	}
}

// TestParseTTL: a TTL outside 1m..24h, or not a duration, names the key.
func TestParseTTL(t *testing.T) {
	for in, want := range map[string]time.Duration{"1m": time.Minute, "10m": 10 * time.Minute, "24h": 24 * time.Hour} {
		a := config.ApprovalConfig{TTL: in}
		if got, err := a.ParseTTL(); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "59s", "24h1s", "-5m", "ten minutes"} {
		a := config.ApprovalConfig{TTL: in}
		if _, err := a.ParseTTL(); err == nil || !strings.Contains(err.Error(), "approval.ttl") {
			t.Errorf("%q: %v, want an error naming approval.ttl", in, err)
		}
	}
}

// TestNewDevPassphrase: 48 hex characters from the injected randomness; a
// failing source is an error.
func TestNewDevPassphrase(t *testing.T) {
	p, err := config.NewDevPassphrase(bytes.NewReader(bytes.Repeat([]byte{0xab}, 24)))
	if err != nil || string(p.Reveal()) != strings.Repeat("ab", 24) {
		t.Fatalf("%v", err)
	}
	if _, err := config.NewDevPassphrase(bytes.NewReader(make([]byte, 23))); err == nil {
		t.Fatal("a short random source gave a passphrase")
	}
	if _, err := config.NewDevPassphrase(errReader{}); err == nil {
		t.Fatal("a failing random source gave a passphrase")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no randomness") }

// TestKeyPurposesDistinct: each subkey has its own label.
func TestKeyPurposesDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range []string{config.StateKeyPurpose, config.AuditKeyPurpose, config.TOTPKeyPurpose} {
		if p == "" || seen[p] {
			t.Fatalf("purpose %q empty or reused", p)
		}
		seen[p] = true
	}
}
