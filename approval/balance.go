package approval

import (
	"context"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/policy"
)

// BalanceInfo is an address's balance of one asset at one block;
// mcpserver renders it.
type BalanceInfo struct {
	Address  common.Address
	ChainID  uint64
	Symbol   string          // ETH, the policy's symbol, or untrusted:<symbol read from the chain, sanitised>
	Decimals int             // the asset's decimals
	Contract *common.Address // the token contract; nil for ETH
	Amount   *big.Int        // base units (wei, token units)
	Block    uint64
}

// Balance reads address's balance of asset ("ETH", a policy token symbol or
// a token contract address). Reading an unknown token is allowed (it moves
// nothing); its symbol is sanitised and marked untrusted. It feeds no
// decision, so its chain reads may be answered at a head the node pushed
// (chain.AtPushedHead).
func (g *Guard) Balance(ctx context.Context, address, asset string) (*BalanceInfo, error) {
	ctx = chain.AtPushedHead(ctx)
	addr, err := policy.ParseAddress("address", address)
	if err != nil {
		return nil, err
	}
	ref, err := g.resolveAsset(ctx, "asset", asset, true)
	if err != nil {
		return nil, err
	}
	wei, block, err := g.cfg.Chain.Balance(ctx, addr)
	if err != nil {
		return nil, policy.Errorf(policy.CodeChainError, "reading the balance failed: %s", chainMsg(err))
	}
	bal := wei
	v := &BalanceInfo{Address: addr, ChainID: g.cfg.Policy.ChainID, Block: block, Symbol: ref.symbol, Decimals: ref.decimals}
	if ref.token != nil {
		c := *ref.token
		v.Contract = &c
		if bal, err = erc20.BalanceOf(ctx, g.cfg.Chain, *ref.token, addr); err != nil {
			return nil, policy.Errorf(policy.CodeChainError, "reading the token balance failed: %s", chainMsg(err))
		}
	}
	v.Amount = new(big.Int).Set(bal)
	return v, nil
}
