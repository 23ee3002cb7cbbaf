package offline

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/signer"
)

// ErrWrongAccount is returned by Sign when the request names an address
// other than the signing key's.
var ErrWrongAccount = errors.New("offline: the request is for another account")

// TxSummary is what an offline signer shows before signing a typed
// transaction request: every field that moves value or costs fees.
type TxSummary struct {
	// ChainID is the transaction's chain id.
	ChainID uint64
	// From is the request's address (nil when the request names none).
	From *common.Address
	// To is who receives the value: the transaction's recipient, or for an
	// ERC-20 transfer the token's recipient.
	To common.Address
	// Token is the ERC-20 contract of a token transfer, nil for ether.
	Token *common.Address
	// Amount is the value moved: wei, or the token's base units.
	Amount *big.Int
	// Value is the ether sent with the transaction in wei (non-zero with a
	// token transfer is unusual and worth a warning).
	Value *big.Int
	// OtherCall is true when the transaction carries calldata that is not
	// an ERC-20 transfer: the summary cannot say what it does.
	OtherCall bool
	// Nonce is the transaction's nonce.
	Nonce uint64
	// Gas is the gas limit.
	Gas uint64
	// MaxFeePerGas and MaxPriorityFeePerGas are the EIP-1559 fee caps in wei.
	MaxFeePerGas, MaxPriorityFeePerGas *big.Int
	// MaxFee is Gas × MaxFeePerGas: the most the transaction can cost in fees, in wei.
	MaxFee *big.Int
}

// Summarize decodes a typed-transaction request into a TxSummary (see Tx
// for what is refused).
func Summarize(r *SignRequest) (*TxSummary, error) {
	tx, err := r.Tx()
	if err != nil {
		return nil, err
	}
	s := &TxSummary{
		ChainID: r.ChainID, From: r.Address, To: *tx.To(), Amount: tx.Value(), Value: tx.Value(),
		Nonce: tx.Nonce(), Gas: tx.Gas(), MaxFeePerGas: tx.GasFeeCap(), MaxPriorityFeePerGas: tx.GasTipCap(),
		MaxFee: new(big.Int).Mul(new(big.Int).SetUint64(tx.Gas()), tx.GasFeeCap()),
	}
	if len(tx.Data()) > 0 {
		if to, amount, err := erc20.DecodeTransfer(tx.Data()); err == nil {
			token := *tx.To()
			s.Token, s.To, s.Amount = &token, to, amount
		} else {
			s.OtherCall = true
		}
	}
	return s, nil
}

// Sign signs a typed-transaction request with s, as an offline signer does:
// it refuses a request that does not decode to an EIP-1559 transaction or
// that names another address, signs keccak256(sign-data) (the
// transaction's EIP-1559 signing hash), checks the signature recovers to
// s's address, and returns the eth-signature for the request with origin.
func Sign(ctx context.Context, s signer.Signer, r *SignRequest, origin string) (*Signature, error) {
	tx, err := r.Tx()
	if err != nil {
		return nil, err
	}
	if r.Address != nil && *r.Address != s.Address() {
		return nil, ErrWrongAccount
	}
	h := types.LatestSignerForChainID(tx.ChainId()).Hash(tx)
	sig, err := s.SignDigest(ctx, h[:])
	if err != nil {
		return nil, fmt.Errorf("offline: sign: %w", err)
	}
	if err := signer.VerifySignature(h[:], sig, s.Address()); err != nil {
		return nil, err
	}
	out := &Signature{RequestID: r.RequestID, Signature: sig, Origin: origin}
	if _, err := out.MarshalCBOR(); err != nil {
		return nil, err
	}
	return out, nil
}
