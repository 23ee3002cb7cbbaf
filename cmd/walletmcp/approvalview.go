package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/ethereum/go-ethereum/common"
	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/store"
	"golang.org/x/term"
)

// printApproval shows an approval as the human must check it: the recipient
// with its last six hex characters highlighted, the amount in the asset's
// units and in base units, the maximum fee and, for a token, the contract.
// The intent comes from the stored columns; the summary's display fields
// (amount, symbol, fee) are shown only once approval.VerifyStored checked
// them against the intent, stripped of anything unprintable.
func (c *cli) printApproval(a *store.Approval, now time.Time) {
	w := c.stdout
	v, verr := approval.VerifyStored(a)
	// Every string from state.db is shown through printable: the listing
	// reads rows without the state key, and anything that can write the
	// file could put terminal control sequences in them.
	fmt.Fprintf(w, "approval %s  %s", printable(a.ID), printable(string(a.Status)))
	switch a.Status {
	case approvalstate.Pending:
		fmt.Fprintf(w, ", expires %s (in %s)\n", a.ExpiresAt.Format(time.RFC3339), a.ExpiresAt.Sub(now).Round(time.Second))
	default:
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  chain     %d\n", a.ChainID)
	fmt.Fprintf(w, "  from      %s\n", a.From.Hex())
	fmt.Fprintf(w, "  to        %s\n", highlightTail(a.To, isTerminal(w)))
	if verr == nil {
		s := v.Summary
		fmt.Fprintf(w, "  amount    %s %s (%s base units)\n", printable(s.Amount), printable(s.Asset), a.Amount)
		fmt.Fprintf(w, "  max fee   %s ETH\n", printable(s.MaxFee))
	} else {
		fmt.Fprintf(w, "  amount    %s base units of %s\n", a.Amount, printable(a.Asset))
	}
	if a.Asset != store.AssetETH {
		fmt.Fprintf(w, "  contract  %s\n", common.HexToAddress(a.Asset).Hex())
	}
	if verr == nil {
		for i, r := range v.Reasons {
			label := ""
			if i == 0 {
				label = "why you"
			}
			fmt.Fprintf(w, "  %-9s %s: %s\n", label, printable(r.Rule), printableLong(r.Message))
		}
	} else {
		fmt.Fprintf(w, "  WARNING   %v\n", strings.TrimPrefix(verr.Error(), "approval: "))
	}
}

// highlightTail renders addr (EIP-55) with its last six hex characters in
// brackets and, on a terminal, in bold reverse video.
func highlightTail(addr common.Address, tty bool) string {
	hex := addr.Hex()
	head, tail := hex[:len(hex)-6], hex[len(hex)-6:]
	if tty {
		tail = "\x1b[1;7m" + tail + "\x1b[0m"
	}
	return head + "[" + tail + "]"
}

// printable keeps at most 64 printable ASCII characters of s: summary fields
// may carry text from the chain or the policy, and must not drive the terminal.
func printable(s string) string {
	out := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
	if len(out) > 64 {
		out = out[:64] + "…"
	}
	return out
}

// printableLong is printable for a sentence: at most 300 characters.
func printableLong(s string) string {
	out := strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	if r := []rune(out); len(r) > 300 {
		out = string(r[:300]) + "…"
	}
	return out
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
