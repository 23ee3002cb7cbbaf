package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

// Intent is the canonical form of a transfer: what a verdict, an approval and
// a signature are bound to.
type Intent struct {
	ChainID uint64
	From    common.Address
	To      common.Address
	// Asset is NativeSymbol or the token contract address (lowercase hex).
	Asset string
	// Amount is in base units.
	Amount *big.Int
	// Decimals and Symbol describe the asset for display.
	Decimals int
	Symbol   string
	// Calldata is empty for ETH; transfer(to, amount) for a token.
	Calldata []byte
}

// Digest is SHA-256 over a length-prefixed encoding of chain id, from, to,
// asset, amount and calldata: equal digests mean the same transfer.
func (in *Intent) Digest() [32]byte {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte("walletmcp-intent-v1"))
	binary.BigEndian.PutUint64(b[:], in.ChainID)
	h.Write(b[:])
	h.Write(in.From[:])
	h.Write(in.To[:])
	writeField := func(p []byte) {
		binary.BigEndian.PutUint64(b[:], uint64(len(p)))
		h.Write(b[:])
		h.Write(p)
	}
	writeField([]byte(in.Asset))
	writeField(in.Amount.Bytes())
	writeField(in.Calldata)
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// Summary is the clear-signing view of a transfer, shown to agents and humans.
type Summary struct {
	ChainID uint64 `json:"chain_id"`
	From    string `json:"from"`
	To      string `json:"to"`
	// ToTail is the recipient's last 6 hex characters, highlighted in every human view.
	ToTail          string `json:"to_tail"`
	Amount          string `json:"amount"`
	AmountBaseUnits string `json:"amount_base_units"`
	Asset           string `json:"asset"`
	// MaxFee is gas limit × max fee per gas, in ETH.
	MaxFee string `json:"max_fee"`
	// Contract is the token contract, for tokens.
	Contract string `json:"contract,omitempty"`
}

// NewSummary builds the summary of in with the given maximum fee in wei.
func NewSummary(in *Intent, maxFeeWei *big.Int) Summary {
	to := in.To.Hex()
	s := Summary{
		ChainID:         in.ChainID,
		From:            in.From.Hex(),
		To:              to,
		ToTail:          to[len(to)-6:],
		Amount:          FormatAmount(in.Amount, in.Decimals),
		AmountBaseUnits: in.Amount.String(),
		Asset:           in.Symbol,
		MaxFee:          FormatAmount(maxFeeWei, NativeDecimals),
	}
	if in.Asset != NativeSymbol {
		s.Contract = common.HexToAddress(in.Asset).Hex()
	}
	return s
}

// Line renders the summary on one line for tool text and terminals.
func (s Summary) Line() string {
	line := "send " + s.Amount + " " + s.Asset + " from " + s.From + " to " + s.To + " (…" + s.ToTail + ")"
	if s.Contract != "" {
		line += " via token " + s.Contract
	}
	return line + ", chain " + big.NewInt(0).SetUint64(s.ChainID).String() + ", max fee " + s.MaxFee + " ETH"
}

// TokenAddress returns the token contract of an intent, or nil for ETH.
func (in *Intent) TokenAddress() *common.Address {
	if in.Asset == NativeSymbol {
		return nil
	}
	a := common.HexToAddress(in.Asset)
	return &a
}

// StoredSummary is the summary JSON a parked approval keeps: the
// clear-signing Summary (its fields inline, so that it decodes as a Summary)
// and the reasons the policy sent the transfer to a human, which the CLI and
// the approval page show.
type StoredSummary struct {
	Summary
	// Reasons are the rules whose verdict was approval_required.
	Reasons []Reason `json:"reasons,omitempty"`
}

// ApprovalReasons returns the reasons whose verdict is approval_required.
func ApprovalReasons(rs []Reason) []Reason {
	var out []Reason
	for _, r := range rs {
		if r.Verdict == ApprovalRequired.String() {
			out = append(out, r)
		}
	}
	return out
}
