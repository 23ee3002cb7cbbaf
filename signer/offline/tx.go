package offline

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/walletmcp/walletmcp/signer"
)

// unsignedDynamicFeeTx is the EIP-1559 signing payload's field list (the
// transaction without v, r, s), RLP-encoded after the type byte 0x02.
type unsignedDynamicFeeTx struct {
	ChainID    *big.Int
	Nonce      uint64
	GasTipCap  *big.Int
	GasFeeCap  *big.Int
	Gas        uint64
	To         *common.Address `rlp:"nil"`
	Value      *big.Int
	Data       []byte
	AccessList types.AccessList
}

// NewTxSignRequest makes the eth-sign-request for an unsigned EIP-1559
// transaction: data type 4 (typed transaction) whose sign-data is
// 0x02 ‖ RLP of the nine unsigned fields (what the signer hashes), the
// chain id, from as the address, path, requestID and DefaultOrigin. The
// transaction must be a DynamicFeeTx for chainID with a recipient.
func NewTxSignRequest(tx *types.Transaction, from common.Address, chainID *big.Int, path KeyPath, requestID [16]byte) (*SignRequest, error) {
	if tx == nil || tx.Type() != types.DynamicFeeTxType {
		return nil, fmt.Errorf("%w: only EIP-1559 transactions", ErrSignRequest)
	}
	if chainID == nil || chainID.Sign() <= 0 || !chainID.IsUint64() || tx.ChainId().Cmp(chainID) != 0 {
		return nil, fmt.Errorf("%w: chain-id", ErrSignRequest)
	}
	if tx.To() == nil {
		return nil, fmt.Errorf("%w: contract creation", ErrSignRequest)
	}
	if v, r, s := tx.RawSignatureValues(); v.Sign() != 0 || r.Sign() != 0 || s.Sign() != 0 {
		return nil, fmt.Errorf("%w: transaction already signed", ErrSignRequest)
	}
	body, err := rlp.EncodeToBytes(&unsignedDynamicFeeTx{
		ChainID: tx.ChainId(), Nonce: tx.Nonce(), GasTipCap: tx.GasTipCap(), GasFeeCap: tx.GasFeeCap(),
		Gas: tx.Gas(), To: tx.To(), Value: tx.Value(), Data: tx.Data(), AccessList: tx.AccessList(),
	})
	if err != nil {
		return nil, fmt.Errorf("offline: encoding transaction: %w", err)
	}
	a := from
	r := &SignRequest{
		RequestID: requestID,
		SignData:  append([]byte{types.DynamicFeeTxType}, body...),
		DataType:  DataTypeTypedTx,
		ChainID:   chainID.Uint64(),
		Path:      path,
		Address:   &a,
		Origin:    DefaultOrigin,
	}
	if err := r.check(ErrSignRequest); err != nil {
		return nil, err
	}
	return r, nil
}

// Tx returns the unsigned EIP-1559 transaction of a data type 4 request.
// It refuses other data types and transaction types, trailing bytes, a
// contract creation, and a chain id that differs from the request's.
func (r *SignRequest) Tx() (*types.Transaction, error) {
	if r.DataType != DataTypeTypedTx {
		return nil, fmt.Errorf("%w: data-type %d is not a typed transaction", ErrSignRequest, r.DataType)
	}
	if len(r.SignData) < 2 || r.SignData[0] != types.DynamicFeeTxType {
		return nil, fmt.Errorf("%w: sign-data is not an EIP-1559 transaction", ErrSignRequest)
	}
	var u unsignedDynamicFeeTx
	if err := rlp.DecodeBytes(r.SignData[1:], &u); err != nil {
		return nil, fmt.Errorf("%w: sign-data", ErrSignRequest)
	}
	if u.To == nil {
		return nil, fmt.Errorf("%w: sign-data: contract creation", ErrSignRequest)
	}
	if u.ChainID == nil || u.ChainID.Sign() <= 0 || !u.ChainID.IsUint64() || u.ChainID.Uint64() != r.ChainID {
		return nil, fmt.Errorf("%w: chain-id", ErrSignRequest)
	}
	tx := types.NewTx(&types.DynamicFeeTx{
		ChainID: u.ChainID, Nonce: u.Nonce, GasTipCap: u.GasTipCap, GasFeeCap: u.GasFeeCap,
		Gas: u.Gas, To: u.To, Value: u.Value, Data: u.Data, AccessList: u.AccessList,
	})
	// The digest signed is keccak256(sign-data): make sure the transaction
	// rebuilt hashes to exactly that, so nothing was lost or added.
	if types.LatestSignerForChainID(u.ChainID).Hash(tx) != crypto.Keccak256Hash(r.SignData) {
		return nil, fmt.Errorf("%w: sign-data is not canonical", ErrSignRequest)
	}
	return tx, nil
}

// SignedTx applies a 65-byte R‖S‖V signature (V 0/1 or 27/28) to the
// request's transaction and checks that it is canonical (low s) and
// recovers to the request's address. It returns signer.ErrInvalidSignature
// or signer.ErrWrongSigner (wrapped) when it does not.
func (r *SignRequest) SignedTx(sig []byte) (*types.Transaction, error) {
	if r.Address == nil {
		return nil, fmt.Errorf("%w: address", ErrSignRequest)
	}
	tx, err := r.Tx()
	if err != nil {
		return nil, err
	}
	sig, err = normalizeV(sig)
	if err != nil {
		return nil, err
	}
	txSigner := types.LatestSignerForChainID(tx.ChainId())
	h := txSigner.Hash(tx)
	if err := signer.VerifySignature(h[:], sig, *r.Address); err != nil {
		return nil, err
	}
	return tx.WithSignature(txSigner, sig)
}

// normalizeV returns a copy of a 65-byte signature with V 27/28 mapped to 0/1.
func normalizeV(sig []byte) ([]byte, error) {
	if len(sig) != 65 {
		return nil, fmt.Errorf("%w: signature length", ErrSignature)
	}
	out := append([]byte(nil), sig...)
	switch out[64] {
	case 0, 1:
	case 27, 28:
		out[64] -= 27
	default:
		return nil, fmt.Errorf("%w: v", ErrSignature)
	}
	return out, nil
}

// ParseSignature reads a signature given as ur:eth-signature text (its
// parts separated by white space; one part in practice) or as 0x-prefixed
// hex of 65 bytes. It returns the request id (all zero for hex, which
// carries none) and R‖S‖V with V 0 or 1 (27/28 accepted). It does not
// verify the signature: SignedTx does.
func ParseSignature(text string) (id [16]byte, sig []byte, err error) {
	text = strings.TrimSpace(text)
	if len(text) > 2*DefaultMaxURLen {
		return id, nil, fmt.Errorf("%w: length", ErrSignature)
	}
	if strings.HasPrefix(text, "0x") || strings.HasPrefix(text, "0X") {
		raw, herr := hex.DecodeString(text[2:])
		if herr != nil || len(raw) != 65 {
			return id, nil, fmt.Errorf("%w: hex", ErrSignature)
		}
		sig, err = normalizeV(raw)
		return id, sig, err
	}
	payload, err := DecodeUR(URTypeSignature, strings.Fields(text), &Limits{MaxMessageLen: 1024, MaxFragments: 16})
	if err != nil {
		return id, nil, err
	}
	s, err := ParseSignatureCBOR(payload)
	if err != nil {
		return id, nil, err
	}
	sig, err = normalizeV(s.Signature)
	if err != nil {
		return id, nil, err
	}
	return s.RequestID, sig, nil
}
