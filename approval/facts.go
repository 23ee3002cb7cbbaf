package approval

import (
	"context"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/policy"
)

// Gas limits used when estimation fails (the policy then decides; a failing
// estimate usually means the transfer would revert, which the balance rules
// catch first).
const (
	gasLimitETH   = 21000
	gasLimitToken = 120000
)

// chainFacts are what the Guard reads from the chain before it decides, and
// the fee terms of the transaction it would sign.
type chainFacts struct {
	nativeBalance *big.Int
	assetBalance  *big.Int
	hasCode       bool
	gas           uint64
	tipCap        *big.Int
	feeCap        *big.Int
	baseFee       *big.Int
	// nonceFloor is the node's pending nonce for the sender, read only
	// when a transfer is about to be reserved.
	nonceFloor uint64
	// exactNonce, when set, is the only nonce the reservation may take
	// (an offline request's transaction was signed with it).
	exactNonce *uint64
}

// readChain gathers balances, recipient code and fee terms. It takes no lock:
// limits that depend on other requests are checked under the account lock.
func (g *Guard) readChain(ctx context.Context, in *policy.Intent) (*chainFacts, error) {
	f := &chainFacts{}
	var err error
	if f.nativeBalance, _, err = g.cfg.Chain.Balance(ctx, in.From); err != nil {
		return nil, policy.Errorf(policy.CodeChainError, "reading the balance failed: %s", chainMsg(err))
	}
	f.assetBalance = f.nativeBalance
	tok := in.TokenAddress()
	if tok != nil {
		if f.assetBalance, err = erc20.BalanceOf(ctx, g.cfg.Chain, *tok, in.From); err != nil {
			return nil, policy.Errorf(policy.CodeChainError, "reading the token balance failed: %s", chainMsg(err))
		}
	}
	code, err := g.cfg.Chain.CodeAt(ctx, in.To)
	if err != nil {
		return nil, policy.Errorf(policy.CodeChainError, "reading the recipient failed: %s", chainMsg(err))
	}
	f.hasCode = len(code) > 0
	fees, err := g.cfg.Chain.SuggestFees(ctx)
	if err != nil {
		return nil, policy.Errorf(policy.CodeChainError, "reading fees failed: %s", chainMsg(err))
	}
	msg := ethereum.CallMsg{From: in.From, To: &in.To, Value: in.Amount}
	f.gas = gasLimitETH
	if tok != nil {
		msg = ethereum.CallMsg{From: in.From, To: tok, Value: new(big.Int), Data: in.Calldata}
		f.gas = gasLimitToken
	}
	// Ether to an account without code runs no code: on Ethereum the
	// transaction takes exactly its intrinsic gas, and the estimate (a node
	// round trip) is skipped. Precompiles and system addresses have no code
	// either but run some: the low addresses are always estimated, as is
	// every chain not known to charge that way.
	plain := tok == nil && !f.hasCode && !lowAddress(in.To) && intrinsicOnlyChains[in.ChainID]
	if !plain {
		if est, err := g.cfg.Chain.EstimateGas(ctx, msg); err == nil && est > 0 {
			if tok != nil || est > f.gas {
				// A margin for state that changes between estimate and inclusion.
				f.gas = est + est/5
			}
		}
	}
	f.tipCap = new(big.Int).Set(fees.TipCap)
	f.feeCap = new(big.Int).Set(fees.FeeCap)
	f.baseFee = new(big.Int).Set(fees.BaseFee)
	// Stay under the policy's cap when the network allows it.
	if f.feeCap.Cmp(g.cfg.Policy.MaxFeePerGas) > 0 {
		minNeeded := new(big.Int).Add(fees.BaseFee, f.tipCap)
		if minNeeded.Cmp(g.cfg.Policy.MaxFeePerGas) <= 0 {
			f.feeCap.Set(g.cfg.Policy.MaxFeePerGas)
		}
	}
	if f.tipCap.Cmp(f.feeCap) > 0 {
		f.tipCap.Set(f.feeCap)
	}
	return f, nil
}

// intrinsicOnlyChains are the chains on which ether sent to an account
// without code takes exactly 21,000 gas: Ethereum, its public testnets
// (Sepolia, Holesky, Hoodi) and local development chains (geth --dev and the
// embedded chain 1337, Anvil and Hardhat 31337). A layer-2 chain may charge
// its L1 costs in gas units (Arbitrum does: a plain transfer needs more),
// so any other chain is estimated.
var intrinsicOnlyChains = map[uint64]bool{1: true, 11155111: true, 17000: true, 560048: true, 1337: true, 31337: true}

// lowAddress reports whether a is at most 0xffff, where precompiles and
// chains' system contracts (some of them without code) live.
func lowAddress(a common.Address) bool {
	for _, b := range a[:common.AddressLength-2] {
		if b != 0 {
			return false
		}
	}
	return true
}

// capFee lowers the fee terms so that gas × max fee per gas is at most
// ceiling, when that still pays the latest base fee and the tip. It reports
// whether the terms fit under the ceiling.
func (f *chainFacts) capFee(ceiling *big.Int) bool {
	if f.maxFee().Cmp(ceiling) <= 0 {
		return true
	}
	capped := new(big.Int).Quo(ceiling, new(big.Int).SetUint64(f.gas))
	if capped.Cmp(new(big.Int).Add(f.baseFee, f.tipCap)) < 0 {
		return false
	}
	f.feeCap = capped
	return true
}

// maxFee is gas limit × max fee per gas.
func (f *chainFacts) maxFee() *big.Int {
	return new(big.Int).Mul(f.feeCap, new(big.Int).SetUint64(f.gas))
}

// decide evaluates the policy with the chain facts and the ledger at now.
// Called inside the reservation's store transaction (or after a catch-up,
// for a verdict that reserves nothing), so the window sums include every
// spend reserved by any process before it. paid says whether the sender
// paid the recipient before; frozen that a severe anomaly froze the
// sender's automatic approval. outstanding (nil: none) is what offline
// requests the wallet does not count yet may still spend in the asset
// (offlineExposure): it counts in the window's total.
func (g *Guard) decide(in *policy.Intent, lim *policy.Limits, cf *chainFacts, paid, frozen bool, now time.Time, outstanding *big.Int) *plan {
	auto, total := g.ledger.Sums(in.From, in.Asset, lim.Window, now)
	if total != nil && outstanding != nil {
		total = new(big.Int).Add(total, outstanding)
	}
	f := &policy.Facts{
		Now: now, NativeBalance: cf.nativeBalance, AssetBalance: cf.assetBalance,
		MaxFeePerGas: cf.feeCap, MaxFee: cf.maxFee(), TransfersLastHour: g.ledger.CountSince(now.Add(-time.Hour)),
		WindowAuto: auto, WindowTotal: total, PaidBefore: paid,
		RecipientHasCode: cf.hasCode, RecipientCodeChecked: true, Frozen: frozen,
	}
	d := policy.Evaluate(g.cfg.Policy, in, lim, f)
	d.Summary = policy.NewSummary(in, f.MaxFee)
	return &plan{intent: in, decision: d, gas: cf.gas, tipCap: cf.tipCap, feeCap: cf.feeCap, autoMax: lim.AutoApproveMax}
}

// maxFee is the most the plan's transaction can pay in fees (wei).
func (p *plan) maxFee() *big.Int {
	return new(big.Int).Mul(p.feeCap, new(big.Int).SetUint64(p.gas))
}
