package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/policy"
)

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
		fmt.Fprintf(w, "unknown_tokens: allowed, in each token's units (scaled from %d decimals): auto_approve_max %s, per_tx_max %s, balance_fraction_approval %s, window %s (auto %s, total %s)\n",
			policy.UnknownTokenScale, policy.FormatAmount(l.AutoApproveMax, policy.UnknownTokenScale), policy.FormatAmount(l.PerTxMax, policy.UnknownTokenScale),
			l.BalanceFractionApproval.FloatString(3), l.Window,
			policy.FormatAmount(l.WindowAutoMax, policy.UnknownTokenScale), policy.FormatAmount(l.WindowMax, policy.UnknownTokenScale))
	} else {
		fmt.Fprintln(w, "unknown_tokens: refused")
	}
	fmt.Fprintf(w, "rate: tool_calls_per_minute %d, transfers_per_hour %d\n", p.ToolCallsPerMinute, p.TransfersPerHour)
	a := &p.Anomaly
	freeze := "none"
	if len(a.FreezeOn) > 0 {
		freeze = strings.Join(a.FreezeOn, ", ")
	}
	fmt.Fprintf(w, "anomaly: denials_per_minute %d, transfers_per_hour_factor %d (min_transfers_per_hour %d, baseline_hours %d), new_recipients_per_hour %d, quiet_hours_activity %v, near_limit_repeats %d at %d%%; freeze_on: %s\n",
		a.DenialsPerMinute, a.TransfersPerHourFactor, a.MinTransfersPerHour, a.BaselineHours, a.NewRecipientsPerHour,
		a.QuietHoursActivity, a.NearLimitRepeats, a.NearLimitPercent, freeze)
}

func joinAddrs(set map[common.Address]bool) string {
	var parts []string
	for _, a := range policy.SortedAddresses(set) {
		parts = append(parts, a.Hex())
	}
	return strings.Join(parts, ", ")
}
