package policy_test

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/policy"
)

var (
	apAlice = common.HexToAddress(apVecA)
	apBob   = common.HexToAddress(apVecB)
	apCarol = common.HexToAddress(apVecC)
)

// apEvalPolicy parses doc (apBasePolicy and its variants: ETH
// auto_approve_max 0.1, per_tx_max 5, fee cap 200 gwei, 30 transfers per hour).
func apEvalPolicy(t *testing.T, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.ParsePolicy([]byte(doc), "")
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	return p
}

// apEthIntent is a transfer of amount ETH from alice to bob on chain 1337.
func apEthIntent(amount string) *policy.Intent {
	return &policy.Intent{
		ChainID: 1337, From: apAlice, To: apBob, Asset: policy.NativeSymbol,
		Amount: apEth(amount), Decimals: 18, Symbol: policy.NativeSymbol,
	}
}

// apGwei returns n gwei in wei.
func apGwei(n string) *big.Int { return apUnits(n, 9) }

// apBaseFacts: 100 ETH and 1,000,000 USDC, 1 gwei per gas, 21000 gas, nothing
// spent in the window, a recipient paid before and checked to have no code.
func apBaseFacts() *policy.Facts {
	return &policy.Facts{
		Now:                  time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		NativeBalance:        apEth("100"),
		MaxFeePerGas:         apGwei("1"),
		MaxFee:               apGwei("21000"),
		AssetBalance:         apUnits("1000000", 6),
		WindowAuto:           new(big.Int),
		WindowTotal:          new(big.Int),
		PaidBefore:           true,
		RecipientCodeChecked: true,
	}
}

// apReasonList renders reasons as "rule=verdict" for comparison.
func apReasonList(rs []policy.Reason) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, r.Rule+"="+r.Verdict)
	}
	return strings.Join(parts, " ")
}

// apBlocking renders the reasons that are not "allow", in order.
func apBlocking(rs []policy.Reason) string {
	var kept []policy.Reason
	for _, r := range rs {
		if r.Verdict != "allow" {
			kept = append(kept, r)
		}
	}
	return apReasonList(kept)
}

func apPlus(a, b *big.Int) *big.Int  { return new(big.Int).Add(a, b) }
func apMinus(a, b *big.Int) *big.Int { return new(big.Int).Sub(a, b) }

var apOneWei = big.NewInt(1)

func TestEvaluate(t *testing.T) {
	std := apEvalPolicy(t, apBasePolicy+apUsdcToken)
	denyBob := apEvalPolicy(t, apWith(apBasePolicy, "deny = []", `deny = ["`+apVecB+`"]`))
	allowCarol := apEvalPolicy(t, apWith(apWith(apBasePolicy, `mode = "any"`, `mode = "allowlist"`), "allow = []", `allow = ["`+apVecC+`"]`))
	usdc, ok := std.Token("USDC")
	if !ok {
		t.Fatal("no USDC in the policy")
	}
	usdcIntent := func(amount string) *policy.Intent {
		return &policy.Intent{
			ChainID: 1337, From: apAlice, To: apBob, Asset: strings.ToLower(apUsdcAddress),
			Amount: apUnits(amount, 6), Decimals: 6, Symbol: "USDC", Calldata: []byte{0xa9, 0x05, 0x9c, 0xbb},
		}
	}
	to := func(amount string, a common.Address) *policy.Intent {
		in := apEthIntent(amount)
		in.To = a
		return in
	}
	cases := []struct {
		name   string
		policy *policy.Policy // default std
		in     *policy.Intent
		lim    *policy.Limits // default the policy's [native]
		facts  func(f *policy.Facts)
		want   policy.Verdict
		// blocking lists the reasons that are not "allow", in order.
		blocking    string
		rateLimited bool
	}{
		{name: "allow well within auto_approve_max", in: apEthIntent("0.05"), want: policy.Allow},
		{name: "allow one wei", in: apEthIntent("0.000000000000000001"), want: policy.Allow},
		{name: "allow exactly auto_approve_max", in: apEthIntent("0.1"), want: policy.Allow},
		{name: "approval one wei above auto_approve_max", in: apEthIntent("0.100000000000000001"), want: policy.ApprovalRequired, blocking: "auto_approve_max=approval_required"},
		{name: "approval between the limits", in: apEthIntent("1"), want: policy.ApprovalRequired, blocking: "auto_approve_max=approval_required"},
		{name: "approval exactly per_tx_max", in: apEthIntent("5"), want: policy.ApprovalRequired, blocking: "auto_approve_max=approval_required window_auto_max=approval_required"},
		{name: "deny one wei above per_tx_max", in: apEthIntent("5.000000000000000001"), want: policy.Deny, blocking: "per_tx_max=deny auto_approve_max=approval_required window_auto_max=approval_required"},
		{name: "deny far above per_tx_max", in: apEthIntent("50"), want: policy.Deny, blocking: "per_tx_max=deny window_max=deny auto_approve_max=approval_required balance_fraction_approval=approval_required window_auto_max=approval_required"},
		{name: "deny zero recipient", in: to("0.05", common.Address{}), want: policy.Deny, blocking: "recipient_zero=deny"},
		{name: "deny self", in: to("0.05", apAlice), want: policy.Deny, blocking: "recipient_self=deny"},
		{name: "deny wrong chain id", in: func() *policy.Intent { in := apEthIntent("0.05"); in.ChainID = 1; return in }(), want: policy.Deny, blocking: "chain_id=deny"},
		{name: "deny chain id 0", in: func() *policy.Intent { in := apEthIntent("0.05"); in.ChainID = 0; return in }(), want: policy.Deny, blocking: "chain_id=deny"},
		{name: "allow fee per gas exactly at the cap", in: apEthIntent("0.05"), facts: func(f *policy.Facts) { f.MaxFeePerGas = apGwei("200"); f.MaxFee = apGwei("4200000") }, want: policy.Allow},
		{name: "deny fee per gas one wei above the cap", in: apEthIntent("0.05"), facts: func(f *policy.Facts) { f.MaxFeePerGas = apPlus(apGwei("200"), apOneWei) }, want: policy.Deny, blocking: "max_fee_per_gas_gwei=deny"},
		{name: "deny balance one wei short of amount plus max fee", in: apEthIntent("0.05"), facts: func(f *policy.Facts) { f.NativeBalance = apMinus(apPlus(apEth("0.05"), apGwei("21000")), apOneWei) }, want: policy.Deny, blocking: "balance=deny balance_fraction_approval=approval_required"},
		{name: "deny balance covering the amount but not the fee", in: apEthIntent("0.05"), facts: func(f *policy.Facts) { f.NativeBalance = apEth("0.05") }, want: policy.Deny, blocking: "balance=deny balance_fraction_approval=approval_required"},
		{name: "deny zero balance", in: apEthIntent("0.05"), facts: func(f *policy.Facts) { f.NativeBalance = new(big.Int) }, want: policy.Deny, blocking: "balance=deny balance_fraction_approval=approval_required"},
		{name: "balance exactly amount plus max fee passes the balance rule", in: apEthIntent("0.05"), facts: func(f *policy.Facts) { f.NativeBalance = apPlus(apEth("0.05"), apGwei("21000")) }, want: policy.ApprovalRequired, blocking: "balance_fraction_approval=approval_required"},
		{name: "approval above balance_fraction_approval", in: apEthIntent("0.1"), facts: func(f *policy.Facts) { f.NativeBalance = apPlus(apEth("0.2"), apGwei("21000")) }, want: policy.ApprovalRequired, blocking: "balance_fraction_approval=approval_required"},
		{name: "allow exactly balance_fraction_approval", in: apEthIntent("0.1"), facts: func(f *policy.Facts) { f.NativeBalance = apEth("0.5") }, want: policy.Allow},
		{name: "token transfer needs only the fee in ETH", in: usdcIntent("5"), lim: &usdc.Limits, facts: func(f *policy.Facts) { f.NativeBalance = apGwei("21000") }, want: policy.Allow},
		{name: "token transfer without ETH for the fee", in: usdcIntent("5"), lim: &usdc.Limits, facts: func(f *policy.Facts) { f.NativeBalance = apMinus(apGwei("21000"), apOneWei) }, want: policy.Deny, blocking: "balance=deny"},
		{name: "token transfer above the token balance", in: usdcIntent("5"), lim: &usdc.Limits, facts: func(f *policy.Facts) { f.AssetBalance = apUnits("4.999999", 6) }, want: policy.Deny, blocking: "balance=deny balance_fraction_approval=approval_required"},
		{name: "token above its auto_approve_max", in: usdcIntent("10.000001"), lim: &usdc.Limits, want: policy.ApprovalRequired, blocking: "auto_approve_max=approval_required"},
		{name: "token above its per_tx_max", in: usdcIntent("500.000001"), lim: &usdc.Limits, want: policy.Deny, blocking: "per_tx_max=deny auto_approve_max=approval_required window_auto_max=approval_required"},
		{name: "deny recipient in recipients.deny", policy: denyBob, in: apEthIntent("0.05"), want: policy.Deny, blocking: "recipients.deny=deny"},
		{name: "allow recipient not in recipients.deny", policy: denyBob, in: to("0.05", apCarol), want: policy.Allow},
		{name: "deny recipient outside the allowlist", policy: allowCarol, in: apEthIntent("0.05"), want: policy.Deny, blocking: "recipients.allow=deny"},
		{name: "allow recipient in the allowlist", policy: allowCarol, in: to("0.05", apCarol), want: policy.Allow},
		{name: "approval for a new recipient", in: apEthIntent("0.05"), facts: func(f *policy.Facts) { f.PaidBefore = false }, want: policy.ApprovalRequired, blocking: "new_recipient_approval=approval_required"},
		{name: "approval beyond window_auto_max", in: apEthIntent("0.1"), facts: func(f *policy.Facts) { f.WindowAuto = apEth("0.95"); f.WindowTotal = apEth("0.95") }, want: policy.ApprovalRequired, blocking: "window_auto_max=approval_required"},
		{name: "allow exactly up to window_auto_max", in: apEthIntent("0.1"), facts: func(f *policy.Facts) { f.WindowAuto = apEth("0.9"); f.WindowTotal = apEth("0.9") }, want: policy.Allow},
		{name: "deny beyond window_max", in: apEthIntent("0.1"), facts: func(f *policy.Facts) { f.WindowAuto = apEth("0.5"); f.WindowTotal = apEth("9.95") }, want: policy.Deny, blocking: "window_max=deny"},
		{name: "allow one below transfers_per_hour", in: apEthIntent("0.05"), facts: func(f *policy.Facts) { f.TransfersLastHour = 29 }, want: policy.Allow},
		{name: "rate limited at transfers_per_hour", in: apEthIntent("0.05"), facts: func(f *policy.Facts) { f.TransfersLastHour = 30 }, want: policy.Deny, blocking: "transfers_per_hour=deny", rateLimited: true},
		{name: "rate limited above transfers_per_hour", in: apEthIntent("0.05"), facts: func(f *policy.Facts) { f.TransfersLastHour = 1000 }, want: policy.Deny, blocking: "transfers_per_hour=deny", rateLimited: true},
		{name: "rate limited with approval required is still only rate limited", in: apEthIntent("1"), facts: func(f *policy.Facts) { f.TransfersLastHour = 30 }, want: policy.Deny, blocking: "transfers_per_hour=deny auto_approve_max=approval_required", rateLimited: true},
		{name: "rate limit with another denial is not RateLimited", in: to("0.05", common.Address{}), facts: func(f *policy.Facts) { f.TransfersLastHour = 30 }, want: policy.Deny, blocking: "recipient_zero=deny transfers_per_hour=deny"},
		{name: "rate limit with per_tx_max denial is not RateLimited", in: apEthIntent("6"), facts: func(f *policy.Facts) { f.TransfersLastHour = 30 }, want: policy.Deny, blocking: "per_tx_max=deny transfers_per_hour=deny auto_approve_max=approval_required window_auto_max=approval_required"},
		{
			name: "several denials list every reason",
			in:   func() *policy.Intent { in := apEthIntent("6"); in.ChainID = 5; in.To = common.Address{}; return in }(),
			facts: func(f *policy.Facts) {
				f.MaxFeePerGas = apGwei("201")
				f.NativeBalance = apEth("1")
				f.TransfersLastHour = 31
			},
			want:     policy.Deny,
			blocking: "chain_id=deny recipient_zero=deny max_fee_per_gas_gwei=deny balance=deny per_tx_max=deny transfers_per_hour=deny auto_approve_max=approval_required balance_fraction_approval=approval_required window_auto_max=approval_required",
		},
		{
			name: "zero sender sending to itself is both zero and self",
			in: func() *policy.Intent {
				in := apEthIntent("0.05")
				in.From = common.Address{}
				in.To = common.Address{}
				return in
			}(),
			want:     policy.Deny,
			blocking: "recipient_zero=deny recipient_self=deny",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = std
			}
			f := apBaseFacts()
			if tc.facts != nil {
				tc.facts(f)
			}
			lim := tc.lim
			if lim == nil {
				lim = &p.Native
			}
			d := policy.Evaluate(p, tc.in, lim, f)
			if d.Verdict != tc.want {
				t.Errorf("verdict = %v, want %v (reasons %s)", d.Verdict, tc.want, apReasonList(d.Reasons))
			}
			if got := apBlocking(d.Reasons); got != tc.blocking {
				t.Errorf("blocking reasons = %q\nwant                %q", got, tc.blocking)
			}
			if d.RateLimited != tc.rateLimited {
				t.Errorf("RateLimited = %v, want %v", d.RateLimited, tc.rateLimited)
			}
			// An allowed transfer says why; a refused one lists only what refused it.
			all := apReasonList(d.Reasons)
			if tc.want == policy.Allow && !strings.Contains(all, "auto_approve_max=allow") {
				t.Errorf("allowed without an auto_approve_max=allow reason: %s", all)
			}
			if tc.want != policy.Allow && all != tc.blocking {
				t.Errorf("a refused decision carries allow reasons: %s", all)
			}
			for _, r := range d.Reasons {
				if r.Message == "" || strings.ContainsAny(r.Message, "\n\r") {
					t.Errorf("reason %s has message %q, want one non-empty line", r.Rule, r.Message)
				}
			}
		})
	}
}

// TestEvaluateMessages checks the figures the reasons quote, in the asset's units.
func TestEvaluateMessages(t *testing.T) {
	p := apEvalPolicy(t, apBasePolicy)
	in := apEthIntent("6")
	in.ChainID = 5
	f := apBaseFacts()
	f.MaxFeePerGas = apGwei("250")
	f.MaxFee = apGwei("5250000")
	f.NativeBalance = apEth("1")
	f.TransfersLastHour = 30
	d := policy.Evaluate(p, in, &p.Native, f)
	want := map[string][]string{
		"chain_id":                  {"chain 5", "only chain 1337"},
		"per_tx_max":                {"6 ETH", "per_tx_max (5 ETH)"},
		"max_fee_per_gas_gwei":      {"250 gwei", "max_fee_per_gas_gwei (200)"},
		"balance":                   {"(1)", "6.00525"},
		"transfers_per_hour":        {"30 transfers per hour"},
		"auto_approve_max":          {"6 ETH", "auto_approve_max (0.1 ETH)"},
		"balance_fraction_approval": {"6 ETH", "0.2", "1 ETH"},
		"window_auto_max":           {"6 ETH", "window_auto_max (1 ETH)"},
	}
	for _, r := range d.Reasons {
		figures, ok := want[r.Rule]
		if !ok {
			t.Errorf("unexpected reason %s: %s", r.Rule, r.Message)
			continue
		}
		for _, fig := range figures {
			if !strings.Contains(r.Message, fig) {
				t.Errorf("reason %s: message %q does not quote %q", r.Rule, r.Message, fig)
			}
		}
		delete(want, r.Rule)
	}
	if len(want) != 0 {
		t.Errorf("missing reasons: %v", want)
	}
}

func TestEvaluateMissingFactsDeny(t *testing.T) {
	p := apEvalPolicy(t, apBasePolicy+apUsdcToken)
	usdc, _ := p.Token("USDC")
	tokenIn := &policy.Intent{ChainID: 1337, From: apAlice, To: apBob, Asset: strings.ToLower(apUsdcAddress), Amount: big.NewInt(1), Decimals: 6, Symbol: "USDC"}
	facts := func(mut func(f *policy.Facts)) *policy.Facts { f := apBaseFacts(); mut(f); return f }
	intent := func(mut func(in *policy.Intent)) *policy.Intent { in := apEthIntent("0.05"); mut(in); return in }
	noFees := *p
	noFees.MaxFeePerGas = nil
	cases := []struct {
		name string
		p    *policy.Policy
		in   *policy.Intent
		lim  *policy.Limits
		f    *policy.Facts
	}{
		{"nil policy", nil, apEthIntent("0.05"), &p.Native, apBaseFacts()},
		{"nil intent", p, nil, &p.Native, apBaseFacts()},
		{"nil limits", p, apEthIntent("0.05"), nil, apBaseFacts()},
		{"nil facts", p, apEthIntent("0.05"), &p.Native, nil},
		{"all nil", nil, nil, nil, nil},
		{"zero-value limits", p, apEthIntent("0.05"), &policy.Limits{}, apBaseFacts()},
		{"policy without a fee cap", &noFees, apEthIntent("0.05"), &p.Native, apBaseFacts()},
		{"nil amount", p, intent(func(in *policy.Intent) { in.Amount = nil }), &p.Native, apBaseFacts()},
		{"zero amount", p, intent(func(in *policy.Intent) { in.Amount = new(big.Int) }), &p.Native, apBaseFacts()},
		{"negative amount", p, intent(func(in *policy.Intent) { in.Amount = big.NewInt(-1) }), &p.Native, apBaseFacts()},
		{"zero Now", p, apEthIntent("0.05"), &p.Native, facts(func(f *policy.Facts) { f.Now = time.Time{} })},
		{"nil balance", p, apEthIntent("0.05"), &p.Native, facts(func(f *policy.Facts) { f.NativeBalance = nil })},
		{"negative balance", p, apEthIntent("0.05"), &p.Native, facts(func(f *policy.Facts) { f.NativeBalance = big.NewInt(-1) })},
		{"nil max fee", p, apEthIntent("0.05"), &p.Native, facts(func(f *policy.Facts) { f.MaxFee = nil })},
		{"nil max fee per gas", p, apEthIntent("0.05"), &p.Native, facts(func(f *policy.Facts) { f.MaxFeePerGas = nil })},
		{"nil window auto", p, apEthIntent("0.05"), &p.Native, facts(func(f *policy.Facts) { f.WindowAuto = nil })},
		{"nil window total", p, apEthIntent("0.05"), &p.Native, facts(func(f *policy.Facts) { f.WindowTotal = nil })},
		{"window total below window auto", p, apEthIntent("0.05"), &p.Native, facts(func(f *policy.Facts) { f.WindowAuto = apEth("1") })},
		{"negative transfers last hour", p, apEthIntent("0.05"), &p.Native, facts(func(f *policy.Facts) { f.TransfersLastHour = -1 })},
		{"ETH recipient code not checked", p, apEthIntent("0.05"), &p.Native, facts(func(f *policy.Facts) { f.RecipientCodeChecked = false })},
		{"token without its balance", p, tokenIn, &usdc.Limits, facts(func(f *policy.Facts) { f.AssetBalance = nil })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := policy.Evaluate(tc.p, tc.in, tc.lim, tc.f)
			if d.Verdict != policy.Deny {
				t.Errorf("verdict = %v, want deny", d.Verdict)
			}
			if len(d.Reasons) != 1 || d.Reasons[0].Rule != "internal" || d.Reasons[0].Verdict != "deny" ||
				!strings.HasPrefix(d.Reasons[0].Message, "policy evaluation is missing facts") {
				t.Errorf("reasons = %+v, want one internal deny", d.Reasons)
			}
			if d.RateLimited {
				t.Errorf("RateLimited = true for missing facts")
			}
		})
	}
	// The same facts, complete, allow: the cases above fail for what they change.
	if d := policy.Evaluate(p, apEthIntent("0.05"), &p.Native, apBaseFacts()); d.Verdict != policy.Allow {
		t.Errorf("complete facts: verdict %v (%s), want allow", d.Verdict, apReasonList(d.Reasons))
	}
	if d := policy.Evaluate(p, tokenIn, &usdc.Limits, apBaseFacts()); d.Verdict != policy.Allow {
		t.Errorf("complete token facts: verdict %v (%s), want allow", d.Verdict, apReasonList(d.Reasons))
	}
}

func TestVerdictZeroValueIsDeny(t *testing.T) {
	var v policy.Verdict
	if v != policy.Deny || v.String() != "deny" {
		t.Errorf("zero Verdict = %d %q, want Deny", v, v)
	}
	var d policy.Decision
	if d.Verdict != policy.Deny {
		t.Errorf("zero Decision.Verdict = %v, want deny", d.Verdict)
	}
	// The order Deny < ApprovalRequired < Allow is what "strictest wins" and
	// the monotonicity property below rely on.
	if !(policy.Deny < policy.ApprovalRequired && policy.ApprovalRequired < policy.Allow) {
		t.Errorf("verdict order = %d, %d, %d, want Deny < ApprovalRequired < Allow", policy.Deny, policy.ApprovalRequired, policy.Allow)
	}
}

func TestVerdictString(t *testing.T) {
	cases := []struct {
		v    policy.Verdict
		want string
	}{
		{policy.Deny, "deny"},
		{policy.ApprovalRequired, "approval_required"},
		{policy.Allow, "allow"},
		{policy.Verdict(3), "deny"},
		{policy.Verdict(-1), "deny"},
		{policy.Verdict(1 << 30), "deny"},
	}
	for _, tc := range cases {
		t.Run(tc.want+fmt.Sprint(int(tc.v)), func(t *testing.T) {
			if got := tc.v.String(); got != tc.want {
				t.Errorf("Verdict(%d).String() = %q, want %q", int(tc.v), got, tc.want)
			}
			if got := fmt.Sprint(tc.v); got != tc.want {
				t.Errorf("fmt.Sprint(Verdict(%d)) = %q, want %q", int(tc.v), got, tc.want)
			}
		})
	}
}

// apRandInt returns a uniform integer in [0, max].
func apRandInt(r *rand.Rand, max *big.Int) *big.Int {
	if max.Sign() <= 0 {
		return new(big.Int)
	}
	// Build a value with as many random bits as max, reduce it modulo max+1.
	n := max.BitLen()/64 + 1
	v := new(big.Int)
	for i := 0; i < n; i++ {
		v.Lsh(v, 64)
		v.Or(v, new(big.Int).SetUint64(r.Uint64()))
	}
	return v.Mod(v, apPlus(max, apOneWei))
}

// apRandLimits returns limits that satisfy ParsePolicy's invariants.
func apRandLimits(r *rand.Rand) policy.Limits {
	perTx := apPlus(apRandInt(r, apEth("1000")), apOneWei)
	if r.IntN(4) == 0 {
		perTx = apPlus(apRandInt(r, big.NewInt(1000)), apOneWei) // tiny limits too
	}
	auto := apRandInt(r, perTx)
	windowMax := apPlus(perTx, apRandInt(r, apEth("1000")))
	windowAuto := apPlus(auto, apRandInt(r, apMinus(windowMax, auto)))
	return policy.Limits{
		AutoApproveMax: auto, PerTxMax: perTx, BalanceFractionApproval: big.NewRat(int64(r.IntN(1000)+1), 1000),
		Window: time.Duration(r.IntN(744)+1) * time.Hour, WindowAutoMax: windowAuto, WindowMax: windowMax,
	}
}

// apPickAmount picks an amount, often on or next to a limit.
func apPickAmount(r *rand.Rand, lim *policy.Limits) *big.Int {
	switch r.IntN(6) {
	case 0:
		return new(big.Int).Set(lim.AutoApproveMax)
	case 1:
		return apPlus(lim.AutoApproveMax, apOneWei)
	case 2:
		return new(big.Int).Set(lim.PerTxMax)
	case 3:
		return apPlus(lim.PerTxMax, apOneWei)
	default:
		return apPlus(apRandInt(r, new(big.Int).Mul(lim.PerTxMax, big.NewInt(2))), apOneWei)
	}
}

// TestEvaluateProperties checks, over 2000 random policies, intents and
// facts (fixed seed, so a failure reproduces): nothing above per_tx_max is
// ever allowed; the verdict never gets more permissive as the amount grows;
// the verdict is the strictest of the reasons; RateLimited implies Deny.
func TestEvaluateProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(20260501, 55))
	for i := 0; i < 2000; i++ {
		lim := apRandLimits(r)
		p := &policy.Policy{
			ChainID:          1337,
			Native:           lim,
			Tokens:           []policy.Token{{Symbol: "USDC", Address: common.HexToAddress(apUsdcAddress), Decimals: 6, Limits: lim}},
			Recipients:       policy.Recipients{Mode: "any", NewRecipientApproval: r.IntN(2) == 0},
			MaxFeePerGas:     apPlus(apRandInt(r, apGwei("500")), apOneWei),
			MaxTotalFee:      apPlus(apRandInt(r, apEth("0.1")), apOneWei),
			TransfersPerHour: r.IntN(100) + 1,
		}
		switch r.IntN(8) {
		case 0:
			p.Recipients.Deny = map[common.Address]bool{apBob: true}
		case 1:
			p.Recipients.Mode = "allowlist"
			p.Recipients.Allow = map[common.Address]bool{apBob: r.IntN(2) == 0}
		}
		in := apEthIntent("1")
		if r.IntN(10) == 0 {
			in.ChainID = uint64(r.IntN(3000))
		}
		switch r.IntN(20) {
		case 0:
			in.To = common.Address{}
		case 1:
			in.To = in.From
		}
		if r.IntN(3) == 0 {
			in.Asset, in.Symbol, in.Decimals = strings.ToLower(apUsdcAddress), "USDC", 6
		}
		feePerGas := apPlus(apRandInt(r, apGwei("600")), apOneWei)
		windowTotal := apRandInt(r, lim.WindowMax)
		f := &policy.Facts{
			Now:                  time.Unix(int64(r.Uint32()), 0),
			NativeBalance:        apRandInt(r, new(big.Int).Mul(lim.PerTxMax, big.NewInt(3))),
			AssetBalance:         apRandInt(r, new(big.Int).Mul(lim.PerTxMax, big.NewInt(3))),
			MaxFeePerGas:         feePerGas,
			MaxFee:               new(big.Int).Mul(feePerGas, big.NewInt(int64(21000+r.IntN(100000)))),
			TransfersLastHour:    r.IntN(120),
			WindowTotal:          windowTotal,
			WindowAuto:           apRandInt(r, windowTotal),
			PaidBefore:           r.IntN(2) == 0,
			RecipientHasCode:     r.IntN(10) == 0,
			RecipientCodeChecked: true,
		}
		a1, a2 := apPickAmount(r, &lim), apPickAmount(r, &lim)
		if a1.Cmp(a2) > 0 {
			a1, a2 = a2, a1
		}
		decide := func(a *big.Int) policy.Decision {
			c := *in
			c.Amount = a
			return policy.Evaluate(p, &c, &lim, f)
		}
		d1, d2 := decide(a1), decide(a2)
		for _, c := range []struct {
			a *big.Int
			d policy.Decision
		}{{a1, d1}, {a2, d2}} {
			if c.a.Cmp(lim.PerTxMax) > 0 && c.d.Verdict != policy.Deny {
				t.Fatalf("case %d: amount %s > per_tx_max %s got %v (%s)", i, c.a, lim.PerTxMax, c.d.Verdict, apReasonList(c.d.Reasons))
			}
			if c.a.Cmp(lim.AutoApproveMax) > 0 && c.d.Verdict == policy.Allow {
				t.Fatalf("case %d: amount %s > auto_approve_max %s allowed", i, c.a, lim.AutoApproveMax)
			}
			if len(c.d.Reasons) == 0 {
				t.Fatalf("case %d: a decision without reasons", i)
			}
			strictest := policy.Allow
			for _, rs := range c.d.Reasons {
				var v policy.Verdict
				switch rs.Verdict {
				case "deny":
					v = policy.Deny
				case "approval_required":
					v = policy.ApprovalRequired
				case "allow":
					v = policy.Allow
				default:
					t.Fatalf("case %d: reason %s has verdict %q", i, rs.Rule, rs.Verdict)
				}
				strictest = min(strictest, v)
			}
			if c.d.Verdict != strictest {
				t.Fatalf("case %d: verdict %v but the strictest reason is %v (%s)", i, c.d.Verdict, strictest, apReasonList(c.d.Reasons))
			}
			if c.d.RateLimited && c.d.Verdict != policy.Deny {
				t.Fatalf("case %d: RateLimited with verdict %v", i, c.d.Verdict)
			}
		}
		if d2.Verdict > d1.Verdict {
			t.Fatalf("case %d: not monotone: %s -> %v (%s) but %s -> %v (%s)", i,
				a1, d1.Verdict, apReasonList(d1.Reasons), a2, d2.Verdict, apReasonList(d2.Reasons))
		}
		// Determinism: the same inputs give the same decision.
		if again := decide(a2); again.Verdict != d2.Verdict || apReasonList(again.Reasons) != apReasonList(d2.Reasons) {
			t.Fatalf("case %d: Evaluate is not deterministic", i)
		}
	}
}
