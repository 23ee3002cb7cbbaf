package mcpserver

import "github.com/walletmcp/walletmcp/approval"

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

// PolicyView is the attested policy and what remains of each window now
// (get_policy).
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

// policyView renders p as get_policy output. Arrays are never null in output
// (their schema is a plain array).
func policyView(p *approval.PolicyInfo) PolicyView {
	v := PolicyView{
		PolicySHA256: p.PolicySHA256, ChainID: p.ChainID, Limits: []LimitsView{},
		Recipients: RecipientsView{Mode: p.Recipients.Mode, Allow: nonNil(p.Recipients.Allow), Deny: nonNil(p.Recipients.Deny),
			NewRecipientApproval: p.Recipients.NewRecipientApproval},
		MaxFeePerGasGwei: p.MaxFeePerGasGwei, MaxTotalFee: p.MaxTotalFee, QuietHours: p.QuietHours,
		UnknownTokensAllowed: p.UnknownTokensAllowed, ToolCallsPerMinute: p.ToolCallsPerMinute,
		TransfersPerHour: p.TransfersPerHour, TransfersLastHour: p.TransfersLastHour, Remaining: []RemainingView{},
	}
	for _, l := range p.Limits {
		v.Limits = append(v.Limits, LimitsView(l))
	}
	for _, r := range p.Remaining {
		v.Remaining = append(v.Remaining, RemainingView(r))
	}
	return v
}
