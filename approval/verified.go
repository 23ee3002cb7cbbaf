package approval

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

// Errors of VerifyStored. Neither echoes the stored summary.
var (
	// ErrSummaryUnreadable: the stored summary does not decode.
	ErrSummaryUnreadable = errors.New("approval: the approval's summary is unreadable")
	// ErrSummaryMismatch: the stored summary, or the digest the approval is
	// bound to, does not describe the transfer the approval executes.
	ErrSummaryMismatch = errors.New("approval: the approval's summary does not match the transfer it approves")
)

// HumanView is a stored approval as a human is shown it (the CLI, the
// approval page): what VerifyStored returns once the summary was checked
// against the stored intent and its digest.
type HumanView struct {
	ID        string
	Status    approvalstate.Status
	ExpiresAt time.Time
	TxHash    *common.Hash // set once executed
	// Summary describes exactly the transfer the approval executes: its
	// chain, accounts, recipient tail, base units, contract and maximum fee
	// were re-derived from the stored intent. Asset (the token's symbol) is
	// display text from the chain; the contract is what identifies a token.
	Summary policy.Summary
	// Reasons are the rules that sent the transfer to a human, as stored
	// (policy text: sanitise before printing).
	Reasons []policy.Reason
}

// VerifyStored turns a stored approval into the view a human is shown. It
// re-derives the intent from the approval's columns (the ones the executor
// signs), checks it against the digest the approval is bound to, and checks
// every field of the stored summary that describes the transfer against that
// intent: what the human reads must be what is signed. Any difference is
// ErrSummaryMismatch and nothing of the summary is returned. It does not
// check the store's MACs (a.Verified): the caller decides whether it needs
// them.
func VerifyStored(a *store.Approval) (*HumanView, error) {
	var stored policy.StoredSummary
	if err := json.Unmarshal(a.Summary, &stored); err != nil {
		return nil, ErrSummaryUnreadable
	}
	if a.Amount == nil || a.Amount.Sign() < 0 {
		return nil, ErrSummaryMismatch
	}
	in := &policy.Intent{ChainID: a.ChainID, From: a.From, To: a.To, Asset: a.Asset, Amount: a.Amount}
	if a.Asset != policy.NativeSymbol {
		if !common.IsHexAddress(a.Asset) {
			return nil, ErrSummaryMismatch
		}
		if a.To != (common.Address{}) {
			cd, err := erc20.TransferCalldata(a.To, a.Amount)
			if err != nil {
				return nil, ErrSummaryMismatch
			}
			in.Calldata = cd
		}
	}
	if d := in.Digest(); !bytes.Equal(d[:], a.Digest) {
		return nil, ErrSummaryMismatch
	}
	if !summaryDescribes(&stored.Summary, in, a) {
		return nil, ErrSummaryMismatch
	}
	return &HumanView{
		ID: a.ID, Status: a.Status, ExpiresAt: a.ExpiresAt, TxHash: a.TxHash,
		Summary: stored.Summary, Reasons: stored.Reasons,
	}, nil
}

// summaryDescribes reports whether s describes in: the fields NewSummary
// derives from the intent are equal, the amount in the asset's units is the
// base units at some token scale (exactly ETH's for ETH), and the maximum fee
// is the one the executor caps the fee at.
func summaryDescribes(s *policy.Summary, in *policy.Intent, a *store.Approval) bool {
	to := in.To.Hex()
	contract := ""
	if tok := in.TokenAddress(); tok != nil {
		contract = tok.Hex()
	}
	if s.ChainID != in.ChainID || s.From != in.From.Hex() || s.To != to || s.ToTail != to[len(to)-6:] ||
		s.AmountBaseUnits != in.Amount.String() || s.Contract != contract {
		return false
	}
	if a.MaxFee != nil && s.MaxFee != policy.FormatAmount(a.MaxFee, policy.NativeDecimals) {
		return false
	}
	if contract == "" {
		return s.Asset == policy.NativeSymbol && s.Amount == policy.FormatAmount(in.Amount, policy.NativeDecimals)
	}
	for d := 0; d <= erc20.MaxDecimals; d++ {
		if s.Amount == policy.FormatAmount(in.Amount, d) {
			return true
		}
	}
	return false
}
