package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/approval/web"
	"github.com/walletmcp/walletmcp/policy"
)

// logParked logs each new pending approval on stderr, for a person watching
// the server: what it sends where, why it needs them, and where to decide.
// The page link carries the approval's link token, so it is logged only when
// stderr is a terminal (a person at it), never into a log file.
func logParked(logger *slog.Logger, showLink bool) func(string, policy.StoredSummary, string) {
	return func(id string, s policy.StoredSummary, url string) {
		var rules []string
		for _, r := range s.Reasons {
			rules = append(rules, r.Rule)
		}
		args := []any{"id", id, "amount", printable(s.Amount) + " " + printable(s.Asset), "to", "…" + printable(s.ToTail), "reasons", strings.Join(rules, ","), "cli", "walletmcp approve " + id}
		switch {
		case url != "" && showLink:
			args = append(args, "page", url)
		case url != "":
			args = append(args, "page", "the approval_url sent to the MCP client (not logged: it holds the link token)")
		}
		logger.Info("approval needed", args...)
	}
}

// pageDecider adapts the pending-approval service to the approval page.
type pageDecider struct {
	svc  *pending.Service
	kick func()
}

// CheckLink checks the link, then the approval's summary against what it
// executes (approval.VerifyStored): the page shows only a verified summary.
func (d pageDecider) CheckLink(ctx context.Context, id, token string) (*web.Approval, error) {
	a, err := d.svc.CheckLink(ctx, id, token)
	if err != nil {
		return nil, err
	}
	v, err := approval.VerifyStored(a)
	if err != nil {
		return nil, err
	}
	return web.ViewOf(v), nil
}

func (d pageDecider) Approve(ctx context.Context, id, code, channel string) error {
	if err := d.svc.Approve(ctx, id, code, channel); err != nil {
		return err
	}
	d.kick()
	return nil
}

func (d pageDecider) Reject(ctx context.Context, id, channel string) error {
	return d.svc.Reject(ctx, id, channel)
}
