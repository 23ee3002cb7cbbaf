package main

import (
	"context"
	"fmt"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/policy"
)

// defaultChainID is the chain id of a new home's policy (the dev chain).
const defaultChainID = 1337

func (c *cli) init(ctx context.Context, args []string) error {
	fs := c.flags("init")
	chainID := fs.Uint64("chain-id", defaultChainID, "chain_id written into the new policy.toml")
	light := fs.Bool("light-kdf", false, "cheap scrypt parameters: for tests and throwaway dev homes only")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	h, err := c.openHome()
	if err != nil {
		return err
	}
	if h.Initialised() {
		return fmt.Errorf("%w: %s", config.ErrHomeExists, h.Dir)
	}
	pass, err := c.passphrase(nil, fmt.Sprintf("New home passphrase (at least %d characters): ", config.MinPassphraseLen), true)
	if err != nil {
		return err
	}
	defer pass.Wipe()
	if err := config.CheckNewPassphrase(pass); err != nil {
		return err
	}
	mk, err := initHome(ctx, h, pass, *chainID, *light)
	if err != nil {
		return err
	}
	mk.Wipe()
	home := ""
	if c.g.home != "" {
		home = " --home " + secret.ShellQuote(h.Dir)
	}
	fmt.Fprintf(c.stdout, "initialised %s\n"+
		"next, in this order:\n"+
		"  1. walletmcp%[2]s totp enroll       add the second factor: without it, transfers that need you wait forever\n"+
		"  2. review %[3]s\n"+
		"  3. walletmcp%[2]s policy attest     pin the policy (asks for a TOTP code)\n"+
		"  4. walletmcp%[2]s account new       a key for the agent to spend from\n"+
		"  5. walletmcp%[2]s serve --rpc URL   serve MCP with a node of chain %[4]d\n",
		h.Dir, home, h.Path(config.PolicyFile), *chainID)
	return nil
}

// initHome creates a home: passphrase verifier, config, policy template,
// state database and audit log.
func initHome(ctx context.Context, h *config.Home, pass *secret.Bytes, chainID uint64, light bool) (*config.MasterKey, error) {
	mk, err := h.Init(pass, light)
	if err != nil {
		return nil, err
	}
	cfgText := config.DefaultConfigText
	if light {
		if cfgText, err = config.SetString(cfgText, "keystore.scrypt", "light"); err != nil {
			return nil, err
		}
	}
	if err := config.WriteFileAtomic(h.Path(config.ConfigFile), []byte(cfgText)); err != nil {
		return nil, err
	}
	if err := config.WriteFileAtomic(h.Path(config.PolicyFile), []byte(policy.PolicyTemplate(chainID))); err != nil {
		return nil, err
	}
	st, err := openState(ctx, h, mk)
	if err != nil {
		return nil, err
	}
	st.Close()
	key, err := mk.Derive(config.AuditKeyPurpose)
	if err != nil {
		return nil, err
	}
	defer key.Wipe()
	lg, err := openAuditKey(h, key, false, 0)
	if err != nil {
		return nil, err
	}
	defer lg.Close()
	if err := lg.Append(ctx, audit.TypeStart, map[string]any{"event": "home_initialised"}); err != nil {
		return nil, err
	}
	return mk, nil
}
