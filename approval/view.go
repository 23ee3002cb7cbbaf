package approval

import (
	"context"
	"slices"
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

// policyStatic is the part of PolicyInfo that depends on the policy alone,
// rendered once per Guard (the policy is attested at start and never
// changes while the Guard runs).
type policyStatic struct {
	info   PolicyInfo // without TransfersLastHour and Remaining
	assets []viewAsset
}

// viewAsset is one asset of the policy as PolicyInfo reports it.
type viewAsset struct {
	key, symbol string
	dec         int
	lim         *policy.Limits
}

func newPolicyStatic(p *policy.Policy) *policyStatic {
	v := PolicyInfo{
		PolicySHA256: p.SHA256, ChainID: p.ChainID,
		Recipients:         RecipientsInfo{Mode: p.Recipients.Mode, Allow: []string{}, Deny: []string{}, NewRecipientApproval: p.Recipients.NewRecipientApproval},
		MaxFeePerGasGwei:   policy.FormatAmount(p.MaxFeePerGas, 9),
		ToolCallsPerMinute: p.ToolCallsPerMinute, TransfersPerHour: p.TransfersPerHour,
		MaxTotalFee: policy.FormatAmount(p.MaxTotalFee, policy.NativeDecimals), QuietHours: quietView(&p.QuietHours), UnknownTokensAllowed: p.UnknownTokens.Allow,
	}
	for _, a := range policy.SortedAddresses(p.Recipients.Allow) {
		v.Recipients.Allow = append(v.Recipients.Allow, a.Hex())
	}
	for _, a := range policy.SortedAddresses(p.Recipients.Deny) {
		v.Recipients.Deny = append(v.Recipients.Deny, a.Hex())
	}
	assets := []viewAsset{{policy.NativeSymbol, policy.NativeSymbol, policy.NativeDecimals, &p.Native}}
	v.Limits = []LimitsInfo{limitsInfo(policy.NativeSymbol, "", policy.NativeDecimals, &p.Native)}
	for i := range p.Tokens {
		t := &p.Tokens[i]
		assets = append(assets, viewAsset{lowerHex(t.Address), t.Symbol, t.Decimals, &t.Limits})
		v.Limits = append(v.Limits, limitsInfo(t.Symbol, t.Address.Hex(), t.Decimals, &t.Limits))
	}
	return &policyStatic{info: v, assets: assets}
}

// PolicyInfo returns the policy's limits and, for each of addrs, what remains
// in each window now.
func (g *Guard) PolicyInfo(ctx context.Context, addrs []common.Address) (*PolicyInfo, error) {
	if err := g.catchUp(ctx); err != nil {
		return nil, err
	}
	st := g.static()
	// A copy: the caller owns what it gets, the cached slices stay as built.
	v := st.info
	v.Limits = slices.Clone(st.info.Limits)
	v.Recipients.Allow = slices.Clone(st.info.Recipients.Allow)
	v.Recipients.Deny = slices.Clone(st.info.Recipients.Deny)
	now := g.now()
	v.TransfersLastHour = g.ledger.CountSince(now.Add(-time.Hour))
	v.Remaining = make([]RemainingInfo, 0, len(st.assets)*len(addrs))
	for _, a := range st.assets {
		start := now.Add(-a.lim.Window).UTC().Format(time.RFC3339)
		for _, addr := range addrs {
			auto, total := g.ledger.Sums(addr, a.key, a.lim.Window, now)
			v.Remaining = append(v.Remaining, RemainingInfo{
				Address: addr.Hex(), Asset: a.symbol, WindowStart: start,
				AutoUsed: policy.FormatAmount(auto, a.dec), AutoRemaining: policy.FormatAmount(policy.Remaining(a.lim.WindowAutoMax, auto), a.dec),
				TotalUsed: policy.FormatAmount(total, a.dec), TotalRemaining: policy.FormatAmount(policy.Remaining(a.lim.WindowMax, total), a.dec),
			})
		}
	}
	return &v, nil
}

// static returns the policy's rendering, built on first use.
func (g *Guard) static() *policyStatic {
	g.staticOnce.Do(func() { g.staticInfo = newPolicyStatic(g.cfg.Policy) })
	return g.staticInfo
}

func lowerHex(a common.Address) string { return strings.ToLower(a.Hex()) }

func quietView(q *policy.QuietHours) string {
	if !q.Enabled {
		return "off"
	}
	return q.String()
}
