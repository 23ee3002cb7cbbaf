package approval

import (
	"context"
	"errors"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/policy"
)

// assetRef is a resolved asset argument.
type assetRef struct {
	// key is NativeSymbol or the token's lowercase 0x address (the store's asset key).
	key      string
	symbol   string
	decimals int
	token    *common.Address
	// untrusted is set when symbol was read from the chain (unknown tokens).
	untrusted bool
}

// resolveAsset turns an asset argument into an asset: "ETH" (or empty), a
// token symbol configured in the policy, or a token contract address. Tokens
// must have code; a configured token's on-chain decimals must match the
// policy; a token not in the policy is refused unless [unknown_tokens] allows
// it or the asset is only read (forRead).
func (g *Guard) resolveAsset(ctx context.Context, field, s string, forRead bool) (*assetRef, error) {
	if s == "" || strings.EqualFold(s, policy.NativeSymbol) {
		return &assetRef{key: policy.NativeSymbol, symbol: policy.NativeSymbol, decimals: policy.NativeDecimals}, nil
	}
	p := g.cfg.Policy
	var addr common.Address
	var tok *policy.Token
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		a, err := policy.ParseAddress(field, s)
		if err != nil {
			return nil, err
		}
		addr = a
		tok, _ = p.TokenByAddress(addr)
	} else {
		t, ok := p.Token(s)
		if !ok {
			return nil, policy.Errorf(policy.CodeInvalidArgument, "%s: unknown asset symbol (use ETH, a token symbol from get_policy, or a token contract address)", field)
		}
		tok, addr = t, t.Address
	}
	if tok == nil && !p.UnknownTokens.Allow && !forRead {
		return nil, policy.Errorf(policy.CodePolicyDenied, "%s: token %s is not in the policy, and the policy refuses unknown tokens", field, addr.Hex())
	}
	code, err := g.cfg.Chain.CodeAt(ctx, addr)
	if err != nil {
		return nil, policy.Errorf(policy.CodeChainError, "reading the token contract failed: %s", chainMsg(err))
	}
	if len(code) == 0 {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "%s: there is no contract at %s on this chain", field, addr.Hex())
	}
	dec, err := erc20.Decimals(ctx, g.cfg.Chain, addr)
	if err != nil {
		if errors.Is(err, erc20.ErrBadResponse) || errors.Is(err, erc20.ErrNoCode) {
			return nil, policy.Errorf(policy.CodePolicyDenied, "%s: %s does not answer decimals() like an ERC-20 token", field, addr.Hex())
		}
		return nil, policy.Errorf(policy.CodeChainError, "reading the token's decimals failed: %s", chainMsg(err))
	}
	ref := &assetRef{key: lowerHex(addr), decimals: int(dec), token: &addr}
	if tok != nil {
		if int(dec) != tok.Decimals {
			return nil, policy.Errorf(policy.CodePolicyDenied, "%s: the token reports %d decimals on chain but the policy configures %d; fix the policy", field, dec, tok.Decimals)
		}
		ref.symbol = tok.Symbol
		return ref, nil
	}
	md, err := erc20.ReadMetadata(ctx, g.cfg.Chain, addr)
	if err != nil {
		return nil, policy.Errorf(policy.CodePolicyDenied, "%s: the token's metadata could not be read; configure it in the policy to use it", field)
	}
	ref.symbol, ref.untrusted = "untrusted:"+md.Symbol, true
	return ref, nil
}

// Which accounts a request may spend from (resolveFor).
type accountKind int

const (
	keyedAccount   accountKind = iota // the server holds its key (send_transfer)
	offlineAccount                    // its key is on an offline device (create_offline_request)
	anyAccount                        // either (prepare_transfer: nothing is signed)
)

// resolve parses the arguments into an intent and the limits of its asset;
// from must be an account whose key the server holds.
func (g *Guard) resolve(ctx context.Context, args TransferArgs) (*policy.Intent, *policy.Limits, error) {
	return g.resolveFor(ctx, args, keyedAccount)
}

// resolveFor is resolve for the accounts of kind.
func (g *Guard) resolveFor(ctx context.Context, args TransferArgs, kind accountKind) (*policy.Intent, *policy.Limits, error) {
	from, err := policy.ParseAddress("from", args.From)
	if err != nil {
		return nil, nil, err
	}
	to, err := policy.ParseAddress("to", args.To)
	if err != nil {
		return nil, nil, err
	}
	if args.IdempotencyKey != "" {
		if err := policy.ValidateIdempotencyKey(args.IdempotencyKey); err != nil {
			return nil, nil, err
		}
	}
	if err := g.checkAccount(from, kind); err != nil {
		return nil, nil, err
	}
	// Parse the amount before any chain call when the asset is ETH, so bad
	// input is refused without touching the node.
	if args.Asset == "" || strings.EqualFold(args.Asset, policy.NativeSymbol) {
		if _, err := policy.ParseAmount("amount", args.Amount, policy.NativeDecimals); err != nil {
			return nil, nil, err
		}
	} else if _, err := policy.ParseAmount("amount", args.Amount, policy.UnknownTokenScale); err != nil {
		return nil, nil, err
	}
	a, err := g.resolveAsset(ctx, "asset", args.Asset, false)
	if err != nil {
		return nil, nil, err
	}
	v, err := policy.ParseAmount("amount", args.Amount, a.decimals)
	if err != nil {
		return nil, nil, err
	}
	return g.intentFor(from, to, a, v)
}

// intentFor builds the intent of a transfer of v base units of asset a, with
// the token calldata when it is a token.
func (g *Guard) intentFor(from, to common.Address, a *assetRef, v *big.Int) (*policy.Intent, *policy.Limits, error) {
	var err error
	in := &policy.Intent{ChainID: g.cfg.Policy.ChainID, From: from, To: to, Asset: a.key, Amount: v, Decimals: a.decimals, Symbol: a.symbol}
	if a.token != nil {
		if to == (common.Address{}) {
			// erc20 refuses to encode it; the policy's verdict names the rule.
			in.Calldata = nil
		} else if in.Calldata, err = erc20.TransferCalldata(to, v); err != nil {
			return nil, nil, policy.Errorf(policy.CodeInvalidArgument, "to: cannot be encoded as a token transfer")
		}
	}
	lim, err := g.cfg.Policy.LimitsFor(in)
	if err != nil {
		return nil, nil, err
	}
	return in, lim, nil
}

// checkAccount refuses a sender that is not an account of kind.
func (g *Guard) checkAccount(from common.Address, kind accountKind) error {
	_, keyed := g.cfg.Keys.Signer(from)
	_, off := g.cfg.Offline[from]
	switch {
	case keyed && kind != offlineAccount, off && kind != keyedAccount:
		return nil
	case off:
		return policy.Errorf(policy.CodeUnsupported, "from: %s is an offline account (its key is on an air-gapped device): use create_offline_request", from.Hex())
	case keyed:
		return policy.Errorf(policy.CodeUnsupported, "from: %s is not an offline account: use send_transfer", from.Hex())
	}
	return policy.Errorf(policy.CodeUnknownAccount, "from: this server holds no key for %s", from.Hex())
}
