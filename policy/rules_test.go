package policy_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the quiet-hours tests must not depend on the machine's zoneinfo

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/policy"
)

// The rule tests below use their own fixtures (prefix rl) so that they do not
// depend on the helpers of the other test files.

var (
	rlFrom     = common.HexToAddress("0x1111111111111111111111111111111111111111")
	rlTo       = common.HexToAddress("0x2222222222222222222222222222222222222222")
	rlListed   = common.HexToAddress("0x3333333333333333333333333333333333333333")
	rlBlocked  = common.HexToAddress("0x4444444444444444444444444444444444444444")
	rlToken    = common.HexToAddress("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48") // USDC on mainnet
	rlUnknown  = common.HexToAddress("0x5555555555555555555555555555555555555555")
	rlNow      = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC) // 13:00 in Berlin
	rlFeeGas   = rlGwei(10)
	rlGasLimit = int64(21000)
)

// rlPolicyText is the template with an allow list, a deny list and a token.
func rlPolicyText() string {
	doc := policy.PolicyTemplate(1337)
	doc = strings.Replace(doc, "allow = []", `allow = ["`+rlListed.Hex()+`"]`, 1)
	doc = strings.Replace(doc, "deny = []", `deny = ["`+rlBlocked.Hex()+`"]`, 1)
	return doc + `
[[tokens]]
symbol = "USDC"
address = "` + rlToken.Hex() + `"
decimals = 6
auto_approve_max = "10"
per_tx_max = "500"
window = "1h"
window_auto_max = "100"
window_max = "1000"
`
}

func rlParse(t testing.TB, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.ParsePolicy([]byte(doc), "")
	if err != nil {
		t.Fatalf("ParsePolicy: %v\n%s", err, doc)
	}
	return p
}

// rlUnits converts a decimal string to base units with dec decimals.
func rlUnits(s string, dec int) *big.Int {
	v, err := policy.ParseAmount("test", s, dec)
	if err != nil {
		if s == "0" {
			return new(big.Int)
		}
		panic(err)
	}
	return v
}

func rlEth(s string) *big.Int  { return rlUnits(s, 18) }
func rlUSDC(s string) *big.Int { return rlUnits(s, 6) }
func rlGwei(n int64) *big.Int  { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e9)) }

func rlETHIntent(amount string) *policy.Intent {
	return &policy.Intent{ChainID: 1337, From: rlFrom, To: rlTo, Asset: policy.NativeSymbol, Amount: rlEth(amount), Decimals: 18, Symbol: "ETH"}
}

func rlTokenIntent(token common.Address, amount string, dec int, symbol string) *policy.Intent {
	return &policy.Intent{ChainID: 1337, From: rlFrom, To: rlTo, Asset: strings.ToLower(token.Hex()), Amount: rlUnits(amount, dec), Decimals: dec, Symbol: symbol}
}

// rlFacts are facts under which a small ETH transfer is allowed: 100 ETH,
// 10 gwei per gas, nothing spent, a recipient paid before and without code.
func rlFacts() *policy.Facts {
	bal := rlEth("100")
	return &policy.Facts{
		Now: rlNow, NativeBalance: bal, AssetBalance: new(big.Int).Set(bal),
		MaxFeePerGas: rlFeeGas, MaxFee: new(big.Int).Mul(rlFeeGas, big.NewInt(rlGasLimit)),
		WindowAuto: new(big.Int), WindowTotal: new(big.Int),
		PaidBefore: true, RecipientCodeChecked: true,
	}
}

// rlWant is a reason that must be present: its rule, verdict and words of
// its message.
type rlWant struct {
	rule, verdict string
	words         []string
}

func rlCheck(t *testing.T, d policy.Decision, want policy.Verdict, reasons []rlWant, absent []string) {
	t.Helper()
	if d.Verdict != want {
		t.Errorf("verdict %v, want %v; reasons:\n%s", d.Verdict, want, rlDump(d.Reasons))
	}
	for _, w := range reasons {
		found := false
		for _, r := range d.Reasons {
			if r.Rule != w.rule || r.Verdict != w.verdict {
				continue
			}
			found = true
			for _, word := range w.words {
				if !strings.Contains(r.Message, word) {
					t.Errorf("reason %s (%s): message %q lacks %q", r.Rule, r.Verdict, r.Message, word)
				}
			}
		}
		if !found {
			t.Errorf("no reason %s=%s in:\n%s", w.rule, w.verdict, rlDump(d.Reasons))
		}
	}
	for _, rule := range absent {
		for _, r := range d.Reasons {
			if r.Rule == rule {
				t.Errorf("unexpected reason %s=%s: %s", r.Rule, r.Verdict, r.Message)
			}
		}
	}
	strictest := policy.Allow
	for _, r := range d.Reasons {
		if r.Message == "" || strings.ContainsAny(r.Message, "\r\n") {
			t.Errorf("reason %s: message %q is not one non-empty line", r.Rule, r.Message)
		}
		switch r.Verdict {
		case "deny":
			strictest = policy.Deny
		case "approval_required":
			strictest = min(strictest, policy.ApprovalRequired)
		case "allow":
			if d.Verdict != policy.Allow {
				t.Errorf("allow reason %s in a %v decision", r.Rule, d.Verdict)
			}
		default:
			t.Errorf("reason %s: verdict %q", r.Rule, r.Verdict)
		}
	}
	if len(d.Reasons) == 0 || strictest != d.Verdict {
		t.Errorf("verdict %v is not the strictest of its reasons:\n%s", d.Verdict, rlDump(d.Reasons))
	}
}

func rlDump(rs []policy.Reason) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString("  " + r.Rule + "=" + r.Verdict + ": " + r.Message + "\n")
	}
	return b.String()
}

// TestEvaluateRules covers every rule with a named case and the words of its
// reason: the limit, the amount and what remains.
func TestEvaluateRules(t *testing.T) {
	base := rlPolicyText()
	unknownAllowed := base + `
[unknown_tokens]
allow = true
auto_approve_max = "10"
per_tx_max = "100"
window_auto_max = "50"
window_max = "500"
`
	quiet := base + "\n[quiet_hours]\nstart = \"22:00\"\nend = \"07:00\"\ntime_zone = \"Europe/Berlin\"\n"
	type tc struct {
		name   string
		policy string // "" means base
		in     *policy.Intent
		lim    func(p *policy.Policy) *policy.Limits // nil: p.LimitsFor(in)
		facts  func(f *policy.Facts)
		want   policy.Verdict
		rs     []rlWant
		absent []string
		rate   bool
	}
	tok := func(amount string) *policy.Intent { return rlTokenIntent(rlToken, amount, 6, "USDC") }
	tokFacts := func(f *policy.Facts) { f.AssetBalance = rlUSDC("10000") }
	withTo := func(in *policy.Intent, to common.Address) *policy.Intent { in.To = to; return in }
	cases := []tc{
		// Allowed, with the reasons why.
		{name: "allow small ETH transfer says why", in: rlETHIntent("0.05"), want: policy.Allow, rs: []rlWant{
			{"per_tx_max", "allow", []string{"0.05 ETH", "5 ETH"}},
			{"auto_approve_max", "allow", []string{"0.05 ETH", "within", "0.1 ETH"}},
			{"window_max", "allow", []string{"24h", "0.05 ETH", "10 ETH", "remaining after this 9.95 ETH"}},
			{"window_auto_max", "allow", []string{"24h", "0.05 ETH", "1 ETH", "remaining after this 0.95 ETH"}},
			{"balance_fraction_approval", "allow", []string{"0.2", "100 ETH", "20 ETH"}},
			{"new_recipient_approval", "allow", []string{"paid", rlTo.Hex()}},
		}, absent: []string{"quiet_hours", "recipients.allow", "recipient_code"}},
		{name: "allow exactly auto_approve_max", in: rlETHIntent("0.1"), want: policy.Allow},

		// per_tx_max and auto_approve_max.
		{name: "per_tx_max denies above", in: rlETHIntent("5.000000000000000001"), want: policy.Deny, rs: []rlWant{
			{"per_tx_max", "deny", []string{"5.000000000000000001 ETH", "(5 ETH)", "even with approval"}},
			{"auto_approve_max", "approval_required", []string{"0.1 ETH"}},
		}},
		{name: "exactly per_tx_max needs approval", in: rlETHIntent("5"), want: policy.ApprovalRequired, rs: []rlWant{
			{"auto_approve_max", "approval_required", []string{"5 ETH", "above auto_approve_max (0.1 ETH)", "human approval"}},
		}, absent: []string{"per_tx_max"}},

		// balance_fraction_approval against the current balance.
		{name: "balance fraction above needs approval", in: rlETHIntent("0.1"), facts: func(f *policy.Facts) {
			f.NativeBalance, f.AssetBalance = rlEth("0.4"), rlEth("0.4")
		}, want: policy.ApprovalRequired, rs: []rlWant{
			{"balance_fraction_approval", "approval_required", []string{"0.1 ETH", "0.2", "0.4 ETH", "0.08 ETH"}},
		}},
		{name: "balance fraction exactly at the share is allowed", in: rlETHIntent("0.1"), facts: func(f *policy.Facts) {
			f.NativeBalance, f.AssetBalance = rlEth("0.5"), rlEth("0.5")
		}, want: policy.Allow, rs: []rlWant{{"balance_fraction_approval", "allow", []string{"0.1 ETH", "0.5 ETH"}}}},
		{name: "balance fraction uses the token balance for tokens", in: tok("5"), facts: func(f *policy.Facts) {
			f.AssetBalance = rlUSDC("20")
		}, want: policy.ApprovalRequired, rs: []rlWant{
			{"balance_fraction_approval", "approval_required", []string{"5 USDC", "20 USDC", "4 USDC"}},
		}},

		// Rolling window.
		{name: "window_auto_max exceeded needs approval", in: rlETHIntent("0.1"), facts: func(f *policy.Facts) {
			f.WindowAuto, f.WindowTotal = rlEth("0.95"), rlEth("0.95")
		}, want: policy.ApprovalRequired, rs: []rlWant{
			{"window_auto_max", "approval_required", []string{"24h", "1.05 ETH", "already 0.95 ETH", "this 0.1 ETH", "(1 ETH)", "remaining 0.05 ETH"}},
		}},
		{name: "window_auto_max reached exactly is allowed", in: rlETHIntent("0.1"), facts: func(f *policy.Facts) {
			f.WindowAuto, f.WindowTotal = rlEth("0.9"), rlEth("0.9")
		}, want: policy.Allow, rs: []rlWant{{"window_auto_max", "allow", []string{"1 ETH", "remaining after this 0 ETH"}}}},
		{name: "window_max exceeded denies", in: rlETHIntent("0.1"), facts: func(f *policy.Facts) {
			f.WindowAuto, f.WindowTotal = rlEth("0.5"), rlEth("9.95")
		}, want: policy.Deny, rs: []rlWant{
			{"window_max", "deny", []string{"24h", "10.05 ETH", "already 9.95 ETH", "(10 ETH)", "remaining 0.05 ETH"}},
		}},
		{name: "window_max reached exactly is allowed", in: rlETHIntent("0.1"), facts: func(f *policy.Facts) {
			f.WindowTotal = rlEth("9.9")
		}, want: policy.Allow, rs: []rlWant{{"window_max", "allow", []string{"10 ETH", "remaining after this 0 ETH"}}}},
		{name: "token window is the token's own", in: tok("10"), facts: func(f *policy.Facts) {
			tokFacts(f)
			f.WindowAuto, f.WindowTotal = rlUSDC("95"), rlUSDC("995")
		}, want: policy.Deny, rs: []rlWant{
			{"window_max", "deny", []string{"1h", "1005 USDC", "(1000 USDC)", "remaining 5 USDC"}},
			{"window_auto_max", "approval_required", []string{"1h", "105 USDC", "(100 USDC)", "remaining 5 USDC"}},
		}},

		// Recipients.
		{name: "deny list denies", in: withTo(rlETHIntent("0.01"), rlBlocked), want: policy.Deny, rs: []rlWant{
			{"recipients.deny", "deny", []string{rlBlocked.Hex(), "recipients.deny"}},
		}},
		{name: "allowlist mode denies others", policy: strings.Replace(base, `mode = "any"`, `mode = "allowlist"`, 1), in: rlETHIntent("0.01"), want: policy.Deny, rs: []rlWant{
			{"recipients.allow", "deny", []string{"allowlist", rlTo.Hex(), "not in recipients.allow"}},
		}},
		{name: "allowlist mode allows a listed recipient", policy: strings.Replace(base, `mode = "any"`, `mode = "allowlist"`, 1), in: withTo(rlETHIntent("0.01"), rlListed), want: policy.Allow, rs: []rlWant{
			{"recipients.allow", "allow", []string{rlListed.Hex(), "is in recipients.allow"}},
		}},
		{name: "any mode does not consult the allow list", in: rlETHIntent("0.01"), want: policy.Allow, absent: []string{"recipients.allow"}},
		{name: "new recipient needs approval", in: rlETHIntent("0.01"), facts: func(f *policy.Facts) { f.PaidBefore = false }, want: policy.ApprovalRequired, rs: []rlWant{
			{"new_recipient_approval", "approval_required", []string{"never paid", rlTo.Hex(), "human approval"}},
		}},
		{name: "new recipient allowed when new_recipient_approval is off", policy: strings.Replace(base, "new_recipient_approval = true", "new_recipient_approval = false", 1),
			in: rlETHIntent("0.01"), facts: func(f *policy.Facts) { f.PaidBefore = false }, want: policy.Allow, absent: []string{"new_recipient_approval"}},
		{name: "new recipient approval also for allowlisted recipients", in: withTo(rlETHIntent("0.01"), rlListed), facts: func(f *policy.Facts) { f.PaidBefore = false },
			want: policy.ApprovalRequired, rs: []rlWant{{"new_recipient_approval", "approval_required", nil}}},

		// Semantic checks on the recipient.
		{name: "zero address denies", in: withTo(rlETHIntent("0.01"), common.Address{}), want: policy.Deny, rs: []rlWant{{"recipient_zero", "deny", []string{"zero address"}}}, absent: []string{"recipient_precompile"}},
		{name: "sender itself denies", in: withTo(rlETHIntent("0.01"), rlFrom), want: policy.Deny, rs: []rlWant{{"recipient_self", "deny", []string{"sender"}}}},
		{name: "token contract itself denies", in: withTo(tok("1"), rlToken), facts: tokFacts, want: policy.Deny, rs: []rlWant{
			{"recipient_token_contract", "deny", []string{rlToken.Hex(), "token contract itself"}},
		}},
		{name: "ETH to a contract not in allow denies", in: rlETHIntent("0.01"), facts: func(f *policy.Facts) { f.RecipientHasCode = true }, want: policy.Deny, rs: []rlWant{
			{"recipient_code", "deny", []string{rlTo.Hex(), "contract", "recipients.allow"}},
		}},
		{name: "ETH to a contract in allow is allowed", in: withTo(rlETHIntent("0.01"), rlListed), facts: func(f *policy.Facts) { f.RecipientHasCode = true }, want: policy.Allow, rs: []rlWant{
			{"recipient_code", "allow", []string{rlListed.Hex(), "contract", "recipients.allow"}},
		}},
		{name: "tokens to a contract are not the code rule's business", in: tok("1"), facts: func(f *policy.Facts) { tokFacts(f); f.RecipientHasCode = true }, want: policy.Allow, absent: []string{"recipient_code"}},
		{name: "ETH without a code check denies", in: rlETHIntent("0.01"), facts: func(f *policy.Facts) { f.RecipientCodeChecked = false }, want: policy.Deny, rs: []rlWant{
			{"internal", "deny", []string{"missing facts", "RecipientCodeChecked"}},
		}},

		// Fees and balances.
		{name: "fee per gas above the cap denies", in: rlETHIntent("0.01"), facts: func(f *policy.Facts) { f.MaxFeePerGas = rlGwei(201) }, want: policy.Deny, rs: []rlWant{
			{"max_fee_per_gas_gwei", "deny", []string{"201 gwei", "(200)"}},
		}},
		{name: "total fee above max_total_fee denies", in: rlETHIntent("0.01"), facts: func(f *policy.Facts) { f.MaxFee = rlEth("0.050000000000000001") }, want: policy.Deny, rs: []rlWant{
			{"max_total_fee", "deny", []string{"0.050000000000000001 ETH", "(0.05 ETH)"}},
		}},
		{name: "total fee exactly max_total_fee is allowed", in: rlETHIntent("0.01"), facts: func(f *policy.Facts) { f.MaxFee = rlEth("0.05") }, want: policy.Allow, absent: []string{"max_total_fee"}},
		{name: "ETH balance must cover amount plus fee", in: rlETHIntent("0.05"), facts: func(f *policy.Facts) {
			f.NativeBalance, f.AssetBalance = rlEth("0.05"), rlEth("0.05")
		}, want: policy.Deny, rs: []rlWant{{"balance", "deny", []string{"0.05", "0.05021", "short by 0.00021 ETH"}}}},
		{name: "token balance must cover the amount", in: tok("5"), facts: func(f *policy.Facts) { f.AssetBalance = rlUSDC("4.999999") }, want: policy.Deny, rs: []rlWant{
			{"balance", "deny", []string{"token balance", "4.999999 USDC", "5 USDC"}},
		}},
		{name: "ETH balance must cover a token transfer's fee", in: tok("5"), facts: func(f *policy.Facts) { tokFacts(f); f.NativeBalance = rlEth("0.0002") }, want: policy.Deny, rs: []rlWant{
			{"balance", "deny", []string{"ETH balance", "0.0002 ETH", "0.00021 ETH"}},
		}},
		{name: "token transfer with just the fee in ETH is allowed", in: tok("5"), facts: func(f *policy.Facts) { tokFacts(f); f.NativeBalance = rlEth("0.00021") }, want: policy.Allow},

		// Rate and chain.
		{name: "transfers_per_hour rate limits", in: rlETHIntent("0.01"), facts: func(f *policy.Facts) { f.TransfersLastHour = 30 }, want: policy.Deny, rate: true, rs: []rlWant{
			{"transfers_per_hour", "deny", []string{"30 transfers per hour", "(30 in the last hour)"}},
		}},
		{name: "another chain denies", in: func() *policy.Intent { in := rlETHIntent("0.01"); in.ChainID = 1; return in }(), want: policy.Deny, rs: []rlWant{
			{"chain_id", "deny", []string{"chain 1 ", "only chain 1337"}},
		}},

		// Assets.
		{name: "unknown token denied by default", in: rlTokenIntent(rlUnknown, "1", 18, "SCAM"), lim: func(p *policy.Policy) *policy.Limits { return &p.Native },
			facts: func(f *policy.Facts) { f.AssetBalance = rlEth("1000") }, want: policy.Deny, rs: []rlWant{
				{"unknown_tokens", "deny", []string{rlUnknown.Hex(), "not configured", "allow is false"}},
			}},
		{name: "unknown token allowed uses its own decimals", policy: unknownAllowed, in: rlTokenIntent(rlUnknown, "5", 8, "WBTCX"),
			facts: func(f *policy.Facts) { f.AssetBalance = rlUnits("1000", 8) }, want: policy.Allow, rs: []rlWant{
				{"auto_approve_max", "allow", []string{"5 WBTCX", "(10 WBTCX)"}},
			}},
		{name: "unknown token above its per_tx_max", policy: unknownAllowed, in: rlTokenIntent(rlUnknown, "100.00000001", 8, "WBTCX"),
			facts: func(f *policy.Facts) { f.AssetBalance = rlUnits("1000", 8) }, want: policy.Deny, rs: []rlWant{
				{"per_tx_max", "deny", []string{"100.00000001 WBTCX", "(100 WBTCX)"}},
			}},
		{name: "unknown token with a hostile symbol is sanitised", policy: unknownAllowed, in: rlTokenIntent(rlUnknown, "50", 0, "A\nB"),
			facts: func(f *policy.Facts) { f.AssetBalance = big.NewInt(1000) }, want: policy.ApprovalRequired, rs: []rlWant{
				{"auto_approve_max", "approval_required", []string{"50 A?B"}},
			}},
		{name: "unknown token with too many decimals denies", policy: unknownAllowed, in: rlTokenIntent(rlUnknown, "1", 37, "BIG"),
			lim:   func(p *policy.Policy) *policy.Limits { l, _ := p.UnknownTokens.LimitsFor(36); return l },
			facts: func(f *policy.Facts) { f.AssetBalance = rlUnits("1000", 37) }, want: policy.Deny, rs: []rlWant{{"asset", "deny", []string{"37 decimals"}}}},
		{name: "configured token with other decimals denies", in: rlTokenIntent(rlToken, "1", 18, "USDC"),
			lim:   func(p *policy.Policy) *policy.Limits { return &p.Tokens[0].Limits },
			facts: func(f *policy.Facts) { f.AssetBalance = rlEth("1000") }, want: policy.Deny, rs: []rlWant{{"asset", "deny", []string{"18 decimals", "configures 6"}}}},
		{name: "asset that is no address denies", in: func() *policy.Intent { in := tok("1"); in.Asset = "USDC"; return in }(),
			lim: func(p *policy.Policy) *policy.Limits { return &p.Tokens[0].Limits }, facts: tokFacts, want: policy.Deny, rs: []rlWant{{"asset", "deny", nil}}},
		{name: "ETH with 6 decimals denies", in: func() *policy.Intent { in := rlETHIntent("1"); in.Decimals = 6; return in }(),
			lim: func(p *policy.Policy) *policy.Limits { return &p.Native }, want: policy.Deny, rs: []rlWant{{"asset", "deny", []string{"18 decimals"}}}},

		// Quiet hours (more in TestQuietHours).
		{name: "quiet hours turn allow into approval", policy: quiet, in: rlETHIntent("0.01"), facts: func(f *policy.Facts) {
			f.Now = time.Date(2026, 3, 10, 22, 30, 0, 0, time.UTC) // 23:30 CET
		}, want: policy.ApprovalRequired, rs: []rlWant{{"quiet_hours", "approval_required", []string{"23:30", "Europe/Berlin", "22:00–07:00"}}}},
		{name: "outside quiet hours says so", policy: quiet, in: rlETHIntent("0.01"), want: policy.Allow, rs: []rlWant{
			{"quiet_hours", "allow", []string{"13:00", "Europe/Berlin", "outside"}},
		}},
		{name: "quiet hours do not lift a denial", policy: quiet, in: rlETHIntent("6"), facts: func(f *policy.Facts) {
			f.Now = time.Date(2026, 3, 10, 22, 30, 0, 0, time.UTC)
		}, want: policy.Deny, rs: []rlWant{{"per_tx_max", "deny", nil}, {"quiet_hours", "approval_required", nil}}},

		// Every reason at once.
		{name: "every failing rule is listed", in: func() *policy.Intent { in := rlETHIntent("6"); in.ChainID = 5; in.To = rlBlocked; return in }(),
			facts: func(f *policy.Facts) {
				f.MaxFeePerGas = rlGwei(300)
				f.MaxFee = rlEth("1")
				f.NativeBalance, f.AssetBalance = rlEth("2"), rlEth("2")
				f.TransfersLastHour = 31
				f.WindowAuto, f.WindowTotal = rlEth("1"), rlEth("10")
				f.PaidBefore = false
			}, want: policy.Deny, rs: []rlWant{
				{"chain_id", "deny", nil}, {"recipients.deny", "deny", nil}, {"max_fee_per_gas_gwei", "deny", nil}, {"max_total_fee", "deny", nil},
				{"balance", "deny", nil}, {"per_tx_max", "deny", nil}, {"window_max", "deny", nil}, {"transfers_per_hour", "deny", nil},
				{"auto_approve_max", "approval_required", nil}, {"balance_fraction_approval", "approval_required", nil},
				{"window_auto_max", "approval_required", nil}, {"new_recipient_approval", "approval_required", nil},
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := c.policy
			if doc == "" {
				doc = base
			}
			p := rlParse(t, doc)
			f := rlFacts()
			if c.facts != nil {
				c.facts(f)
			}
			var lim *policy.Limits
			if c.lim != nil {
				lim = c.lim(p)
			} else {
				var err error
				if lim, err = p.LimitsFor(c.in); err != nil {
					t.Fatalf("LimitsFor: %v", err)
				}
			}
			d := policy.Evaluate(p, c.in, lim, f)
			rlCheck(t, d, c.want, c.rs, c.absent)
			if d.RateLimited != c.rate {
				t.Errorf("RateLimited = %v, want %v", d.RateLimited, c.rate)
			}
			// Pure: the same inputs give the same decision.
			again := policy.Evaluate(p, c.in, lim, f)
			if rlDump(again.Reasons) != rlDump(d.Reasons) || again.Verdict != d.Verdict {
				t.Errorf("a second evaluation differs")
			}
		})
	}
}

// TestEvaluatePrecompiles: 0x01–0x11 and 0x0100 are refused, their
// neighbours are not.
func TestEvaluatePrecompiles(t *testing.T) {
	p := rlParse(t, rlPolicyText())
	addr := func(v uint64) common.Address { return common.BigToAddress(new(big.Int).SetUint64(v)) }
	cases := []struct {
		name string
		to   common.Address
		want bool
	}{
		{"ecrecover 0x01", addr(0x01), true},
		{"sha256 0x02", addr(0x02), true},
		{"modexp 0x05", addr(0x05), true},
		{"blake2f 0x09", addr(0x09), true},
		{"point evaluation 0x0a", addr(0x0a), true},
		{"bls12 g1add 0x0b", addr(0x0b), true},
		{"bls12 map fp2 to g2 0x11", addr(0x11), true},
		{"p256verify 0x0100", addr(0x100), true},
		{"0x12 is not one", addr(0x12), false},
		{"0xff is not one", addr(0xff), false},
		{"0x0101 is not one", addr(0x101), false},
		{"0x010000000000000000000000000000000000000001 is not one", common.HexToAddress("0x0100000000000000000000000000000000000001"), false},
		{"zero address is its own rule", common.Address{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := policy.IsPrecompile(c.to); got != c.want {
				t.Fatalf("IsPrecompile(%s) = %v, want %v", c.to.Hex(), got, c.want)
			}
			in := rlETHIntent("0.01")
			in.To = c.to
			f := rlFacts()
			f.RecipientHasCode = false // precompiles have no code: the rule must not rely on it
			d := policy.Evaluate(p, in, &p.Native, f)
			if c.want {
				rlCheck(t, d, policy.Deny, []rlWant{{"recipient_precompile", "deny", []string{c.to.Hex(), "precompiled"}}}, nil)
			} else {
				rlCheck(t, d, d.Verdict, nil, []string{"recipient_precompile"})
			}
		})
	}
}

// TestEvaluateMissingFacts: each missing or impossible fact denies with the
// rule "internal" naming it, and the Facts the Guard passed before issue 3
// (new fields zero) deny.
func TestEvaluateMissingFacts(t *testing.T) {
	p := rlParse(t, rlPolicyText())
	cases := []struct {
		name  string
		facts func(f *policy.Facts)
		lim   func(l *policy.Limits)
		word  string
	}{
		{"nil WindowAuto", func(f *policy.Facts) { f.WindowAuto = nil }, nil, "WindowAuto"},
		{"nil WindowTotal", func(f *policy.Facts) { f.WindowTotal = nil }, nil, "WindowTotal"},
		{"nil NativeBalance", func(f *policy.Facts) { f.NativeBalance = nil }, nil, "NativeBalance"},
		{"nil MaxFee", func(f *policy.Facts) { f.MaxFee = nil }, nil, "MaxFee"},
		{"nil MaxFeePerGas", func(f *policy.Facts) { f.MaxFeePerGas = nil }, nil, "MaxFeePerGas"},
		{"zero Now", func(f *policy.Facts) { f.Now = time.Time{} }, nil, "Now"},
		{"negative window sum", func(f *policy.Facts) { f.WindowAuto = big.NewInt(-1) }, nil, "WindowAuto"},
		{"auto sum above total sum", func(f *policy.Facts) { f.WindowAuto = big.NewInt(2); f.WindowTotal = big.NewInt(1) }, nil, "WindowTotal below WindowAuto"},
		{"negative transfer count", func(f *policy.Facts) { f.TransfersLastHour = -1 }, nil, "TransfersLastHour"},
		{"code not checked", func(f *policy.Facts) { f.RecipientCodeChecked = false }, nil, "RecipientCodeChecked"},
		{"nil limit", nil, func(l *policy.Limits) { l.WindowMax = nil }, "limits"},
		{"zero window", nil, func(l *policy.Limits) { l.Window = 0 }, "limits"},
		{"pre-issue-3 facts", func(f *policy.Facts) {
			*f = policy.Facts{Now: f.Now, NativeBalance: f.NativeBalance, MaxFeePerGas: f.MaxFeePerGas, MaxFee: f.MaxFee}
		}, nil, "WindowAuto, WindowTotal, RecipientCodeChecked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := rlFacts()
			if c.facts != nil {
				c.facts(f)
			}
			lim := p.Native
			if c.lim != nil {
				c.lim(&lim)
			}
			d := policy.Evaluate(p, rlETHIntent("0.01"), &lim, f)
			if d.Verdict != policy.Deny || len(d.Reasons) != 1 || d.Reasons[0].Rule != "internal" || !strings.Contains(d.Reasons[0].Message, c.word) {
				t.Fatalf("got %v:\n%s want one internal deny naming %s", d.Verdict, rlDump(d.Reasons), c.word)
			}
		})
	}
	t.Run("token without AssetBalance", func(t *testing.T) {
		in := rlTokenIntent(rlToken, "1", 6, "USDC")
		f := rlFacts()
		f.AssetBalance = nil
		d := policy.Evaluate(p, in, &p.Tokens[0].Limits, f)
		if d.Verdict != policy.Deny || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0].Message, "AssetBalance") {
			t.Fatalf("got %v:\n%s", d.Verdict, rlDump(d.Reasons))
		}
	})
	t.Run("ETH reads NativeBalance, not AssetBalance", func(t *testing.T) {
		f := rlFacts()
		f.AssetBalance = nil
		if d := policy.Evaluate(p, rlETHIntent("0.01"), &p.Native, f); d.Verdict != policy.Allow {
			t.Fatalf("got %v:\n%s", d.Verdict, rlDump(d.Reasons))
		}
		f.AssetBalance = rlEth("1000000")
		f.NativeBalance = rlEth("0.01")
		if d := policy.Evaluate(p, rlETHIntent("0.01"), &p.Native, f); d.Verdict != policy.Deny {
			t.Fatalf("got %v:\n%s", d.Verdict, rlDump(d.Reasons))
		}
	})
	t.Run("policy without max_total_fee", func(t *testing.T) {
		q := *p
		q.MaxTotalFee = nil
		if d := policy.Evaluate(&q, rlETHIntent("0.01"), &q.Native, rlFacts()); d.Verdict != policy.Deny {
			t.Fatalf("verdict %v", d.Verdict)
		}
	})
}

// TestQuietHours: the window in its own time zone, across midnight and
// daylight saving time, injected Now.
func TestQuietHours(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		name              string
		start, end, zone  string
		now               string
		inside            bool
		localClockInWords string
	}{
		{"berlin winter before start", "22:00", "07:00", "Europe/Berlin", "2026-01-15T20:59:00Z", false, "21:59"},
		{"berlin winter at start", "22:00", "07:00", "Europe/Berlin", "2026-01-15T21:00:00Z", true, "22:00"},
		{"berlin winter after midnight", "22:00", "07:00", "Europe/Berlin", "2026-01-15T23:30:00Z", true, "00:30"},
		{"berlin winter last minute", "22:00", "07:00", "Europe/Berlin", "2026-01-16T05:59:59Z", true, "06:59"},
		{"berlin winter at end", "22:00", "07:00", "Europe/Berlin", "2026-01-16T06:00:00Z", false, "07:00"},
		{"berlin summer at start", "22:00", "07:00", "Europe/Berlin", "2026-07-15T20:00:00Z", true, "22:00"},
		{"berlin summer the UTC hour before", "22:00", "07:00", "Europe/Berlin", "2026-07-15T19:59:00Z", false, "21:59"},
		{"berlin summer at end", "22:00", "07:00", "Europe/Berlin", "2026-07-16T05:00:00Z", false, "07:00"},
		{"berlin DST switch night", "22:00", "07:00", "Europe/Berlin", "2026-03-29T01:30:00Z", true, "03:30"},
		{"berlin DST switch morning", "22:00", "07:00", "Europe/Berlin", "2026-03-29T05:00:00Z", false, "07:00"},
		{"new york office hours inside", "09:00", "17:00", "America/New_York", "2026-01-15T14:00:00Z", true, "09:00"},
		{"new york office hours end", "09:00", "17:00", "America/New_York", "2026-01-15T22:00:00Z", false, "17:00"},
		{"new york evening is outside", "09:00", "17:00", "America/New_York", "2026-01-16T03:00:00Z", false, "22:00"},
		{"tokyo across midnight", "23:00", "06:00", "Asia/Tokyo", "2026-01-15T15:00:00Z", true, "00:00"},
		{"tokyo noon", "23:00", "06:00", "Asia/Tokyo", "2026-01-15T03:00:00Z", false, "12:00"},
		{"UTC by default", "00:00", "06:00", "", "2026-01-15T05:59:00Z", true, "05:59"},
		{"UTC by default outside", "00:00", "06:00", "", "2026-01-15T06:00:00Z", false, "06:00"},
		{"one-minute window", "12:00", "12:01", "UTC", "2026-01-15T12:00:30Z", true, "12:00"},
		{"23 hours 59 minutes", "00:01", "00:00", "UTC", "2026-01-15T00:00:30Z", false, "00:00"},
		{"23 hours 59 minutes inside", "00:01", "00:00", "UTC", "2026-01-15T23:59:00Z", true, "23:59"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := rlPolicyText() + "\n[quiet_hours]\nstart = \"" + c.start + "\"\nend = \"" + c.end + "\"\n"
			zone := c.zone
			if zone != "" {
				doc += "time_zone = \"" + zone + "\"\n"
			} else {
				zone = "UTC"
			}
			p := rlParse(t, doc)
			now := utc(c.now)
			if got := p.QuietHours.Contains(now); got != c.inside {
				t.Fatalf("Contains(%s) = %v, want %v", now, got, c.inside)
			}
			f := rlFacts()
			f.Now = now
			d := policy.Evaluate(p, rlETHIntent("0.01"), &p.Native, f)
			if c.inside {
				rlCheck(t, d, policy.ApprovalRequired, []rlWant{{"quiet_hours", "approval_required", []string{c.localClockInWords, zone, c.start + "–" + c.end}}}, nil)
			} else {
				rlCheck(t, d, policy.Allow, []rlWant{{"quiet_hours", "allow", []string{c.localClockInWords, zone, "outside"}}}, nil)
			}
		})
	}
	t.Run("off by default", func(t *testing.T) {
		p := rlParse(t, rlPolicyText())
		if p.QuietHours.Enabled || p.QuietHours.Contains(rlNow) {
			t.Fatalf("quiet hours on without [quiet_hours]: %+v", p.QuietHours)
		}
	})
	t.Run("enabled without a location fails closed", func(t *testing.T) {
		q := policy.QuietHours{Enabled: true, Start: 0, End: 1}
		if !q.Contains(rlNow) {
			t.Fatal("Contains = false")
		}
	})
}

// rlLine is the 1-based line of doc that contains needle (the last one).
func rlLine(doc, needle string) int {
	n := 0
	for i, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue // a comment documents a key; it is not where the key is
		}
		if strings.Contains(l, needle) {
			n = i + 1
		}
	}
	return n
}

// TestParsePolicyIssue3Refuses: the new keys' mistakes name their line and key.
func TestParsePolicyIssue3Refuses(t *testing.T) {
	base := policy.PolicyTemplate(1337)
	quiet := func(body string) string { return base + "\n[quiet_hours]\n" + body }
	unknown := func(body string) string { return base + "\n[unknown_tokens]\n" + body }
	fees := func(v string) string {
		return strings.Replace(base, `max_fee_per_gas_gwei = "200"`, "max_fee_per_gas_gwei = \"200\"\nmax_total_fee = "+v, 1)
	}
	limits := "auto_approve_max = \"10\"\nper_tx_max = \"100\"\nwindow_auto_max = \"50\"\nwindow_max = \"500\"\n"
	cases := []struct {
		name, doc, key, line string
	}{
		{"quiet start 25:00", quiet("start = \"25:00\"\nend = \"07:00\"\n"), "quiet_hours.start", "start ="},
		{"quiet start 24:00", quiet("start = \"24:00\"\nend = \"07:00\"\n"), "quiet_hours.start", "start ="},
		{"quiet end 7:00", quiet("start = \"22:00\"\nend = \"7:00\"\n"), "quiet_hours.end", "end ="},
		{"quiet end minutes 60", quiet("start = \"22:00\"\nend = \"07:60\"\n"), "quiet_hours.end", "end ="},
		{"quiet end with seconds", quiet("start = \"22:00\"\nend = \"07:00:00\"\n"), "quiet_hours.end", "end ="},
		{"quiet start missing", quiet("end = \"07:00\"\n"), "quiet_hours.start", "[quiet_hours]"},
		{"quiet end missing", quiet("start = \"22:00\"\n"), "quiet_hours.end", "[quiet_hours]"},
		{"quiet start equals end", quiet("start = \"22:00\"\nend = \"22:00\"\n"), "quiet_hours.end", "end ="},
		{"quiet bad zone", quiet("start = \"22:00\"\nend = \"07:00\"\ntime_zone = \"Mars/Olympus_Mons\"\n"), "quiet_hours.time_zone", "time_zone ="},
		{"quiet zone Local", quiet("start = \"22:00\"\nend = \"07:00\"\ntime_zone = \"Local\"\n"), "quiet_hours.time_zone", "time_zone ="},
		{"quiet zone empty", quiet("start = \"22:00\"\nend = \"07:00\"\ntime_zone = \"\"\n"), "quiet_hours.time_zone", "time_zone ="},
		{"quiet zone path", quiet("start = \"22:00\"\nend = \"07:00\"\ntime_zone = \"../../etc/passwd\"\n"), "quiet_hours.time_zone", "time_zone ="},
		{"quiet unknown key", quiet("start = \"22:00\"\nend = \"07:00\"\ndays = [\"mon\"]\n"), "quiet_hours.days", "days ="},
		{"max_total_fee negative", fees(`"-0.05"`), "fees.max_total_fee", "max_total_fee"},
		{"max_total_fee zero", fees(`"0"`), "fees.max_total_fee", "max_total_fee"},
		{"max_total_fee words", fees(`"lots"`), "fees.max_total_fee", "max_total_fee"},
		{"max_total_fee 19 decimals", fees(`"0.0000000000000000001"`), "fees.max_total_fee", "max_total_fee"},
		{"unknown_tokens unknown key", unknown("allow = false\nsymbol = \"X\"\n"), "unknown_tokens.symbol", "symbol ="},
		{"unknown_tokens allowed without limits", unknown("allow = true\n"), "unknown_tokens.auto_approve_max", "[unknown_tokens]"},
		{"unknown_tokens allowed without per_tx_max", unknown("allow = true\n" + strings.Replace(limits, "per_tx_max = \"100\"\n", "", 1)), "unknown_tokens.per_tx_max", "[unknown_tokens]"},
		{"unknown_tokens negative limit", unknown("allow = true\n" + strings.Replace(limits, `"10"`, `"-10"`, 1)), "unknown_tokens.auto_approve_max", "auto_approve_max"},
		{"unknown_tokens contradiction", unknown("allow = true\n" + strings.Replace(limits, `per_tx_max = "100"`, `per_tx_max = "1000"`, 1)), "unknown_tokens.per_tx_max", "per_tx_max"},
		{"unknown_tokens limits checked even when not allowed", unknown("allow = false\nper_tx_max = \"100\"\n"), "unknown_tokens.auto_approve_max", "[unknown_tokens]"},
		{"unknown_tokens bad window", unknown("allow = true\nwindow = \"1y\"\n" + limits), "unknown_tokens.window", "window ="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := policy.ParsePolicy([]byte(c.doc), "")
			var pe *policy.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PolicyError", err)
			}
			if want := rlLine(c.doc, c.line); pe.Key != c.key || pe.Line != want || pe.Msg == "" {
				t.Fatalf("got key %q line %d (%v), want key %q line %d", pe.Key, pe.Line, err, c.key, want)
			}
			if strings.Contains(c.name, "zone") && strings.Contains(err.Error(), "passwd") {
				t.Errorf("the error echoes the input: %v", err)
			}
		})
	}
}

// TestParsePolicyIssue3Accepts: defaults and the values of the new keys.
func TestParsePolicyIssue3Accepts(t *testing.T) {
	base := policy.PolicyTemplate(1337)
	t.Run("defaults", func(t *testing.T) {
		p := rlParse(t, base)
		if p.MaxTotalFee == nil || p.MaxTotalFee.Cmp(rlEth(policy.DefaultMaxTotalFee)) != 0 || policy.DefaultMaxTotalFee != "0.05" {
			t.Errorf("MaxTotalFee = %v, want 0.05 ETH", p.MaxTotalFee)
		}
		if p.QuietHours.Enabled || p.UnknownTokens.Allow || p.UnknownTokens.Limits.PerTxMax != nil {
			t.Errorf("quiet hours %+v, unknown tokens %+v: want off and refused", p.QuietHours, p.UnknownTokens)
		}
		if _, err := p.UnknownTokens.LimitsFor(18); err == nil {
			t.Errorf("LimitsFor succeeded with unknown tokens refused")
		}
		if p.LongestWindow() != 24*time.Hour {
			t.Errorf("LongestWindow = %v", p.LongestWindow())
		}
	})
	t.Run("max_total_fee", func(t *testing.T) {
		p := rlParse(t, strings.Replace(base, `max_fee_per_gas_gwei = "200"`, "max_fee_per_gas_gwei = \"200\"\nmax_total_fee = \"0.001\"", 1))
		if p.MaxTotalFee.Cmp(rlEth("0.001")) != 0 {
			t.Errorf("MaxTotalFee = %v", p.MaxTotalFee)
		}
	})
	t.Run("quiet hours", func(t *testing.T) {
		p := rlParse(t, base+"\n[quiet_hours]\nstart = \"22:30\"\nend = \"07:15\"\ntime_zone = \"Europe/Berlin\"\n")
		q := p.QuietHours
		if !q.Enabled || q.Start != 22*60+30 || q.End != 7*60+15 || q.Zone != "Europe/Berlin" || q.Location == nil || q.Location.String() != "Europe/Berlin" {
			t.Errorf("quiet hours = %+v", q)
		}
		if q.String() != "22:30–07:15 Europe/Berlin" {
			t.Errorf("String() = %q", q.String())
		}
	})
	t.Run("unknown tokens in their own decimals", func(t *testing.T) {
		p := rlParse(t, base+"\n[unknown_tokens]\nallow = true\nauto_approve_max = \"0.5\"\nper_tx_max = \"100.25\"\nwindow = \"48h\"\nwindow_auto_max = \"50\"\nwindow_max = \"500\"\nbalance_fraction_approval = \"0.5\"\n")
		if p.LongestWindow() != 48*time.Hour {
			t.Errorf("LongestWindow = %v, want the unknown tokens' 48h", p.LongestWindow())
		}
		for _, c := range []struct {
			dec         int
			auto, perTx string
		}{{18, "0.5", "100.25"}, {6, "0.5", "100.25"}, {1, "0.5", "100.2"}, {0, "0", "100"}, {36, "0.5", "100.25"}} {
			l, err := p.UnknownTokens.LimitsFor(c.dec)
			if err != nil {
				t.Fatalf("LimitsFor(%d): %v", c.dec, err)
			}
			if got := policy.FormatAmount(l.AutoApproveMax, c.dec); got != c.auto {
				t.Errorf("decimals %d: auto_approve_max %s, want %s (rounded down)", c.dec, got, c.auto)
			}
			if got := policy.FormatAmount(l.PerTxMax, c.dec); got != c.perTx {
				t.Errorf("decimals %d: per_tx_max %s, want %s", c.dec, got, c.perTx)
			}
			if l.Window != 48*time.Hour || l.BalanceFractionApproval.Cmp(big.NewRat(1, 2)) != 0 {
				t.Errorf("decimals %d: window %v fraction %v", c.dec, l.Window, l.BalanceFractionApproval)
			}
		}
		for _, dec := range []int{-1, 37, 255} {
			if _, err := p.UnknownTokens.LimitsFor(dec); err == nil {
				t.Errorf("LimitsFor(%d) succeeded", dec)
			}
		}
	})
	t.Run("LimitsFor picks the asset's limits", func(t *testing.T) {
		p := rlParse(t, rlPolicyText())
		if l, err := p.LimitsFor(rlETHIntent("1")); err != nil || l != &p.Native {
			t.Errorf("ETH: %v %v", l, err)
		}
		if l, err := p.LimitsFor(rlTokenIntent(rlToken, "1", 6, "USDC")); err != nil || l != &p.Tokens[0].Limits {
			t.Errorf("USDC: %v %v", l, err)
		}
		for name, in := range map[string]*policy.Intent{
			"unknown token":         rlTokenIntent(rlUnknown, "1", 18, "X"),
			"USDC with 18 decimals": rlTokenIntent(rlToken, "1", 18, "USDC"),
			"mixed-case asset": func() *policy.Intent {
				in := rlTokenIntent(rlToken, "1", 6, "USDC")
				in.Asset = rlToken.Hex()
				return in
			}(),
			"symbol as asset": func() *policy.Intent { in := rlTokenIntent(rlToken, "1", 6, "USDC"); in.Asset = "USDC"; return in }(),
		} {
			if _, err := p.LimitsFor(in); err == nil {
				t.Errorf("%s: LimitsFor succeeded", name)
			}
		}
	})
}
