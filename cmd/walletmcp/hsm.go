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
	h, err := c.home()
	if err != nil {
		return err
	}
	cfg, err := h.LoadConfig()
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
	h, err := c.home()
	if err != nil {
		return err
	}
	cfg, err := h.LoadConfig()
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

// addHSMKeys opens the token when the home has hsm accounts and adds a
// Signer for each to keys. It refuses (naming the cause) a missing [hsm],
// module, token, a wrong PIN (tried once) and a registered key that is gone.
// The returned function closes the token.
func (c *cli) addHSMKeys(ctx context.Context, h *config.Home, cfg *config.Config, accts []config.Account, keys approval.KeyMap) (func(), error) {
	var want []config.Account
	for _, a := range accts {
		if a.Backend == config.BackendHSM {
			want = append(want, a)
		}
	}
	if len(want) == 0 {
		return func() {}, nil
	}
	tok, err := c.openToken(ctx, h, cfg)
	if err != nil {
		return nil, fmt.Errorf("serve: refusing to start: %w", err)
	}
	for _, a := range want {
		s, err := p11.Load(ctx, tok, a.Address)
		if err != nil {
			tok.Close()
			if errors.Is(err, hsm.ErrKeyNotFound) {
				return nil, fmt.Errorf("serve: refusing to start: hsm account %s: its key is gone from token %q", a.Address.Hex(), cfg.HSM.TokenLabel)
			}
			return nil, fmt.Errorf("serve: refusing to start: hsm account %s: %w", a.Address.Hex(), err)
		}
		keys[a.Address] = s
	}
	return func() { tok.Close() }, nil
}
