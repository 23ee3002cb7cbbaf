package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/mcpserver/mcphttp"
)

// maxTokenLifetime bounds --expires.
const maxTokenLifetime = 5 * 365 * 24 * time.Hour

// tokenEnv is an unlocked home's state store and audit log.
type tokenEnv struct {
	st *store.Store
	lg *audit.Log
}

func (e *tokenEnv) close() {
	e.st.Close()
	e.lg.Close()
}

// openTokens unlocks the home (the token rows are MAC'd with the state key)
// and opens its store and audit log.
func (c *cli) openTokens(ctx context.Context) (*tokenEnv, error) {
	h, err := c.home()
	if err != nil {
		return nil, err
	}
	pass, mk, lg, err := c.unlockAudit(h)
	if err != nil {
		return nil, err
	}
	pass.Wipe()
	defer mk.Wipe()
	st, err := openState(ctx, h, mk)
	if err != nil {
		lg.Close()
		return nil, err
	}
	return &tokenEnv{st: st, lg: lg}, nil
}

func (c *cli) tokenNew(ctx context.Context, args []string) error {
	fs := c.flags("token new")
	scope := fs.String("scope", "", "comma-separated scopes: read, transfer, offline")
	label := fs.String("label", "", "a label shown by token list")
	expires := fs.Duration("expires", 0, "lifetime (e.g. 720h); default: until revoked")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	scopes, err := mcphttp.ParseScopes(*scope)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("token new: --scope: %w", err)}
	}
	if *expires < 0 || *expires > maxTokenLifetime {
		return &exitError{code: 2, err: errors.New("token new: --expires must be positive and at most 5 years")}
	}
	if len(*label) > store.MaxHTTPTokenLabelLen || strings.ContainsAny(*label, "\n\r\t") {
		return &exitError{code: 2, err: errors.New("token new: --label must be one line of at most 200 bytes")}
	}
	e, err := c.openTokens(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	var exp time.Time
	if *expires > 0 {
		exp = time.Now().Add(*expires).UTC()
	}
	tok, err := mcphttp.IssueToken(ctx, e.st, rand.Reader, scopes, *label, exp)
	if err != nil {
		return err
	}
	if err := e.lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": "http_token_issued", "token_id": tok.ID, "scopes": scopes, "expires": exp}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "id: %s\ntoken: %s\n", tok.ID, tok.Token)
	fmt.Fprintln(c.stderr, "The token is shown once: put it in a file only the agent's MCP host can read (walletmcp connect --token-file).")
	return nil
}

func (c *cli) tokenList(ctx context.Context, args []string) error {
	fs := c.flags("token list")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	e, err := c.openTokens(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	toks, err := e.st.HTTPTokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCOPES\tEXPIRES\tSTATE\tLABEL")
	now := time.Now()
	for _, t := range toks {
		exp, state := "never", "active"
		if !t.ExpiresAt.IsZero() {
			exp = t.ExpiresAt.Format(time.RFC3339)
			if !now.Before(t.ExpiresAt) {
				state = "expired"
			}
		}
		if !t.RevokedAt.IsZero() {
			state = "revoked " + t.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, strings.Join(t.Scopes, ","), exp, state, printable(t.Label))
	}
	return tw.Flush()
}

func (c *cli) tokenRevoke(ctx context.Context, args []string) error {
	fs := c.flags("token revoke")
	id, err := c.parsePositional(fs, args, "give the token's ID (see walletmcp token list)")
	if err != nil {
		return err
	}
	e, err := c.openTokens(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.st.RevokeHTTPToken(ctx, id); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("token revoke: no token %q (see walletmcp token list)", safeWord(id))
	} else if err != nil {
		return err
	}
	if err := e.lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": "http_token_revoked", "token_id": id}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "revoked %s: a running server refuses it from its next request\n", id)
	return nil
}
