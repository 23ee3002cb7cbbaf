package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/ops"
	"github.com/walletmcp/walletmcp/internal/store"
)

// unfreeze is `walletmcp unfreeze ADDRESS [--code C]`: with a TOTP code,
// restores automatic approval for an account a severe anomaly froze.
func (c *cli) unfreeze(ctx context.Context, args []string) error {
	fs := c.flags("unfreeze")
	codeFlag := fs.String("code", "", "the TOTP code (asked for when absent; - reads it from standard input; a code given here is visible to other processes)")
	var pos []string
	for { // flags may come before or after the address
		if err := c.parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 || !common.IsHexAddress(pos[0]) {
		return &exitError{code: 2, err: errors.New("walletmcp unfreeze needs the account's 0x address")}
	}
	addr := common.HexToAddress(pos[0])
	e, err := c.openApprovals(ctx, true)
	if err != nil {
		return err
	}
	defer e.close()
	fz, err := e.st.Frozen(ctx, addr)
	if err != nil {
		return err
	}
	if !fz.Frozen {
		fmt.Fprintf(c.stdout, "%s is not frozen\n", addr.Hex())
		return nil
	}
	if _, err := e.st.TOTP(ctx); errors.Is(err, store.ErrNotFound) {
		return totp.ErrNotEnrolled
	} else if err != nil {
		return err
	}
	key, err := e.mk.Derive(config.TOTPKeyPurpose)
	if err != nil {
		return err
	}
	v := totp.NewSealedVerifier(e.st, e.lg, key, nil)
	defer v.Wipe()
	fmt.Fprintf(c.stdout, "%s is frozen since %s (rule %s): every transfer needs a human.\n", addr.Hex(), fz.ChangedAt.Local().Format(time.RFC3339), fz.Rule)
	err = c.askCode(*codeFlag, "TOTP code to restore automatic approval: ", func(code string) error {
		_, err := v.Verify(ctx, code, totp.Scope{Channel: store.ChannelCLI})
		return err
	})
	if err != nil {
		return err
	}
	if _, err := e.st.SetFrozen(ctx, addr, false, ""); err != nil {
		return err
	}
	fields := map[string]any{"event": "account_unfrozen", "from": addr.Hex(), "rule": fz.Rule}
	if err := e.lg.Append(ctx, audit.TypeSecurity, fields); err != nil {
		return err
	}
	c.queueAlert(ctx, e.h, e.st, fields)
	fmt.Fprintf(c.stdout, "unfrozen %s: automatic approval restored\n", addr.Hex())
	return nil
}

// queueAlert queues the alert of a security record for a running serve to
// deliver (it polls the queue every second); failures are printed, never fatal.
func (c *cli) queueAlert(ctx context.Context, h *config.Home, st *store.Store, fields map[string]any) {
	cfg, err := h.LoadConfig()
	if err != nil || (cfg.Alerts.WebhookURL == "" && len(cfg.Alerts.Command) == 0) {
		return
	}
	ev, ok := ops.AlertFor(fields["event"].(string), fields)
	if !ok {
		return
	}
	// The queue needs no webhook key: serve signs at delivery.
	var id [8]byte
	_, _ = rand.Read(id[:])
	body, err := ops.Encode(ev, hex.EncodeToString(id[:]), time.Now())
	for _, t := range []struct {
		target string
		on     bool
	}{{store.AlertWebhook, cfg.Alerts.WebhookURL != ""}, {store.AlertCommand, len(cfg.Alerts.Command) > 0}} {
		if err == nil && t.on {
			_, err = st.EnqueueAlert(ctx, t.target, body, 1000)
		}
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "warning: the alert could not be queued: %v\n", err)
	}
}

// statusView is `walletmcp status --json`.
type statusView struct {
	Home     string `json:"home"`
	Accounts []struct {
		Address string `json:"address"`
		Label   string `json:"label"`
		Backend string `json:"backend"`
		Frozen  bool   `json:"frozen"`
		Rule    string `json:"frozen_rule,omitempty"`
	} `json:"accounts"`
	PendingApprovals int    `json:"pending_approvals"`
	LastSelfCheck    string `json:"last_self_check,omitempty"`
	SelfCheck        string `json:"self_check_result,omitempty"`
	AuditRecords     int    `json:"audit_records"`
	AuditHead        string `json:"audit_head"`
	AlertQueue       int    `json:"alert_queue"`
}

// status is `walletmcp status [--json]`.
func (c *cli) status(ctx context.Context, args []string) error {
	fs := c.flags("status")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	e, err := c.openApprovals(ctx, false) // verifies the audit chain
	if err != nil {
		return err
	}
	defer e.close()
	v := statusView{Home: e.h.Dir}
	accts, err := e.h.Accounts()
	if err != nil {
		return err
	}
	for _, a := range accts {
		fz, err := e.st.Frozen(ctx, a.Address)
		if err != nil {
			return err
		}
		v.Accounts = append(v.Accounts, struct {
			Address string `json:"address"`
			Label   string `json:"label"`
			Backend string `json:"backend"`
			Frozen  bool   `json:"frozen"`
			Rule    string `json:"frozen_rule,omitempty"`
		}{a.Address.Hex(), a.Label, a.Backend, fz.Frozen, fz.Rule})
	}
	pend, err := e.st.ListApprovals(ctx, approvalstate.Pending)
	if err != nil {
		return err
	}
	v.PendingApprovals = len(pend)
	if at, val, err := e.st.Mark(ctx, selfCheckMark); err == nil {
		v.LastSelfCheck, v.SelfCheck = at.Format(time.RFC3339), val
	}
	sum, err := audit.Verify(e.h.Path(config.AuditFile))
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	v.AuditRecords, v.AuditHead = sum.Records, sum.LastHash
	if v.AlertQueue, _, err = e.st.AlertQueue(ctx); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, a := range v.Accounts {
		state := "active"
		if a.Frozen {
			state = "frozen (" + printable(a.Rule) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", printable(a.Address), printable(a.Label), printable(a.Backend), state)
	}
	tw.Flush()
	fmt.Fprintf(c.stdout, "pending approvals: %d\n", v.PendingApprovals)
	if v.LastSelfCheck != "" {
		fmt.Fprintf(c.stdout, "last key self-check: %s (%s)\n", v.LastSelfCheck, v.SelfCheck)
	} else {
		fmt.Fprintln(c.stdout, "last key self-check: never")
	}
	fmt.Fprintf(c.stdout, "audit: %d records, head %s\n", v.AuditRecords, v.AuditHead)
	fmt.Fprintf(c.stdout, "alert queue: %d\n", v.AlertQueue)
	return nil
}
