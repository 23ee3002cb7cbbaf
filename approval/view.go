package approval

import (
	"context"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/policy"
)

// LimitsInfo is one asset's limits as decimal strings in the asset's units.
type LimitsInfo struct {
	Asset                   string
	Contract                string
	Decimals                int
	AutoApproveMax          string
	PerTxMax                string
	BalanceFractionApproval string
	Window                  string
	WindowAutoMax           string
	WindowMax               string
}

// RemainingInfo is what one account may still spend of one asset in the
// current window.
type RemainingInfo struct {
	Address        string
	Asset          string
	WindowStart    string
	AutoUsed       string
	AutoRemaining  string
	TotalUsed      string
	TotalRemaining string
}

// RecipientsInfo is the recipient policy.
type RecipientsInfo struct {
	Mode                 string
	Allow                []string
	Deny                 []string
	NewRecipientApproval bool
}

// PolicyInfo is the attested policy and what remains of each window now,
// as plain data: mcpserver renders it as get_policy output.
type PolicyInfo struct {
	PolicySHA256         string
	ChainID              uint64
	Limits               []LimitsInfo
	Recipients           RecipientsInfo
	MaxFeePerGasGwei     string
	MaxTotalFee          string
	QuietHours           string
	UnknownTokensAllowed bool
	ToolCallsPerMinute   int
	TransfersPerHour     int
	TransfersLastHour    int
	Remaining            []RemainingInfo
}

func limitsInfo(asset, contract string, dec int, l *policy.Limits) LimitsInfo {
	return LimitsInfo{
		Asset: asset, Contract: contract, Decimals: dec,
		AutoApproveMax: policy.FormatAmount(l.AutoApproveMax, dec), PerTxMax: policy.FormatAmount(l.PerTxMax, dec),
		BalanceFractionApproval: l.BalanceFractionApproval.FloatString(6), Window: l.Window.String(),
		WindowAutoMax: policy.FormatAmount(l.WindowAutoMax, dec), WindowMax: policy.FormatAmount(l.WindowMax, dec),
	}
}

// PolicyInfo returns the policy's limits and, for each of addrs, what remains
// in each window now.
func (g *Guard) PolicyInfo(ctx context.Context, addrs []common.Address) (*PolicyInfo, error) {
	if err := g.catchUp(ctx); err != nil {
		return nil, err
	}
	p := g.cfg.Policy
	v := &PolicyInfo{
		PolicySHA256: p.SHA256, ChainID: p.ChainID,
		Recipients:         RecipientsInfo{Mode: p.Recipients.Mode, Allow: []string{}, Deny: []string{}, NewRecipientApproval: p.Recipients.NewRecipientApproval},
		MaxFeePerGasGwei:   policy.FormatAmount(p.MaxFeePerGas, 9),
		ToolCallsPerMinute: p.ToolCallsPerMinute, TransfersPerHour: p.TransfersPerHour,
		TransfersLastHour: g.ledger.CountSince(g.now().Add(-time.Hour)), Remaining: []RemainingInfo{},
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
		v.Limits = append(v.Limits, limitsInfo(a.symbol, a.contract, a.dec, a.lim))
		start := now.Add(-a.lim.Window)
		for _, addr := range addrs {
			auto, total := g.ledger.Sums(addr, a.key, a.lim.Window, now)
			v.Remaining = append(v.Remaining, RemainingInfo{
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
