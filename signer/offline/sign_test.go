package offline

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/internal/erc20"
)

type keySigner struct{ k *ecdsa.PrivateKey }

func (s keySigner) Address() common.Address { return crypto.PubkeyToAddress(s.k.PublicKey) }
func (s keySigner) SignDigest(_ context.Context, d []byte) ([]byte, error) {
	return crypto.Sign(d, s.k)
}

func newKeySigner(t *testing.T, hexKey string) keySigner {
	k, err := crypto.HexToECDSA(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	return keySigner{k}
}

func TestSign(t *testing.T) {
	s := newKeySigner(t, keyA)
	r, err := NewTxSignRequest(testTx(nil), s.Address(), big.NewInt(1337), DefaultPath(), testID)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := Sign(context.Background(), s, r, "airsign")
	if err != nil {
		t.Fatal(err)
	}
	if sig.RequestID != testID || sig.Origin != "airsign" {
		t.Fatalf("%+v", sig)
	}
	if _, err := r.SignedTx(sig.Signature); err != nil {
		t.Fatalf("the server side refuses it: %v", err)
	}
	if _, err := Sign(context.Background(), newKeySigner(t, keyB), r, ""); !errors.Is(err, ErrWrongAccount) {
		t.Fatalf("another key: %v", err)
	}
}

func TestSummarize(t *testing.T) {
	to := common.HexToAddress("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf")
	data, err := erc20.TransferCalldata(to, big.NewInt(12345))
	if err != nil {
		t.Fatal(err)
	}
	tx := testTx(data)
	// A token transfer: the recipient and amount come from the calldata.
	r, err := NewTxSignRequest(tx, common20(), big.NewInt(1337), DefaultPath(), testID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Summarize(r)
	if err != nil {
		t.Fatal(err)
	}
	if s.Token == nil || *s.Token != *tx.To() || s.To != to || s.Amount.Int64() != 12345 || s.OtherCall {
		t.Fatalf("token summary %+v", s)
	}
	if s.MaxFee.Cmp(big.NewInt(21000*30_000_000_000)) != 0 || s.Nonce != 7 || s.ChainID != 1337 || *s.From != common20() {
		t.Fatalf("fees/nonce %+v", s)
	}
	// Plain ether, and an unknown call.
	r, _ = NewTxSignRequest(testTx(nil), common20(), big.NewInt(1337), DefaultPath(), testID)
	if s, err := Summarize(r); err != nil || s.Token != nil || s.Amount.Cmp(big.NewInt(1e16)) != 0 || s.OtherCall {
		t.Fatalf("ether summary %+v %v", s, err)
	}
	r, _ = NewTxSignRequest(testTx([]byte{1, 2, 3, 4}), common20(), big.NewInt(1337), DefaultPath(), testID)
	if s, err := Summarize(r); err != nil || !s.OtherCall {
		t.Fatalf("unknown call %+v %v", s, err)
	}
}
