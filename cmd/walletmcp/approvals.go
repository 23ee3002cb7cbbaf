package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// approvalsEnv is what the approval commands open: the audit log first (a
// tampered or unwritable log stops them before anything changes), then the
// state database. The commands that decide (approve, reject) write the log,
// so they unlock the home for its head key; listing decides nothing and only
// verifies the log's chain, without asking for the passphrase.
type approvalsEnv struct {
	h   *config.Home
	mk  *config.MasterKey // nil when listing
	lg  *audit.Log        // nil when listing
	st  *store.Store
	svc *pending.Service
}

func (e *approvalsEnv) close() {
	if e.st != nil {
		e.st.Close()
	}
	if e.lg != nil {
		e.lg.Close()
	}
	e.mk.Wipe()
}

// openApprovals opens what the approval commands need. To decide
// (approve, reject) it asks for the home passphrase first: the audit log is
// opened with its head key and the state with its state key, so that what
// is shown to the human is verified and a decision can be recorded.
func (c *cli) openApprovals(ctx context.Context, decide bool) (*approvalsEnv, error) {
	h, err := c.home()
	if err != nil {
		return nil, err
	}
	if err := h.Require(); err != nil {
		return nil, err
	}
	e := &approvalsEnv{h: h}
	var lg pending.Auditor = listOnly{}
	var opts *store.Options
	if decide {
		var pass *secret.Bytes
		if pass, e.mk, e.lg, err = c.unlockAudit(h); err != nil {
			return nil, err
		}
		pass.Wipe()
		lg = e.lg
		key, err := e.mk.Derive(config.StateKeyPurpose)
		if err != nil {
			e.close()
			return nil, err
		}
		defer key.Wipe()
		opts = &store.Options{Key: key.Reveal()}
	} else if _, err := audit.Verify(h.Path(config.AuditFile)); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if e.st, err = store.Open(ctx, h.Path(config.StateFile), opts); err != nil {
		e.close()
		return nil, err
	}
	if e.svc, err = pending.New(&pending.Config{Store: e.st, Audit: lg}); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// listOnly is the audit log of a command that only lists approvals: listing
// records nothing, and without the head key it must not write the log.
type listOnly struct{}

// Append refuses: a listing writes nothing to the audit log.
func (listOnly) Append(context.Context, string, any) error {
	return errors.New("approvals: a listing does not write the audit log")
}

func (c *cli) approvalsList(ctx context.Context, args []string) error {
	fs := c.flags("approvals")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	e, err := c.openApprovals(ctx, false)
	if err != nil {
		return err
	}
	defer e.close()
	list, err := e.svc.List(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(c.stdout, "no pending approvals")
		return nil
	}
	for i, a := range list {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		c.printApproval(a, time.Now())
	}
	return nil
}

func (c *cli) approve(ctx context.Context, args []string) error {
	fs := c.flags("approve")
	codeFlag := fs.String("code", "", "the TOTP code (asked for when absent; - reads it from standard input; a code given here is visible to other processes)")
	id, err := c.parseID(fs, args)
	if err != nil {
		return err
	}
	e, err := c.openApprovals(ctx, true)
	if err != nil {
		return err
	}
	defer e.close()
	a, err := e.svc.Get(ctx, id)
	if err != nil {
		return err
	}
	c.printApproval(a, time.Now())
	switch {
	case a.Status == approvalstate.Expired:
		return pending.ErrExpired
	case a.Status != approvalstate.Pending:
		return &pending.NotPendingError{ID: a.ID, Status: string(a.Status)}
	}
	if _, err := approval.VerifyStored(a); err != nil {
		return fmt.Errorf("not approving: %w", err)
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
	svc, err := pending.New(&pending.Config{Store: e.st, Verifier: v, Audit: e.lg})
	if err != nil {
		return err
	}
	// The terminal is never locked by wrong codes (those on the approval
	// page lock only the page); a mistyped code is asked for again.
	err = c.askCode(*codeFlag, "TOTP code to approve this transfer: ", func(code string) error {
		return svc.Approve(ctx, a.ID, code, store.ChannelCLI)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "approved %s: the server signs and sends it\n", a.ID)
	return nil
}

func (c *cli) reject(ctx context.Context, args []string) error {
	fs := c.flags("reject")
	id, err := c.parseID(fs, args)
	if err != nil {
		return err
	}
	e, err := c.openApprovals(ctx, true)
	if err != nil {
		return err
	}
	defer e.close()
	a, err := e.svc.Get(ctx, id)
	if err != nil {
		return err
	}
	c.printApproval(a, time.Now())
	if err := e.svc.Reject(ctx, a.ID, store.ChannelCLI); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "rejected %s\n", a.ID)
	return nil
}

// parseID parses flags placed before or after the one positional argument,
// an approval ID (32 hex digits), and returns the ID in lower case. Other
// positional arguments are refused without being echoed (one could be a code
// typed in the wrong place).
func (c *cli) parseID(fs *flag.FlagSet, args []string) (string, error) {
	var pos []string
	for {
		if err := c.parseFlags(fs, args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return "", &exitError{code: 2, err: fmt.Errorf("usage: walletmcp %s ID (one approval ID, from `walletmcp approvals`)", fs.Name()[len("walletmcp "):])}
	}
	id := strings.ToLower(pos[0])
	if !approvalstate.ValidID(id) {
		return "", &exitError{code: 2, err: errors.New("an approval ID is 32 hex digits (see `walletmcp approvals`)")}
	}
	return id, nil
}
