package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzLoadConfig: whatever config.toml holds, LoadConfig does not panic;
// a refusal is a "config: " error; an accepted config has every default
// filled and every bound kept.
func FuzzLoadConfig(f *testing.F) {
	for _, s := range []string{
		DefaultConfigText, "", "rpc_url = 1", "colour = \"red\"", "[keystore]\nscrypt = \"weak\"",
		"[approval]\nmax_pending = -1", "[approval]\nmax_pending = 1001", "[approval]\nmax_pending = 1000\nttl = \"1h\"",
		"[approval\n", "rpc_url = \"http://127.0.0.1:8545\"\n[keystore]\nscrypt = \"light\"", "[[approval]]",
		"a.b.c = 1", "\x00", "[approval]\nlisten = \"\"",
	} {
		f.Add(s)
	}
	h := &Home{Dir: f.TempDir()}
	f.Fuzz(func(t *testing.T, text string) {
		if err := os.WriteFile(h.Path(ConfigFile), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := h.LoadConfig()
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error %q is not a config error", err)
			}
			return
		}
		if c.Keystore.Scrypt != "standard" && c.Keystore.Scrypt != "light" {
			t.Fatalf("accepted scrypt %q", c.Keystore.Scrypt)
		}
		if c.Approval.MaxPending < 1 || c.Approval.MaxPending > MaxMaxPending {
			t.Fatalf("accepted max_pending %d", c.Approval.MaxPending)
		}
		if c.Approval.Listen == "" || c.Approval.TTL == "" {
			t.Fatal("a default was left empty")
		}
	})
}
