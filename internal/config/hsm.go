package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// EnvHSMPINFile names the environment variable that can point at the file
// holding the HSM user PIN when config.toml's hsm.pin_file is empty.
const EnvHSMPINFile = "WALLETMCP_HSM_PIN_FILE"

// Bounds of HSMConfig.Sessions.
const (
	DefaultHSMSessions = 4
	MaxHSMSessions     = 64
)

// HSMConfig is config.toml's [hsm]: the PKCS#11 token that holds the keys of
// hsm accounts (CONTRACT.md §6). An empty section means no token.
type HSMConfig struct {
	// Module is the path of the PKCS#11 library, for instance
	// /usr/lib/softhsm/libsofthsm2.so. Required when [hsm] is used.
	Module string `toml:"module"`
	// TokenLabel is the label of the token (found by label, not slot).
	// Required when [hsm] is used.
	TokenLabel string `toml:"token_label"`
	// PINFile is a file holding the user PIN (first line; not readable by
	// group or others). Default: $WALLETMCP_HSM_PIN_FILE, else the PIN is
	// asked on the terminal.
	PINFile string `toml:"pin_file"`
	// Sessions is how many signing sessions are kept open. Default 4, at
	// most MaxHSMSessions.
	Sessions int `toml:"sessions"`
}

// Configured reports whether [hsm] names a token.
func (c *HSMConfig) Configured() bool { return c.Module != "" || c.TokenLabel != "" }

// PINPath returns the PIN file to read: hsm.pin_file, else
// $WALLETMCP_HSM_PIN_FILE, else "" (ask on the terminal). A relative
// pin_file is taken relative to the home.
func (c *HSMConfig) PINPath(h *Home) string {
	switch {
	case c.PINFile != "" && !filepath.IsAbs(c.PINFile) && h != nil:
		return h.Path(c.PINFile)
	case c.PINFile != "":
		return c.PINFile
	}
	return os.Getenv(EnvHSMPINFile)
}

// check validates [hsm] and fills its defaults.
func (c *HSMConfig) check() error {
	if !c.Configured() {
		if c.PINFile != "" || c.Sessions != 0 {
			return fmt.Errorf("config: %s: hsm.module and hsm.token_label are required when [hsm] is used", ConfigFile)
		}
		return nil
	}
	if c.Module == "" || c.TokenLabel == "" {
		return fmt.Errorf("config: %s: hsm.module and hsm.token_label are both required", ConfigFile)
	}
	switch {
	case c.Sessions == 0:
		c.Sessions = DefaultHSMSessions
	case c.Sessions < 0 || c.Sessions > MaxHSMSessions:
		return fmt.Errorf("config: %s: hsm.sessions must be between 1 and %d", ConfigFile, MaxHSMSessions)
	}
	return nil
}
