package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCannotWeakenKeys: config.toml is not attested, and a line in it
// (keystore.scrypt = "light") made the next key file of a standard home use
// a 64th of the memory cost: a key file anything running as the user can
// read, brute-forced cheaper. New keys are light only in a light home.
func TestConfigCannotWeakenKeys(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, home, "init", "--chain-id", "1337")
	cfgPath := filepath.Join(home, "config.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), `scrypt = "standard"`) {
		t.Fatalf("config.toml has no scrypt line:\n%s", cfg)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(cfg), `scrypt = "standard"`, `scrypt = "light"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, home, "account", "new")
	files, err := filepath.Glob(filepath.Join(home, "keystore", "*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("keystore files %v, %v", files, err)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var kf struct {
		Crypto struct {
			KDFParams struct {
				N int `json:"n"`
			} `json:"kdfparams"`
		} `json:"crypto"`
	}
	if err := json.Unmarshal(raw, &kf); err != nil {
		t.Fatal(err)
	}
	if kf.Crypto.KDFParams.N < 1<<18 {
		t.Fatalf("a standard home's new key file has scrypt N = %d", kf.Crypto.KDFParams.N)
	}
}
