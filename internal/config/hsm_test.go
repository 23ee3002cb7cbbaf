package config

import (
	"os"
	"strings"
	"testing"
)

func TestHSMConfig(t *testing.T) {
	cases := []struct {
		name, toml, wantErr string
		want                HSMConfig
	}{
		{name: "absent", toml: ""},
		{name: "defaults", toml: "[hsm]\nmodule = \"/m.so\"\ntoken_label = \"w\"\n",
			want: HSMConfig{Module: "/m.so", TokenLabel: "w", Sessions: 4}},
		{name: "full", toml: "[hsm]\nmodule = \"/m.so\"\ntoken_label = \"w\"\npin_file = \"/p\"\nsessions = 8\n",
			want: HSMConfig{Module: "/m.so", TokenLabel: "w", PINFile: "/p", Sessions: 8}},
		{name: "no label", toml: "[hsm]\nmodule = \"/m.so\"\n", wantErr: "both required"},
		{name: "no module", toml: "[hsm]\ntoken_label = \"w\"\n", wantErr: "both required"},
		{name: "pin only", toml: "[hsm]\npin_file = \"/p\"\n", wantErr: "required"},
		{name: "too many sessions", toml: "[hsm]\nmodule = \"/m.so\"\ntoken_label = \"w\"\nsessions = 65\n", wantErr: "hsm.sessions"},
		{name: "negative sessions", toml: "[hsm]\nmodule = \"/m.so\"\ntoken_label = \"w\"\nsessions = -1\n", wantErr: "hsm.sessions"},
		{name: "unknown key", toml: "[hsm]\nmodule = \"/m.so\"\ntoken_label = \"w\"\npin = \"1234\"\n", wantErr: "hsm.pin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, _ := newHome(t)
			if err := os.WriteFile(h.Path(ConfigFile), []byte(c.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := h.LoadConfig()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("LoadConfig = %v, want an error with %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), "1234") {
					t.Fatal("the error echoes a value")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HSM != c.want {
				t.Fatalf("HSM = %+v, want %+v", cfg.HSM, c.want)
			}
		})
	}
}

func TestHSMPINPath(t *testing.T) {
	h, _ := newHome(t)
	t.Setenv(EnvHSMPINFile, "/env/pin")
	if got := (&HSMConfig{PINFile: "/abs/pin"}).PINPath(h); got != "/abs/pin" {
		t.Errorf("absolute pin_file: %q", got)
	}
	if got := (&HSMConfig{PINFile: "pin"}).PINPath(h); got != h.Path("pin") {
		t.Errorf("relative pin_file: %q", got)
	}
	if got := (&HSMConfig{}).PINPath(h); got != "/env/pin" {
		t.Errorf("env: %q", got)
	}
	t.Setenv(EnvHSMPINFile, "")
	if got := (&HSMConfig{}).PINPath(h); got != "" {
		t.Errorf("terminal: %q", got)
	}
}
