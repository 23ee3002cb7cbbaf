package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/ethereum/go-ethereum/common"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/wallet"
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
	lg, err := openAuditKey(h, key, false)
	if err != nil {
		return nil, err
	}
	defer lg.Close()
	if err := lg.Append(ctx, audit.TypeStart, map[string]any{"event": "home_initialised"}); err != nil {
		return nil, err
	}
	return mk, nil
}

func (c *cli) accountNew(ctx context.Context, args []string) error {
	fs := c.flags("account new")
	label := fs.String("label", "", "a short name for the account")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if err := config.ValidateLabel(*label); err != nil {
		return err
	}
	ks, err := c.openKeystore()
	if err != nil {
		return err
	}
	defer ks.close()
	addr, err := ks.ks.New(ks.pass)
	if err != nil {
		return err
	}
	return ks.register(ctx, c, addr, *label, "account_created")
}

func (c *cli) accountImport(ctx context.Context, args []string) error {
	fs := c.flags("account import")
	keyFile := fs.String("key-file", "", "file holding a hex private key (64 hex digits)")
	ksFile := fs.String("keystore", "", "a V3 keystore file (asks for its passphrase)")
	ksPassFile := fs.String("keystore-password-file", "", "file holding the --keystore file's passphrase")
	label := fs.String("label", "", "a short name for the account")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if (*keyFile == "") == (*ksFile == "") {
		return &exitError{code: 2, err: errors.New("account import: give exactly one of --key-file or --keystore")}
	}
	if err := config.ValidateLabel(*label); err != nil {
		return err
	}
	ks, err := c.openKeystore()
	if err != nil {
		return err
	}
	defer ks.close()
	var addr common.Address
	if *keyFile != "" {
		key, err := secret.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("--key-file: %w", err)
		}
		defer key.Wipe()
		a, err := ks.ks.ImportHex(key, ks.pass)
		if err != nil {
			return err
		}
		addr = a
	} else {
		data, err := readBounded(*ksFile, wallet.MaxKeyFileSize)
		if err != nil {
			return fmt.Errorf("--keystore: %w", err)
		}
		var filePass *secret.Bytes
		if *ksPassFile != "" {
			filePass, err = secret.ReadFile(*ksPassFile)
		} else {
			filePass, err = promptSecret(c.stderr, "Passphrase of the keystore file: ", false)
		}
		if err != nil {
			return err
		}
		defer filePass.Wipe()
		a, err := ks.ks.ImportV3(data, filePass, ks.pass)
		if err != nil {
			return err
		}
		addr = a
	}
	return ks.register(ctx, c, addr, *label, "account_imported")
}

// keystoreSession is what the account commands share: the home, its
// keystore, the checked home passphrase, and the audit log, opened (with the
// key derived from the passphrase) before anything changes, so that a
// tampered or unwritable log stops the command first.
type keystoreSession struct {
	h    *config.Home
	ks   *wallet.Keystore
	pass *secret.Bytes
	lg   *audit.Log
}

func (c *cli) openKeystore() (*keystoreSession, error) {
	h, err := c.home()
	if err != nil {
		return nil, err
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		return nil, err
	}
	pass, mk, lg, err := c.unlockAudit(h)
	if err != nil {
		return nil, err
	}
	mk.Wipe()
	return &keystoreSession{h: h, ks: keystoreOf(h, cfg), pass: pass, lg: lg}, nil
}

func (k *keystoreSession) close() {
	k.pass.Wipe()
	k.lg.Close()
}

// register adds a keystore account to the registry, audits it and prints it.
func (k *keystoreSession) register(ctx context.Context, c *cli, addr common.Address, label, event string) error {
	if err := k.h.AddAccount(config.Account{Address: addr, Label: label, Backend: config.BackendKeystore}); err != nil {
		return err
	}
	return c.auditAdmin(ctx, k.lg, event, map[string]any{"address": addr.Hex(), "backend": config.BackendKeystore}, addr.Hex())
}

// auditAdmin records an administrative event and prints result.
func (c *cli) auditAdmin(ctx context.Context, lg *audit.Log, event string, fields map[string]any, result string) error {
	fields["event"] = event
	if err := lg.Append(ctx, audit.TypeSecurity, fields); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, result)
	return nil
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, nil
}

func (c *cli) accountList(_ context.Context, args []string) error {
	fs := c.flags("account list")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	h, err := c.home()
	if err != nil {
		return err
	}
	if err := h.Require(); err != nil {
		return err
	}
	accts, err := h.Accounts()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tBACKEND\tLABEL")
	for _, a := range accts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Address.Hex(), a.Backend, a.Label)
	}
	return tw.Flush()
}

func (c *cli) policyCheck(_ context.Context, args []string) error {
	fs := c.flags("policy check")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	h, err := c.home()
	if err != nil {
		return err
	}
	p, err := loadPolicy(h)
	if err != nil {
		return err
	}
	printPolicy(c.stdout, p)
	fmt.Fprintf(c.stdout, "\nsha256 %s\n", p.SHA256)
	// Exit status 1 unless the file is the attested one: a script can gate on it.
	switch pinned, err := h.AttestedSHA256(); {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("policy.toml is not attested: serve will refuse to start until `walletmcp policy attest`")
	case err != nil:
		return fmt.Errorf("policy.toml is not attested (%s is unreadable: %v): run `walletmcp policy attest`", config.AttestationFile, err)
	case pinned != p.SHA256:
		return fmt.Errorf("policy.toml CHANGED since it was attested (attested sha256 %s): serve will refuse to start until `walletmcp policy attest`", pinned)
	}
	fmt.Fprintln(c.stdout, "attested (serve verifies the attestation's MAC with the home passphrase)")
	return nil
}

// loadPolicy reads and parses the home's policy.toml.
func loadPolicy(h *config.Home) (*policy.Policy, error) {
	data, sum, err := h.ReadPolicy()
	if err != nil {
		return nil, err
	}
	return policy.ParsePolicy(data, sum)
}

func (c *cli) policyAttest(ctx context.Context, args []string) error {
	fs := c.flags("policy attest")
	code := fs.String("code", "", "a current TOTP code, required once TOTP is enrolled (asked for when absent)")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	h, err := c.home()
	if err != nil {
		return err
	}
	p, err := loadPolicy(h)
	if err != nil {
		return fmt.Errorf("not attesting an invalid policy: %w", err)
	}
	sum := p.SHA256
	printPolicy(c.stdout, p)
	pass, mk, lg, err := c.unlockAudit(h)
	if err != nil {
		return err
	}
	defer lg.Close()
	pass.Wipe()
	defer mk.Wipe()
	if err := c.requireTOTP(ctx, h, lg, mk, *code, "TOTP code to attest this policy: "); err != nil {
		return fmt.Errorf("policy not attested: %w", err)
	}
	if err := h.Attest(mk, sum, time.Now()); err != nil {
		return err
	}
	return c.auditAdmin(ctx, lg, "policy_attested", map[string]any{"policy_sha256": sum}, "attested sha256 "+sum)
}

func printPolicy(w interface{ Write([]byte) (int, error) }, p *policy.Policy) {
	fmt.Fprintf(w, "chain_id %d\n", p.ChainID)
	show := func(name string, dec int, l *policy.Limits) {
		fmt.Fprintf(w, "%s: auto_approve_max %s, per_tx_max %s, balance_fraction_approval %s, window %s (auto %s, total %s)\n",
			name, policy.FormatAmount(l.AutoApproveMax, dec), policy.FormatAmount(l.PerTxMax, dec),
			l.BalanceFractionApproval.FloatString(3), l.Window, policy.FormatAmount(l.WindowAutoMax, dec), policy.FormatAmount(l.WindowMax, dec))
	}
	show(policy.NativeSymbol, policy.NativeDecimals, &p.Native)
	for i := range p.Tokens {
		t := &p.Tokens[i]
		show(t.Symbol+" ("+t.Address.Hex()+")", t.Decimals, &t.Limits)
	}
	fmt.Fprintf(w, "recipients: mode %s, %d allowed, %d denied, new_recipient_approval %v\n", p.Recipients.Mode, len(p.Recipients.Allow), len(p.Recipients.Deny), p.Recipients.NewRecipientApproval)
	if len(p.Recipients.Allow) > 0 {
		fmt.Fprintf(w, "  allow: %s\n", joinAddrs(p.Recipients.Allow))
	}
	if len(p.Recipients.Deny) > 0 {
		fmt.Fprintf(w, "  deny: %s\n", joinAddrs(p.Recipients.Deny))
	}
	fmt.Fprintf(w, "fees: max_fee_per_gas_gwei %s, max_total_fee %s ETH\n", policy.FormatAmount(p.MaxFeePerGas, 9), policy.FormatAmount(p.MaxTotalFee, policy.NativeDecimals))
	if p.QuietHours.Enabled {
		fmt.Fprintf(w, "quiet_hours: %s (auto-approval becomes approval)\n", p.QuietHours.String())
	} else {
		fmt.Fprintln(w, "quiet_hours: off")
	}
	if p.UnknownTokens.Allow {
		l := &p.UnknownTokens.Limits
		fmt.Fprintf(w, "unknown_tokens: allowed, in each token's units (scaled from %d decimals): auto_approve_max %s, per_tx_max %s\n",
			policy.UnknownTokenScale, policy.FormatAmount(l.AutoApproveMax, policy.UnknownTokenScale), policy.FormatAmount(l.PerTxMax, policy.UnknownTokenScale))
	} else {
		fmt.Fprintln(w, "unknown_tokens: refused")
	}
	fmt.Fprintf(w, "rate: tool_calls_per_minute %d, transfers_per_hour %d\n", p.ToolCallsPerMinute, p.TransfersPerHour)
}

func joinAddrs(set map[common.Address]bool) string {
	var parts []string
	for _, a := range policy.SortedAddresses(set) {
		parts = append(parts, a.Hex())
	}
	return strings.Join(parts, ", ")
}
