package policy

import (
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Verdict is the outcome of policy evaluation. The zero value is Deny.
type Verdict int

// Verdicts, from strictest to most permissive.
const (
	Deny Verdict = iota
	ApprovalRequired
	Allow
)

// String renders the verdict as in the MCP contract.
func (v Verdict) String() string {
	switch v {
	case Allow:
		return "allow"
	case ApprovalRequired:
		return "approval_required"
	default:
		return "deny"
	}
}

// Reason is one rule's contribution to a verdict.
type Reason struct {
	// Rule names the policy key or check ("per_tx_max", "recipient_zero", …).
	Rule string `json:"rule"`
	// Verdict is what this rule alone says.
	Verdict string `json:"verdict"`
	// Message explains it in a sentence.
	Message string `json:"message"`
}

// Decision is a verdict with every reason and the transfer's summary.
type Decision struct {
	Verdict Verdict
	Reasons []Reason
	Summary Summary
	// RateLimited is set when the only denying rules are rate limits.
	RateLimited bool
}

// Facts are what evaluation needs beyond the policy and the intent, gathered
// by the Guard before it evaluates. Every pointer is required: a nil one is
// a missing fact and denies. So does a zero Now, a negative amount, and an
// ETH transfer whose recipient's code was not checked.
type Facts struct {
	// Now is the time of the decision (quiet hours are read from it).
	Now time.Time
	// NativeBalance is the sender's ETH balance (wei).
	NativeBalance *big.Int
	// MaxFeePerGas is the fee per gas the transaction would carry (wei).
	MaxFeePerGas *big.Int
	// MaxFee is gas limit × MaxFeePerGas (wei).
	MaxFee *big.Int
	// TransfersLastHour counts transfers signed in the hour before Now.
	TransfersLastHour int

	// AssetBalance is the sender's current token balance (token base units)
	// for a token transfer; nil denies. For ETH it is not read: the balance
	// is NativeBalance.
	AssetBalance *big.Int
	// WindowAuto is the sum of the sender's auto-approved spends of this
	// asset in the rolling window (at or after Now − Limits.Window), before
	// this transfer: Ledger.Sums.
	WindowAuto *big.Int
	// WindowTotal is the sum of all the sender's spends (auto-approved and
	// approved by a human) of this asset in the same window, before this
	// transfer. It is at least WindowAuto.
	WindowTotal *big.Int
	// PaidBefore reports that the sender has a transfer to this recipient
	// that did not fail, in any asset (Ledger.PaidBefore). False, the zero
	// value, makes it a new recipient.
	PaidBefore bool
	// RecipientHasCode reports that the recipient has contract code (an
	// EIP-7702 delegation counts) in the latest block.
	RecipientHasCode bool
	// RecipientCodeChecked reports that RecipientHasCode was read from the
	// chain. An ETH transfer without it denies (a missing fact).
	RecipientCodeChecked bool
	// Frozen reports that a severe anomaly froze the sender's automatic
	// approval: what would be allowed needs a human.
	Frozen bool
}

// The precompiled contracts an ordinary transfer must never be sent to: the
// addresses 0x…01 to 0x…11 and 0x…0100. Value sent there is lost.
//
//	0x01–0x04  ECRECOVER, SHA256, RIPEMD160, IDENTITY (Yellow Paper, Frontier)
//	0x05       MODEXP (EIP-198)
//	0x06–0x08  BN254 ADD, MUL, PAIRING (EIP-196, EIP-197)
//	0x09       BLAKE2F (EIP-152)
//	0x0a       KZG POINT_EVALUATION (EIP-4844)
//	0x0b–0x11  BLS12-381 G1ADD … MAP_FP2_TO_G2 (EIP-2537)
//	0x0100     P256VERIFY (EIP-7951, after RIP-7212)
const (
	firstPrecompile      = 0x01
	lastPrecompile       = 0x11
	p256VerifyPrecompile = 0x0100
)

// IsPrecompile reports whether a is one of the precompiled contracts above.
func IsPrecompile(a common.Address) bool {
	for _, b := range a[:common.AddressLength-2] {
		if b != 0 {
			return false
		}
	}
	v := int(a[common.AddressLength-2])<<8 | int(a[common.AddressLength-1])
	return v >= firstPrecompile && v <= lastPrecompile || v == p256VerifyPrecompile
}

// Rule names of the checks that are not policy keys.
const (
	RuleInternal          = "internal"
	RuleChainID           = "chain_id"
	RuleAsset             = "asset"
	RuleUnknownTokens     = "unknown_tokens"
	RuleRecipientZero     = "recipient_zero"
	RuleRecipientSelf     = "recipient_self"
	RuleRecipientPrecomp  = "recipient_precompile"
	RuleRecipientToken    = "recipient_token_contract"
	RuleRecipientCode     = "recipient_code"
	RuleRecipientsDeny    = "recipients.deny"
	RuleRecipientsAllow   = "recipients.allow"
	RuleNewRecipient      = "new_recipient_approval"
	RuleMaxFeePerGas      = "max_fee_per_gas_gwei"
	RuleMaxTotalFee       = "max_total_fee"
	RuleBalance           = "balance"
	RulePerTxMax          = "per_tx_max"
	RuleWindowMax         = "window_max"
	RuleTransfersPerHour  = "transfers_per_hour"
	RuleAutoApproveMax    = "auto_approve_max"
	RuleBalanceFraction   = "balance_fraction_approval"
	RuleWindowAutoMax     = "window_auto_max"
	RuleQuietHours        = "quiet_hours"
	missingFactsMsgPrefix = "policy evaluation is missing facts"
)

// Evaluate applies the policy to one intent under the given facts and returns
// the strictest verdict (deny beats approval beats allow) with every reason:
// all denying and approval reasons, and, when the verdict is allow, the
// reasons it was allowed. It is a pure function: the same inputs always give
// the same decision. Missing facts deny. lim must be p.LimitsFor(in).
func Evaluate(p *Policy, in *Intent, lim *Limits, f *Facts) Decision {
	var d Decision
	if missing := missingFacts(p, in, lim, f); len(missing) > 0 {
		d.Reasons = []Reason{{Rule: RuleInternal, Verdict: Deny.String(), Message: missingFactsMsgPrefix + ": " + strings.Join(missing, ", ")}}
		return d
	}
	e := evaluation{p: p, in: in, lim: lim, f: f, verdict: Allow}
	// A token's symbol comes from its contract: keep it short and printable.
	if sym := Sanitize(in.Symbol, 16); sym != "" {
		e.unit = " " + sym
	} else {
		e.unit = " units"
	}
	e.amount, e.to = e.amt(in.Amount), in.To.Hex()
	e.checkChainAndAsset()
	e.checkRecipient()
	e.checkFees()
	e.checkBalance()
	e.checkAmount()
	e.checkRate()
	e.checkApproval()
	d.Verdict = e.verdict
	for _, r := range e.reasons {
		if r.Verdict != Allow.String() || e.verdict == Allow {
			d.Reasons = append(d.Reasons, r)
		}
	}
	d.RateLimited = e.denyRate && !e.denyOther
	return d
}

// missingFacts lists what evaluation cannot do without.
func missingFacts(p *Policy, in *Intent, lim *Limits, f *Facts) []string {
	if p == nil || in == nil || lim == nil || f == nil {
		return []string{"policy, intent, limits or facts"}
	}
	var m []string
	bad := func(name string, v *big.Int) {
		if v == nil || v.Sign() < 0 {
			m = append(m, name)
		}
	}
	if in.Amount == nil || in.Amount.Sign() <= 0 {
		m = append(m, "amount")
	}
	if p.MaxFeePerGas == nil || p.MaxTotalFee == nil {
		m = append(m, "policy fee caps")
	}
	if lim.AutoApproveMax == nil || lim.PerTxMax == nil || lim.WindowAutoMax == nil || lim.WindowMax == nil ||
		lim.BalanceFractionApproval == nil || lim.BalanceFractionApproval.Sign() <= 0 || lim.Window <= 0 {
		m = append(m, "limits")
	}
	if f.Now.IsZero() {
		m = append(m, "Now")
	}
	bad("NativeBalance", f.NativeBalance)
	bad("MaxFeePerGas", f.MaxFeePerGas)
	bad("MaxFee", f.MaxFee)
	bad("WindowAuto", f.WindowAuto)
	bad("WindowTotal", f.WindowTotal)
	if f.WindowAuto != nil && f.WindowTotal != nil && f.WindowAuto.Cmp(f.WindowTotal) > 0 {
		m = append(m, "WindowTotal below WindowAuto")
	}
	if f.TransfersLastHour < 0 {
		m = append(m, "TransfersLastHour")
	}
	if in.Asset == NativeSymbol {
		if !f.RecipientCodeChecked {
			m = append(m, "RecipientCodeChecked")
		}
	} else {
		bad("AssetBalance", f.AssetBalance)
	}
	return m
}

// evaluation is the state of one Evaluate call.
type evaluation struct {
	p       *Policy
	in      *Intent
	lim     *Limits
	f       *Facts
	unit    string
	amount  string // in.Amount with its unit
	to      string // in.To, EIP-55
	verdict Verdict
	reasons []Reason
	// denyRate and denyOther tell a rate limit from other denials.
	denyRate, denyOther bool
}

func (e *evaluation) add(rule string, v Verdict, msg string) {
	e.reasons = append(e.reasons, Reason{Rule: rule, Verdict: v.String(), Message: msg})
	if v < e.verdict {
		e.verdict = v
	}
	if v == Deny {
		if rule == RuleTransfersPerHour {
			e.denyRate = true
		} else {
			e.denyOther = true
		}
	}
}

// amt renders base units of the asset sent with its symbol.
func (e *evaluation) amt(v *big.Int) string { return FormatAmount(v, e.in.Decimals) + e.unit }

func ethAmt(v *big.Int) string { return FormatAmount(v, NativeDecimals) + " ETH" }

func (e *evaluation) checkChainAndAsset() {
	p, in := e.p, e.in
	if in.ChainID != p.ChainID {
		e.add(RuleChainID, Deny, "the transfer is for chain "+u64(in.ChainID)+" but the policy allows only chain "+u64(p.ChainID))
	}
	if in.Asset == NativeSymbol {
		if in.Decimals != NativeDecimals {
			e.add(RuleAsset, Deny, "ETH has "+itoa(NativeDecimals)+" decimals, not "+itoa(in.Decimals))
		}
		return
	}
	addr, ok := ParseTokenAsset(in.Asset)
	if !ok {
		e.add(RuleAsset, Deny, "the asset is neither ETH nor a token contract address")
		return
	}
	if t, ok := p.TokenByAddress(addr); ok {
		if in.Decimals != t.Decimals {
			e.add(RuleAsset, Deny, "the token "+addr.Hex()+" reports "+itoa(in.Decimals)+" decimals but the policy configures "+itoa(t.Decimals))
		}
		return
	}
	if !p.UnknownTokens.Allow {
		e.add(RuleUnknownTokens, Deny, "the token "+addr.Hex()+" is not configured in the policy and [unknown_tokens] allow is false")
		return
	}
	if in.Decimals < 0 || in.Decimals > UnknownTokenScale {
		e.add(RuleAsset, Deny, "the token "+addr.Hex()+" reports "+itoa(in.Decimals)+" decimals; the policy accepts 0 to "+itoa(UnknownTokenScale))
	}
}

func (e *evaluation) checkRecipient() {
	p, in, f, to := e.p, e.in, e.f, e.to
	if in.To == (common.Address{}) {
		e.add(RuleRecipientZero, Deny, "the recipient is the zero address (funds would be burned)")
	} else if IsPrecompile(in.To) {
		e.add(RuleRecipientPrecomp, Deny, "the recipient "+to+" is a precompiled contract (funds would be lost)")
	}
	if in.To == in.From {
		e.add(RuleRecipientSelf, Deny, "the recipient is the sender itself")
	}
	if in.Asset != NativeSymbol {
		if addr, ok := ParseTokenAsset(in.Asset); ok && addr == in.To {
			e.add(RuleRecipientToken, Deny, "the recipient "+to+" is the token contract itself (tokens sent there are usually lost)")
		}
	}
	if p.Recipients.Deny[in.To] {
		e.add(RuleRecipientsDeny, Deny, "the recipient "+to+" is in recipients.deny")
	}
	allowed := p.Recipients.Allow[in.To]
	switch {
	case p.Recipients.Mode != "any" && !allowed:
		e.add(RuleRecipientsAllow, Deny, "recipients.mode is \""+p.Recipients.Mode+"\" and the recipient "+to+" is not in recipients.allow")
	case p.Recipients.Mode != "any":
		e.add(RuleRecipientsAllow, Allow, "the recipient "+to+" is in recipients.allow")
	}
	if in.Asset == NativeSymbol && f.RecipientHasCode {
		if allowed {
			e.add(RuleRecipientCode, Allow, "the recipient "+to+" is a contract and is in recipients.allow")
		} else {
			e.add(RuleRecipientCode, Deny, "the recipient "+to+" is a contract; ETH is sent to a contract only when it is in recipients.allow")
		}
	}
}

func (e *evaluation) checkFees() {
	p, f := e.p, e.f
	if f.MaxFeePerGas.Cmp(p.MaxFeePerGas) > 0 {
		e.add(RuleMaxFeePerGas, Deny, "the network fee per gas ("+FormatAmount(f.MaxFeePerGas, 9)+" gwei) is above max_fee_per_gas_gwei ("+FormatAmount(p.MaxFeePerGas, 9)+")")
	}
	if f.MaxFee.Cmp(p.MaxTotalFee) > 0 {
		e.add(RuleMaxTotalFee, Deny, "the maximum network fee (gas limit × max fee per gas = "+ethAmt(f.MaxFee)+") is above max_total_fee ("+ethAmt(p.MaxTotalFee)+")")
	}
}

func (e *evaluation) checkBalance() {
	in, f := e.in, e.f
	if in.Asset == NativeSymbol {
		need := new(big.Int).Add(f.MaxFee, in.Amount)
		if f.NativeBalance.Cmp(need) < 0 {
			e.add(RuleBalance, Deny, "the ETH balance ("+FormatAmount(f.NativeBalance, NativeDecimals)+") does not cover amount plus maximum fee ("+FormatAmount(need, NativeDecimals)+"); short by "+ethAmt(new(big.Int).Sub(need, f.NativeBalance)))
		}
		return
	}
	if f.AssetBalance.Cmp(in.Amount) < 0 {
		e.add(RuleBalance, Deny, "the token balance ("+e.amt(f.AssetBalance)+") does not cover the amount ("+e.amount+")")
	}
	if f.NativeBalance.Cmp(f.MaxFee) < 0 {
		e.add(RuleBalance, Deny, "the ETH balance ("+ethAmt(f.NativeBalance)+") does not cover the maximum fee ("+ethAmt(f.MaxFee)+")")
	}
}

// checkAmount applies the per-transfer and window limits.
func (e *evaluation) checkAmount() {
	in, lim, f := e.in, e.lim, e.f
	if in.Amount.Cmp(lim.PerTxMax) > 0 {
		e.add(RulePerTxMax, Deny, "amount "+e.amount+" is above per_tx_max ("+e.amt(lim.PerTxMax)+"), even with approval")
	} else {
		e.add(RulePerTxMax, Allow, "amount "+e.amount+" is within per_tx_max ("+e.amt(lim.PerTxMax)+")")
	}
	win := fmtWindow(lim.Window)
	total := new(big.Int).Add(f.WindowTotal, in.Amount)
	if total.Cmp(lim.WindowMax) > 0 {
		e.add(RuleWindowMax, Deny, "the total in the "+win+" window would be "+e.amt(total)+" (already "+e.amt(f.WindowTotal)+" plus this "+e.amount+"), above window_max ("+e.amt(lim.WindowMax)+"); remaining "+e.amt(Remaining(lim.WindowMax, f.WindowTotal)))
	} else {
		e.add(RuleWindowMax, Allow, "the total in the "+win+" window would be "+e.amt(total)+" of window_max ("+e.amt(lim.WindowMax)+"); remaining after this "+e.amt(Remaining(lim.WindowMax, total)))
	}
}

func (e *evaluation) checkRate() {
	p, f := e.p, e.f
	if f.TransfersLastHour >= p.TransfersPerHour {
		e.add(RuleTransfersPerHour, Deny, "rate limit: "+itoa(p.TransfersPerHour)+" transfers per hour reached ("+itoa(f.TransfersLastHour)+" in the last hour)")
	}
}

// checkApproval applies the rules that turn auto-approval into approval.
func (e *evaluation) checkApproval() {
	p, in, lim, f := e.p, e.in, e.lim, e.f
	if in.Amount.Cmp(lim.AutoApproveMax) > 0 {
		e.add(RuleAutoApproveMax, ApprovalRequired, "amount "+e.amount+" is above auto_approve_max ("+e.amt(lim.AutoApproveMax)+"): needs human approval")
	} else {
		e.add(RuleAutoApproveMax, Allow, "amount "+e.amount+" is within auto_approve_max ("+e.amt(lim.AutoApproveMax)+")")
	}

	// amount > fraction × balance, exactly: amount × den > num × balance.
	bal := f.AssetBalance
	if in.Asset == NativeSymbol {
		bal = f.NativeBalance
	}
	frac := lim.BalanceFractionApproval
	lhs := new(big.Int).Mul(in.Amount, frac.Denom())
	rhs := new(big.Int).Mul(frac.Num(), bal)
	share := new(big.Int).Quo(rhs, frac.Denom())
	fs := strings.TrimRight(strings.TrimRight(frac.FloatString(6), "0"), ".")
	if lhs.Cmp(rhs) > 0 {
		e.add(RuleBalanceFraction, ApprovalRequired, "amount "+e.amount+" is above balance_fraction_approval ("+fs+" of the current balance "+e.amt(bal)+" = "+e.amt(share)+"): needs human approval")
	} else {
		e.add(RuleBalanceFraction, Allow, "amount "+e.amount+" is within balance_fraction_approval ("+fs+" of the current balance "+e.amt(bal)+" = "+e.amt(share)+")")
	}

	win := fmtWindow(lim.Window)
	auto := new(big.Int).Add(f.WindowAuto, in.Amount)
	if auto.Cmp(lim.WindowAutoMax) > 0 {
		e.add(RuleWindowAutoMax, ApprovalRequired, "the auto-approved total in the "+win+" window would be "+e.amt(auto)+" (already "+e.amt(f.WindowAuto)+" plus this "+e.amount+"), above window_auto_max ("+e.amt(lim.WindowAutoMax)+"); remaining "+e.amt(Remaining(lim.WindowAutoMax, f.WindowAuto))+": needs human approval")
	} else {
		e.add(RuleWindowAutoMax, Allow, "the auto-approved total in the "+win+" window would be "+e.amt(auto)+" of window_auto_max ("+e.amt(lim.WindowAutoMax)+"); remaining after this "+e.amt(Remaining(lim.WindowAutoMax, auto)))
	}

	to := e.to
	switch {
	case !p.Recipients.NewRecipientApproval:
	case f.PaidBefore:
		e.add(RuleNewRecipient, Allow, "the sender has paid "+to+" before")
	default:
		e.add(RuleNewRecipient, ApprovalRequired, "the sender has never paid "+to+": a first transfer to a new recipient needs human approval")
	}

	if f.Frozen {
		e.add(RuleAccountFrozen, ApprovalRequired, "automatic approval is frozen for this account after a severe anomaly: every transfer needs a human until `walletmcp unfreeze`")
	}

	if q := &p.QuietHours; q.Enabled {
		local := f.Now
		if q.Location != nil {
			local = f.Now.In(q.Location)
		}
		at := local.Format("15:04")
		if q.Contains(f.Now) {
			e.add(RuleQuietHours, ApprovalRequired, "it is "+at+" in "+q.Zone+", inside quiet_hours "+hhmm(q.Start)+"–"+hhmm(q.End)+": nothing is signed without human approval")
		} else {
			e.add(RuleQuietHours, Allow, "it is "+at+" in "+q.Zone+", outside quiet_hours "+hhmm(q.Start)+"–"+hhmm(q.End))
		}
	}
}

// fmtWindow renders a window as "24h", "1h30m" or "90s".
func fmtWindow(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
func itoa(v int) string   { return strconv.Itoa(v) }

// Remaining returns what is left of limit after used, never below zero.
func Remaining(limit, used *big.Int) *big.Int {
	r := new(big.Int).Sub(limit, used)
	if r.Sign() < 0 {
		r.SetInt64(0)
	}
	return r
}
