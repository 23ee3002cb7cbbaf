package policy_test

import (
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/policy"
)

// prBig returns a uniform integer in [0, max].
func prBig(r *rand.Rand, max *big.Int) *big.Int {
	if max.Sign() <= 0 {
		return new(big.Int)
	}
	v := new(big.Int)
	for i := 0; i <= max.BitLen()/64; i++ {
		v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(r.Uint64()))
	}
	return v.Mod(v, new(big.Int).Add(max, big.NewInt(1)))
}

func prAdd(a, b *big.Int) *big.Int { return new(big.Int).Add(a, b) }

// prNear picks a value near one of the limits (equal, one above, one below)
// or anywhere up to twice per_tx_max, so boundaries are hit often.
func prNear(r *rand.Rand, lim *policy.Limits, rest ...*big.Int) *big.Int {
	marks := append([]*big.Int{lim.AutoApproveMax, lim.PerTxMax, lim.WindowAutoMax, lim.WindowMax}, rest...)
	m := marks[r.IntN(len(marks))]
	switch r.IntN(4) {
	case 0:
		return new(big.Int).Set(m)
	case 1:
		return prAdd(m, big.NewInt(1))
	case 2:
		if m.Sign() > 0 {
			return new(big.Int).Sub(m, big.NewInt(1))
		}
	}
	return prAdd(prBig(r, new(big.Int).Mul(lim.PerTxMax, big.NewInt(2))), big.NewInt(1))
}

// prLimits returns random limits in ParsePolicy's invariants.
func prLimits(r *rand.Rand, unit *big.Int) policy.Limits {
	perTx := prAdd(prBig(r, new(big.Int).Mul(unit, big.NewInt(100))), big.NewInt(1))
	auto := prBig(r, perTx)
	windowMax := prAdd(perTx, prBig(r, new(big.Int).Mul(unit, big.NewInt(100))))
	windowAuto := prAdd(auto, prBig(r, new(big.Int).Sub(windowMax, auto)))
	return policy.Limits{
		AutoApproveMax: auto, PerTxMax: perTx, WindowAutoMax: windowAuto, WindowMax: windowMax,
		BalanceFractionApproval: big.NewRat(int64(r.IntN(1_000_000)+1), 1_000_000),
		Window:                  time.Duration(r.IntN(744)+1) * time.Hour,
	}
}

var prRank = map[string]policy.Verdict{"deny": policy.Deny, "approval_required": policy.ApprovalRequired, "allow": policy.Allow}

// TestEvaluateInvariants checks, over 3000 random policies, intents and facts
// (seeded, so a failure reproduces with its case number), that nothing above
// per_tx_max, outside an allowlist, beyond window_max, on another chain, to
// a denied, zero, precompile or own address, in an unknown token, or as ETH
// to an unlisted contract is ever allowed or sent for approval; that an
// allowed transfer passed every approval rule; that the verdict is the
// strictest of its reasons; and that it never gets more permissive as the
// amount grows.
func TestEvaluateInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 20260310))
	base := rlParse(t, rlPolicyText()+"\n[quiet_hours]\nstart = \"22:00\"\nend = \"07:00\"\ntime_zone = \"Europe/Berlin\"\n")
	unknownLimits := prLimits(r, big.NewInt(1e18))
	recipients := []common.Address{rlTo, rlListed, rlBlocked, rlFrom, rlToken, {}, common.BigToAddress(big.NewInt(0x100)), common.BigToAddress(big.NewInt(7))}
	const cases = 3000
	for i := 0; i < cases; i++ {
		p := *base
		p.Recipients.Mode = []string{"any", "allowlist"}[r.IntN(2)]
		p.Recipients.NewRecipientApproval = r.IntN(2) == 0
		p.QuietHours.Enabled = r.IntN(3) == 0
		p.MaxTotalFee = prAdd(prBig(r, rlEth("0.1")), big.NewInt(1))
		p.TransfersPerHour = r.IntN(50) + 1
		p.UnknownTokens = policy.UnknownTokens{Allow: r.IntN(2) == 0, Limits: unknownLimits}

		var in *policy.Intent
		var lim policy.Limits
		switch r.IntN(6) {
		case 0, 1, 2:
			in = rlETHIntent("1")
			lim = prLimits(r, rlEth("1"))
			p.Native = lim
		case 3, 4:
			in = rlTokenIntent(rlToken, "1", 6, "USDC")
			lim = prLimits(r, rlUSDC("1"))
			p.Tokens = []policy.Token{{Symbol: "USDC", Address: rlToken, Decimals: 6, Limits: lim}}
		default:
			in = rlTokenIntent(rlUnknown, "1", r.IntN(19), "X")
			if l, err := p.UnknownTokens.LimitsFor(in.Decimals); err == nil {
				lim = *l
			} else {
				lim = prLimits(r, big.NewInt(1000)) // the Guard would have refused; Evaluate must too
			}
		}
		// Each way to fail is rare, so that all three verdicts are common.
		bad := func() bool { return r.IntN(12) == 0 }
		in.To = rlTo
		if p.Recipients.Mode == "allowlist" && r.IntN(8) > 0 {
			in.To = rlListed
		}
		if bad() {
			in.To = recipients[r.IntN(len(recipients))]
		}
		if bad() {
			in.ChainID = uint64(r.IntN(5))
		}
		if !bad() {
			p.MaxTotalFee = rlEth("0.05")
		}
		f := &policy.Facts{
			Now:               time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour)))),
			MaxFeePerGas:      prAdd(prBig(r, rlGwei(199)), big.NewInt(1)),
			TransfersLastHour: r.IntN(p.TransfersPerHour),
			PaidBefore:        r.IntN(3) > 0, RecipientHasCode: bad(), RecipientCodeChecked: true,
		}
		if bad() {
			f.MaxFeePerGas = prAdd(prBig(r, rlGwei(300)), big.NewInt(1))
		}
		if bad() {
			f.TransfersLastHour = r.IntN(60)
		}
		f.MaxFee = new(big.Int).Mul(f.MaxFeePerGas, big.NewInt(int64(21000+r.IntN(200000))))
		f.WindowAuto = prBig(r, lim.WindowAutoMax)
		f.WindowTotal = new(big.Int).Set(f.WindowAuto)
		if room := new(big.Int).Sub(lim.WindowMax, lim.PerTxMax); room.Cmp(f.WindowAuto) > 0 {
			f.WindowTotal = prAdd(f.WindowAuto, prBig(r, room.Sub(room, f.WindowAuto)))
		}
		if bad() {
			f.WindowAuto = prNear(r, &lim)
			f.WindowTotal = prAdd(f.WindowAuto, prNear(r, &lim))
		}
		rich := new(big.Int).Mul(lim.PerTxMax, big.NewInt(int64(3+r.IntN(20))))
		f.NativeBalance = prAdd(rlEth("1"), rich)
		if bad() {
			f.NativeBalance = prBig(r, rlEth("50"))
		}
		f.AssetBalance = f.NativeBalance
		if in.Asset != policy.NativeSymbol {
			f.AssetBalance = rich
			if bad() {
				f.AssetBalance = prNear(r, &lim)
			}
		}

		pick := func() *big.Int {
			if r.IntN(2) == 0 && lim.AutoApproveMax.Sign() > 0 {
				return prAdd(prBig(r, new(big.Int).Sub(lim.AutoApproveMax, big.NewInt(1))), big.NewInt(1))
			}
			if a := prNear(r, &lim); a.Sign() > 0 {
				return a
			}
			return big.NewInt(1)
		}
		a1, a2 := pick(), pick()
		if a1.Cmp(a2) > 0 {
			a1, a2 = a2, a1
		}
		var prev policy.Verdict = policy.Allow
		for _, amount := range []*big.Int{a1, a2} {
			c := *in
			c.Amount = amount
			d := policy.Evaluate(&p, &c, &lim, f)
			fail := func(why string) {
				t.Helper()
				t.Fatalf("case %d: %s, got %v for amount %s of %s to %s:\n%s", i, why, d.Verdict, amount, c.Asset, c.To.Hex(), rlDump(d.Reasons))
			}
			mustDeny := func(cond bool, why string) {
				t.Helper()
				if cond && d.Verdict != policy.Deny {
					fail(why + " must deny")
				}
			}
			mustDeny(amount.Cmp(lim.PerTxMax) > 0, "above per_tx_max")
			mustDeny(p.Recipients.Mode == "allowlist" && !p.Recipients.Allow[c.To], "outside the allowlist")
			mustDeny(prAdd(f.WindowTotal, amount).Cmp(lim.WindowMax) > 0, "beyond window_max")
			mustDeny(c.ChainID != p.ChainID, "another chain")
			mustDeny(p.Recipients.Deny[c.To], "a denied recipient")
			mustDeny(c.To == (common.Address{}) || c.To == c.From || policy.IsPrecompile(c.To), "zero, self or precompile")
			mustDeny(c.Asset == strings.ToLower(c.To.Hex()), "the token contract itself")
			mustDeny(c.Asset == strings.ToLower(rlUnknown.Hex()) && !p.UnknownTokens.Allow, "an unknown token")
			mustDeny(c.Asset == policy.NativeSymbol && f.RecipientHasCode && !p.Recipients.Allow[c.To], "ETH to an unlisted contract")
			mustDeny(f.TransfersLastHour >= p.TransfersPerHour, "over transfers_per_hour")
			mustDeny(f.MaxFee.Cmp(p.MaxTotalFee) > 0 || f.MaxFeePerGas.Cmp(p.MaxFeePerGas) > 0, "over a fee cap")
			if d.Verdict == policy.Allow {
				share := new(big.Rat).Mul(lim.BalanceFractionApproval, new(big.Rat).SetInt(f.AssetBalance))
				switch {
				case amount.Cmp(lim.AutoApproveMax) > 0:
					fail("allowed above auto_approve_max")
				case prAdd(f.WindowAuto, amount).Cmp(lim.WindowAutoMax) > 0:
					fail("allowed beyond window_auto_max")
				case new(big.Rat).SetInt(amount).Cmp(share) > 0:
					fail("allowed above balance_fraction_approval")
				case p.Recipients.NewRecipientApproval && !f.PaidBefore:
					fail("allowed to a new recipient")
				case p.QuietHours.Contains(f.Now):
					fail("allowed in quiet hours")
				}
			}
			if len(d.Reasons) == 0 {
				fail("no reasons")
			}
			strictest := policy.Allow
			for _, rs := range d.Reasons {
				v, ok := prRank[rs.Verdict]
				if !ok || rs.Rule == "" || rs.Message == "" {
					fail("malformed reason")
				}
				strictest = min(strictest, v)
			}
			if strictest != d.Verdict {
				fail("verdict is not the strictest reason")
			}
			if d.RateLimited && d.Verdict != policy.Deny {
				fail("rate limited but not denied")
			}
			if d.Verdict > prev {
				fail("more permissive for a larger amount (previous " + prev.String() + ")")
			}
			prev = d.Verdict
		}
	}
}

// TestEvaluateMonotoneInAmount walks amounts upwards over fixed facts: the
// verdict may only get stricter.
func TestEvaluateMonotoneInAmount(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 7))
	p := rlParse(t, rlPolicyText())
	for i := 0; i < 2000; i++ {
		f := rlFacts()
		f.WindowAuto = prBig(r, rlEth("1.2"))
		f.WindowTotal = prAdd(f.WindowAuto, prBig(r, rlEth("10")))
		f.NativeBalance = prBig(r, rlEth("30"))
		f.AssetBalance = f.NativeBalance
		f.PaidBefore = r.IntN(2) == 0
		amount := big.NewInt(1)
		prev := policy.Allow
		for step := 0; step < 12; step++ {
			in := rlETHIntent("1")
			in.Amount = amount
			v := policy.Evaluate(p, in, &p.Native, f).Verdict
			if v > prev {
				t.Fatalf("case %d: amount %s gives %v after %v for a smaller amount", i, amount, v, prev)
			}
			prev = v
			amount = prAdd(amount, prBig(r, rlEth("1")))
		}
	}
}
