package approval

import (
	"context"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/policy"
)

// LimitsView is one asset's limits as decimal strings in the asset's units.
type LimitsView struct {
	Asset                   string `json:"asset"`
	Contract                string `json:"contract,omitempty"`
	Decimals                int    `json:"decimals"`
	AutoApproveMax          string `json:"auto_approve_max"`
	PerTxMax                string `json:"per_tx_max"`
	BalanceFractionApproval string `json:"balance_fraction_approval"`
	Window                  string `json:"window"`
	WindowAutoMax           string `json:"window_auto_max"`
	WindowMax               string `json:"window_max"`
}

// RemainingView is what one account may still spend of one asset in the
// current window.
type RemainingView struct {
	Address        string `json:"address"`
	Asset          string `json:"asset"`
	WindowStart    string `json:"window_start"`
	AutoUsed       string `json:"auto_used"`
	AutoRemaining  string `json:"auto_remaining"`
	TotalUsed      string `json:"total_used"`
	TotalRemaining string `json:"total_remaining"`
}

// RecipientsView is the recipient policy.
type RecipientsView struct {
	Mode                 string   `json:"mode"`
	Allow                []string `json:"allow"`
	Deny                 []string `json:"deny"`
	NewRecipientApproval bool     `json:"new_recipient_approval"`
}

// PolicyView is the attested policy and what remains of each window now.
type PolicyView struct {
	PolicySHA256         string          `json:"policy_sha256"`
	ChainID              uint64          `json:"chain_id"`
	Limits               []LimitsView    `json:"limits"`
	Recipients           RecipientsView  `json:"recipients"`
	MaxFeePerGasGwei     string          `json:"max_fee_per_gas_gwei"`
	MaxTotalFee          string          `json:"max_total_fee" jsonschema:"ETH"`
	QuietHours           string          `json:"quiet_hours" jsonschema:"off, or the daily window and time zone in which auto-approval needs a human"`
	UnknownTokensAllowed bool            `json:"unknown_tokens_allowed"`
	ToolCallsPerMinute   int             `json:"tool_calls_per_minute"`
	TransfersPerHour     int             `json:"transfers_per_hour"`
	TransfersLastHour    int             `json:"transfers_last_hour"`
	Remaining            []RemainingView `json:"remaining"`
}

func limitsView(asset, contract string, dec int, l *policy.Limits) LimitsView {
	return LimitsView{
		Asset: asset, Contract: contract, Decimals: dec,
		AutoApproveMax: policy.FormatAmount(l.AutoApproveMax, dec), PerTxMax: policy.FormatAmount(l.PerTxMax, dec),
		BalanceFractionApproval: l.BalanceFractionApproval.FloatString(6), Window: l.Window.String(),
		WindowAutoMax: policy.FormatAmount(l.WindowAutoMax, dec), WindowMax: policy.FormatAmount(l.WindowMax, dec),
	}
}

// PolicyView returns the policy's limits and, for each of addrs, what remains
// in each window now.
func (g *Guard) PolicyView(ctx context.Context, addrs []common.Address) (*PolicyView, error) {
	if err := g.catchUp(ctx); err != nil {
		return nil, err
	}
	p := g.cfg.Policy
	v := &PolicyView{
		PolicySHA256: p.SHA256, ChainID: p.ChainID,
		Recipients:         RecipientsView{Mode: p.Recipients.Mode, Allow: []string{}, Deny: []string{}, NewRecipientApproval: p.Recipients.NewRecipientApproval},
		MaxFeePerGasGwei:   policy.FormatAmount(p.MaxFeePerGas, 9),
		ToolCallsPerMinute: p.ToolCallsPerMinute, TransfersPerHour: p.TransfersPerHour,
		TransfersLastHour: g.ledger.CountSince(g.now().Add(-time.Hour)), Remaining: []RemainingView{},
		MaxTotalFee: policy.FormatAmount(p.MaxTotalFee, policy.NativeDecimals), QuietHours: quietView(&p.QuietHours), UnknownTokensAllowed: p.UnknownTokens.Allow,
	}
	for _, a := range policy.SortedAddresses(p.Recipients.Allow) {
		v.Recipients.Allow = append(v.Recipients.Allow, a.Hex())
	}
	for _, a := range policy.SortedAddresses(p.Recipients.Deny) {
		v.Recipients.Deny = append(v.Recipients.Deny, a.Hex())
	}
	type asset struct {
		key, symbol, contract string
		dec                   int
		lim                   *policy.Limits
	}
	assets := []asset{{policy.NativeSymbol, policy.NativeSymbol, "", policy.NativeDecimals, &p.Native}}
	for i := range p.Tokens {
		t := &p.Tokens[i]
		assets = append(assets, asset{lowerHex(t.Address), t.Symbol, t.Address.Hex(), t.Decimals, &t.Limits})
	}
	now := g.now()
	for _, a := range assets {
		v.Limits = append(v.Limits, limitsView(a.symbol, a.contract, a.dec, a.lim))
		start := now.Add(-a.lim.Window)
		for _, addr := range addrs {
			auto, total := g.ledger.Sums(addr, a.key, a.lim.Window, now)
			v.Remaining = append(v.Remaining, RemainingView{
				Address: addr.Hex(), Asset: a.symbol, WindowStart: start.UTC().Format(time.RFC3339),
				AutoUsed: policy.FormatAmount(auto, a.dec), AutoRemaining: policy.FormatAmount(policy.Remaining(a.lim.WindowAutoMax, auto), a.dec),
				TotalUsed: policy.FormatAmount(total, a.dec), TotalRemaining: policy.FormatAmount(policy.Remaining(a.lim.WindowMax, total), a.dec),
			})
		}
	}
	return v, nil
}

func lowerHex(a common.Address) string { return strings.ToLower(a.Hex()) }

func quietView(q *policy.QuietHours) string {
	if !q.Enabled {
		return "off"
	}
	return q.String()
}
