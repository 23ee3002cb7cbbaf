package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/hsm"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	p11 "github.com/walletmcp/walletmcp/signer/pkcs11"
)

// hsmPIN reads the token's user PIN: hsm.pin_file, $WALLETMCP_HSM_PIN_FILE,
// else the terminal. Never a flag or standard input (MCP in serve).
func (c *cli) hsmPIN(h *config.Home, hc *config.HSMConfig) (*secret.Bytes, error) {
	if p := hc.PINPath(h); p != "" {
		pin, err := secret.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("hsm: the PIN file: %w", err)
		}
		return pin, nil
	}
	pin, err := promptSecret(c.stderr, "PIN of the HSM token: ", false)
	if errors.Is(err, errNoTerminal) {
		return nil, fmt.Errorf("hsm: no terminal to ask for the token's PIN: set hsm.pin_file in %s or %s", config.ConfigFile, config.EnvHSMPINFile)
	}
	return pin, err
}

// openToken opens and logs in to the token of config.toml's [hsm].
func (c *cli) openToken(ctx context.Context, h *config.Home, cfg *config.Config) (*hsm.Token, error) {
	if !cfg.HSM.Configured() {
		return nil, fmt.Errorf("hsm: %s has no [hsm] section: set hsm.module and hsm.token_label (see walletmcp help hsm keygen)", config.ConfigFile)
	}
	pin, err := c.hsmPIN(h, &cfg.HSM)
	if err != nil {
		return nil, err
	}
	defer pin.Wipe()
	return hsm.Open(ctx, &hsm.Config{ModulePath: cfg.HSM.Module, TokenLabel: cfg.HSM.TokenLabel, Sessions: cfg.HSM.Sessions}, pin.Reveal())
}

func (c *cli) hsmKeygen(ctx context.Context, args []string) error {
	fs := c.flags("hsm keygen")
	label := fs.String("label", "", "the key's label on the token and the account's label (required)")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if err := hsm.ValidateLabel(*label); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("hsm keygen: --label: %w", err)}
	}
	if err := config.ValidateLabel(*label); err != nil {
		return err
	}
	h, cfg, err := c.homeConfig()
	if err != nil {
		return err
	}
	pass, mk, lg, err := c.unlockAudit(h)
	if err != nil {
		return err
	}
	pass.Wipe()
	mk.Wipe()
	defer lg.Close()
	tok, err := c.openToken(ctx, h, cfg)
	if err != nil {
		return err
	}
	defer tok.Close()
	ki, err := tok.GenerateKey(ctx, *label)
	if err != nil {
		return err
	}
	addr, err := p11.Address(ki.Point)
	if err != nil {
		return err
	}
	if err := h.AddAccount(config.Account{Address: addr, Label: *label, Backend: config.BackendHSM}); err != nil {
		return err
	}
	return c.auditAdmin(ctx, lg, "account_created", map[string]any{"address": addr.Hex(), "backend": config.BackendHSM, "key_id": hex.EncodeToString(ki.ID)}, addr.Hex())
}

func (c *cli) hsmList(ctx context.Context, args []string) error {
	fs := c.flags("hsm list")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	h, cfg, err := c.homeConfig()
	if err != nil {
		return err
	}
	accts, err := h.Accounts()
	if err != nil {
		return err
	}
	tok, err := c.openToken(ctx, h, cfg)
	if err != nil {
		return err
	}
	defer tok.Close()
	keys, err := tok.Keys(ctx)
	if err != nil {
		return err
	}
	registered := map[string]bool{}
	for _, a := range accts {
		if a.Backend == config.BackendHSM {
			registered[a.Address.Hex()] = true
		}
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tKEY ID\tREGISTERED\tLABEL")
	for _, k := range keys {
		addr, err := p11.Address(k.Point)
		if err != nil {
			continue // not a secp256k1 point: not usable, not ours
		}
		reg := "no"
		if registered[addr.Hex()] {
			reg = "yes"
		}
		fmt.Fprintf(tw, "%s\t%x\t%s\t%s\n", addr.Hex(), k.ID, reg, printable(k.Label))
	}
	return tw.Flush()
}

// hsmServePIN reads, for serve, the token's PIN when the home has hsm
// accounts (nil when it has none). It refuses a missing [hsm] and a PIN that
// cannot be read, naming the cause; the login itself (hsmKeys) runs later.
func (c *cli) hsmServePIN(h *config.Home, cfg *config.Config, accts []config.Account) (*secret.Bytes, error) {
	if len(hsmAccounts(accts)) == 0 {
		return nil, nil
	}
	if !cfg.HSM.Configured() {
		return nil, fmt.Errorf("serve: refusing to start: hsm: %s has no [hsm] section: set hsm.module and hsm.token_label (see walletmcp help hsm keygen)", config.ConfigFile)
	}
	pin, err := c.hsmPIN(h, &cfg.HSM)
	if err != nil {
		return nil, fmt.Errorf("serve: refusing to start: %w", err)
	}
	return pin, nil
}

// hsmAccounts returns the hsm accounts of accts.
func hsmAccounts(accts []config.Account) []config.Account {
	var want []config.Account
	for _, a := range accts {
		if a.Backend == config.BackendHSM {
			want = append(want, a)
		}
	}
	return want
}

// hsmKeys logs in to the token of config.toml's [hsm] with pin (read by
// hsmServePIN) and returns a Signer for each hsm account of accts. It
// refuses (naming the cause) a missing module, token, a wrong PIN (tried
// once) and a registered key that is gone. The returned function closes
// the token.
func hsmKeys(ctx context.Context, cfg *config.Config, accts []config.Account, pin *secret.Bytes) (approval.KeyMap, func(), error) {
	tok, err := hsm.Open(ctx, &hsm.Config{ModulePath: cfg.HSM.Module, TokenLabel: cfg.HSM.TokenLabel, Sessions: cfg.HSM.Sessions}, pin.Reveal())
	if err != nil {
		return nil, nil, fmt.Errorf("serve: refusing to start: %w", err)
	}
	// One listing of the token's keys serves every account.
	infos, err := tok.Keys(ctx)
	if err != nil {
		tok.Close()
		return nil, nil, fmt.Errorf("serve: refusing to start: listing the keys of token %q: %w", cfg.HSM.TokenLabel, err)
	}
	keys := approval.KeyMap{}
	for _, a := range hsmAccounts(accts) {
		s, err := p11.Find(ctx, tok, infos, a.Address)
		if err != nil {
			tok.Close()
			if errors.Is(err, hsm.ErrKeyNotFound) {
				return nil, nil, fmt.Errorf("serve: refusing to start: hsm account %s: its key is gone from token %q", a.Address.Hex(), cfg.HSM.TokenLabel)
			}
			return nil, nil, fmt.Errorf("serve: refusing to start: hsm account %s: %w", a.Address.Hex(), err)
		}
		keys[a.Address] = s
	}
	return keys, func() { tok.Close() }, nil
}
