package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/secret"
)

const pass = "config-test-passphrase"

func newHome(t *testing.T) (*Home, *MasterKey) {
	t.Helper()
	h, err := Open(filepath.Join(t.TempDir(), "home"))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := h.Init(secret.CopyBytes([]byte(pass)), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mk.Wipe)
	return h, mk
}

func TestInitAndUnlock(t *testing.T) {
	h, mk := newHome(t)
	fi, err := os.Stat(h.Dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("home mode %v, %v", fi.Mode().Perm(), err)
	}
	if _, err := h.Init(secret.CopyBytes([]byte(pass)), true); !errors.Is(err, ErrHomeExists) {
		t.Fatalf("second Init: %v", err)
	}
	mk2, err := h.Unlock(secret.CopyBytes([]byte(pass)))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := mk.Derive("x")
	b, _ := mk2.Derive("x")
	c, _ := mk2.Derive("y")
	if !a.Equal(b) || a.Equal(c) || a.Len() != 32 {
		t.Fatal("subkeys must be stable per purpose and differ across purposes")
	}
	if _, err := h.Unlock(secret.CopyBytes([]byte("wrong"))); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	raw, _ := os.ReadFile(h.Path(HomeFile))
	if strings.Contains(string(raw), pass) {
		t.Fatal("home.json contains the passphrase")
	}
}

func TestAttestation(t *testing.T) {
	h, mk := newHome(t)
	now := time.Date(2026, 11, 21, 7, 0, 0, 0, time.UTC)
	sum := strings.Repeat("ab", 32)
	if _, err := h.CheckAttestation(mk, sum); !errors.Is(err, ErrNotAttested) {
		t.Fatalf("before attesting: %v", err)
	}
	if err := h.Attest(mk, sum, now); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CheckAttestation(mk, sum); err != nil {
		t.Fatalf("attested: %v", err)
	}
	if _, err := h.CheckAttestation(mk, strings.Repeat("cd", 32)); !errors.Is(err, ErrPolicyDrift) {
		t.Fatalf("changed policy: %v", err)
	}
	// A home with another passphrase cannot vouch for this attestation.
	other, otherMK := newHome(t)
	data, _ := os.ReadFile(h.Path(AttestationFile))
	if err := os.WriteFile(other.Path(AttestationFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := other.CheckAttestation(otherMK, sum); !errors.Is(err, ErrNotAttested) {
		t.Fatalf("attestation copied from another home: %v", err)
	}
	// Editing the pinned hash breaks the MAC.
	forged := strings.Replace(string(data), sum, strings.Repeat("cd", 32), 1)
	if err := os.WriteFile(h.Path(AttestationFile), []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CheckAttestation(mk, strings.Repeat("cd", 32)); !errors.Is(err, ErrNotAttested) {
		t.Fatalf("forged attestation: %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	h, _ := newHome(t)
	c, err := h.LoadConfig()
	if err != nil || c.Keystore.Scrypt != "standard" || c.Approval.Listen != "127.0.0.1:0" || c.Approval.TTL != "10m" || c.Approval.MaxPending != 20 {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	cases := []struct{ name, text, want string }{
		{"unknown key", "rpc_url = \"\"\nrpc_urll = \"x\"\n", "rpc_urll"},
		{"bad scrypt", "[keystore]\nscrypt = \"weak\"\n", "keystore.scrypt"},
		{"syntax", "rpc_url = \n", "config.toml"},
		{"negative max_pending", "[approval]\nmax_pending = -1\n", "approval.max_pending"},
		{"huge max_pending", "[approval]\nmax_pending = 1000000\n", "approval.max_pending"},
		{"oauth without jwks", "[http.oauth]\nissuer = \"https://issuer.example\"\n", "http.oauth"},
		{"unknown http key", "[http]\nallow_anonymous = true\n", "allow_anonymous"},
	}
	if c.HTTP.SessionTimeout != "30m" || c.HTTP.OAuth.Issuer != "" {
		t.Errorf("http defaults: %+v", c.HTTP)
	}
	if err := os.WriteFile(h.Path(ConfigFile), []byte("[http]\nhosts = [\"wallet.example:8900\"]\n[http.oauth]\nissuer = \"https://issuer.example\"\njwks_url = \"https://issuer.example/jwks\"\naudience = \"https://wallet.example:8900/mcp\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := h.LoadConfig(); err != nil || c.HTTP.OAuth.JWKSURL != "https://issuer.example/jwks" || len(c.HTTP.Hosts) != 1 {
		t.Fatalf("[http]: %+v, %v", c, err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(h.Path(ConfigFile), []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := h.LoadConfig()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestAccounts(t *testing.T) {
	h, _ := newHome(t)
	a := common.HexToAddress("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf")
	if err := h.AddAccount(Account{Address: a, Label: "agent", Backend: BackendKeystore}); err != nil {
		t.Fatal(err)
	}
	if err := h.AddAccount(Account{Address: a, Backend: BackendKeystore}); err == nil {
		t.Fatal("the same address twice")
	}
	for _, bad := range []Account{
		{Address: common.HexToAddress("0x01"), Backend: "paper"},
		{Address: common.HexToAddress("0x02"), Backend: BackendKeystore, Label: "line\nbreak"},
		{Address: common.HexToAddress("0x03"), Backend: BackendKeystore, Label: strings.Repeat("x", MaxLabelLen+1)},
	} {
		if err := h.AddAccount(bad); err == nil {
			t.Fatalf("accepted %+v", bad)
		}
	}
	got, err := h.Accounts()
	if err != nil || len(got) != 1 || got[0].Address != a || got[0].Label != "agent" {
		t.Fatalf("accounts %+v, %v", got, err)
	}
}

// TestMasterKeyLight: whether a home is light comes from the home.json its
// passphrase was checked against. (Read from the file again, a home.json
// swapped in after the check, one that does not even verify, made a
// standard home's next key file light.)
func TestMasterKeyLight(t *testing.T) {
	for _, light := range []bool{true, false} {
		h, err := Open(filepath.Join(t.TempDir(), "home"))
		if err != nil {
			t.Fatal(err)
		}
		mk, err := h.Init(secret.CopyBytes([]byte(pass)), light)
		if err != nil {
			t.Fatal(err)
		}
		if mk.Light() != light {
			t.Fatalf("Init(light %v): Light() = %v", light, mk.Light())
		}
		mk.Wipe()
		mk, err = h.Unlock(secret.CopyBytes([]byte(pass)))
		if err != nil {
			t.Fatal(err)
		}
		if mk.Light() != light {
			t.Fatalf("Unlock of a home made with light %v: Light() = %v", light, mk.Light())
		}
		mk.Wipe()
	}
}
