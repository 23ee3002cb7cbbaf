package approval

import (
	"context"
	"math/big"

	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/policy"
)

// AssetView describes an asset in tool output.
type AssetView struct {
	Symbol   string `json:"symbol" jsonschema:"ETH, the policy's symbol, or untrusted:<symbol read from the chain, sanitised>"`
	Decimals int    `json:"decimals"`
	Contract string `json:"contract,omitempty"`
}

// BalanceView is an address's balance of one asset.
type BalanceView struct {
	Address          string    `json:"address"`
	ChainID          uint64    `json:"chain_id"`
	Asset            AssetView `json:"asset"`
	Balance          string    `json:"balance" jsonschema:"decimal string in the asset's units"`
	BalanceBaseUnits string    `json:"balance_base_units" jsonschema:"integer string in base units (wei, token units)"`
	BlockNumber      uint64    `json:"block_number"`
}

// Balance reads address's balance of asset ("ETH", a policy token symbol or
// a token contract address). Reading an unknown token is allowed (it moves
// nothing); its symbol is sanitised and marked untrusted.
func (g *Guard) Balance(ctx context.Context, address, asset string) (*BalanceView, error) {
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
	v := &BalanceView{Address: addr.Hex(), ChainID: g.cfg.Policy.ChainID, BlockNumber: block,
		Asset: AssetView{Symbol: ref.symbol, Decimals: ref.decimals}}
	if ref.token != nil {
		v.Asset.Contract = ref.token.Hex()
		if bal, err = erc20.BalanceOf(ctx, g.cfg.Chain, *ref.token, addr); err != nil {
			return nil, policy.Errorf(policy.CodeChainError, "reading the token balance failed: %s", chainMsg(err))
		}
	}
	v.Balance, v.BalanceBaseUnits = policy.FormatAmount(bal, ref.decimals), new(big.Int).Set(bal).String()
	return v, nil
}
