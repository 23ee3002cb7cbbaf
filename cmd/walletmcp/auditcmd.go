package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
)

// unlockAudit checks the home passphrase and opens the home's audit log with
// the head key derived from it; commands do this before they change
// anything, so that a tampered or unwritable log stops them early. The
// caller wipes the passphrase and master key and closes the log.
func (c *cli) unlockAudit(h *config.Home) (*secret.Bytes, *config.MasterKey, *audit.Log, error) {
	pass, mk, err := c.unlockHome(h)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := mk.Derive(config.AuditKeyPurpose)
	if err != nil {
		pass.Wipe()
		mk.Wipe()
		return nil, nil, nil, err
	}
	defer key.Wipe()
	lg, err := openAuditKey(h, key, true, 0)
	if err != nil {
		pass.Wipe()
		mk.Wipe()
		return nil, nil, nil, err
	}
	return pass, mk, lg, nil
}

// serveAuditLinger is how long serve's audit writer may hold the records of
// read tool calls (tool_call records nobody waits for) to commit them
// together (audit.Options.Linger): calls one after another then share a
// commit instead of two fsyncs each. Every other record is committed as
// soon as the writer is free, as before.
const serveAuditLinger = 3 * time.Millisecond

// openAuditKey opens the home's audit log with the head key. mustExist
// refuses a missing or empty log: init writes the first record, so only init
// may start one. linger is audit.Options.Linger (0 for the CLI commands).
func openAuditKey(h *config.Home, key *secret.Bytes, mustExist bool, linger time.Duration) (*audit.Log, error) {
	lg, err := audit.Open(h.Path(config.AuditFile), &audit.Options{HeadKey: key.Reveal(), MustExist: mustExist, Linger: linger})
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return lg, nil
}

func (c *cli) auditVerify(_ context.Context, args []string) error {
	fs := c.flags("audit verify")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	h, err := c.home()
	if err != nil {
		return err
	}
	key, err := c.auditVerifyKey(h)
	if err != nil {
		return err
	}
	var raw []byte
	if key != nil {
		defer key.Wipe()
		raw = key.Reveal()
	}
	sum, err := audit.VerifyWithKey(h.Path(config.AuditFile), raw)
	if err != nil {
		return err
	}
	if sum.Records == 0 && h.Initialised() {
		return errors.New("audit: log truncated: it holds no records, but `walletmcp init` writes the first")
	}
	switch sum.HeadMAC {
	case audit.HeadMACVerified:
		fmt.Fprintf(c.stdout, "audit log intact: %d records, last seq %d, head %s\n", sum.Records, sum.LastSeq, sum.LastHash)
		fmt.Fprintln(c.stdout, "checked with the home passphrase: no records cut from the end")
	case audit.HeadMACUnchecked:
		fmt.Fprintf(c.stdout, "audit chain intact: %d records, last seq %d, head %s\n", sum.Records, sum.LastSeq, sum.LastHash)
		fmt.Fprintln(c.stdout, "not checked: records cut from the end (needs the home passphrase: --password-file, WALLETMCP_PASSWORD_FILE or a terminal)")
	default:
		fmt.Fprintf(c.stdout, "audit chain intact: %d records, last seq %d, head %s\n", sum.Records, sum.LastSeq, sum.LastHash)
		fmt.Fprintln(c.stdout, "not checked: records cut from the end (the head file has no MAC yet: an earlier walletmcp wrote it; the next command that writes the log adds one)")
	}
	return nil
}

// auditVerifyKey returns the audit log's head key, or nil if no passphrase is
// at hand. The passphrase comes from --password-file or
// WALLETMCP_PASSWORD_FILE, else a dev home's dev-password file (as serve
// --dev finds it), else the terminal, where an empty answer checks without
// it. A passphrase that is given but wrong is an error, never a reason to
// check less.
func (c *cli) auditVerifyKey(h *config.Home) (*secret.Bytes, error) {
	c.useDevPassword(h)
	var pass *secret.Bytes
	var err error
	if c.g.passwordFile != "" || os.Getenv("WALLETMCP_PASSWORD_FILE") != "" {
		pass, err = config.ReadPassphrase(c.g.passwordFile)
	} else {
		pass, err = promptSecret(c.stderr, "Home passphrase (empty: check without it): ", false)
		if errors.Is(err, errNoTerminal) || errors.Is(err, secret.ErrEmpty) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	defer pass.Wipe()
	mk, err := h.Unlock(pass)
	if err != nil {
		return nil, err
	}
	defer mk.Wipe()
	return mk.Derive(config.AuditKeyPurpose)
}
