package main

import (
	"fmt"
	"io"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer/offline"
)

// highlight marks an address's last six characters: reverse video on a
// terminal, brackets elsewhere.
func highlight(a common.Address, tty bool) string {
	h := a.Hex()
	head, tail := h[:len(h)-6], h[len(h)-6:]
	if tty {
		return head + "\x1b[1;7m" + tail + "\x1b[0m"
	}
	return head + "[" + tail + "]"
}

func eth(wei *big.Int) string { return policy.FormatAmount(wei, 18) + " ETH" }

func gwei(wei *big.Int) string { return policy.FormatAmount(wei, 9) + " gwei" }

// showSummary writes what the transaction does.
func showSummary(w io.Writer, s *offline.TxSummary, tty bool) {
	fmt.Fprintln(w, "Transaction to sign:")
	fmt.Fprintf(w, "  chain      %d\n", s.ChainID)
	if s.From != nil {
		fmt.Fprintf(w, "  from       %s\n", s.From.Hex())
	} else {
		fmt.Fprintf(w, "  from       (not named by the request)\n")
	}
	fmt.Fprintf(w, "  to         %s\n", highlight(s.To, tty))
	if s.Token != nil {
		fmt.Fprintf(w, "  amount     %s base units of the ERC-20 token at %s\n", s.Amount, s.Token.Hex())
		fmt.Fprintf(w, "             (a token's decimals are not known offline: check the amount in base units)\n")
		if s.Value.Sign() != 0 {
			fmt.Fprintf(w, "  WARNING    the transaction also sends %s to the token contract\n", eth(s.Value))
		}
	} else {
		fmt.Fprintf(w, "  amount     %s\n", eth(s.Amount))
	}
	if s.OtherCall {
		fmt.Fprintf(w, "  WARNING    the transaction calls a contract with data airsign cannot decode\n")
	}
	fmt.Fprintf(w, "  max fee    %s (%d gas at most %s; tip %s)\n", eth(s.MaxFee), s.Gas, gwei(s.MaxFeePerGas), gwei(s.MaxPriorityFeePerGas))
	fmt.Fprintf(w, "  nonce      %d\n", s.Nonce)
}
