package approval_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

// storedApproval builds an approval as the Guard parks it: the intent's
// columns, its digest and the summary NewSummary made of it.
func storedApproval(t *testing.T, token bool, mutSum func(s *policy.StoredSummary)) *store.Approval {
	t.Helper()
	in := &policy.Intent{
		ChainID: 1337, From: common.HexToAddress("0x1111111111111111111111111111111111111111"),
		To:    common.HexToAddress("0xabCDEF0123456789abcdef0123456789ABCDEF01"),
		Asset: policy.NativeSymbol, Amount: big.NewInt(1_250_000_000_000_000_000), Decimals: policy.NativeDecimals, Symbol: policy.NativeSymbol,
	}
	if token {
		in.Asset, in.Amount, in.Decimals, in.Symbol = "0x2222222222222222222222222222222222222222", big.NewInt(1_250_500_000), 6, "USDC"
		cd, err := erc20.TransferCalldata(in.To, in.Amount)
		if err != nil {
			t.Fatal(err)
		}
		in.Calldata = cd
	}
	fee := big.NewInt(21_000 * 2_000_000_000)
	s := policy.StoredSummary{Summary: policy.NewSummary(in, fee), Reasons: []policy.Reason{{Rule: "max_per_tx", Message: "above the limit"}}}
	if mutSum != nil {
		mutSum(&s)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	d := in.Digest()
	return &store.Approval{
		ID: "0123456789abcdef0123456789abcdef", Digest: d[:], ChainID: in.ChainID, From: in.From, To: in.To,
		Asset: in.Asset, Amount: in.Amount, Summary: b, Status: approvalstate.Pending, MaxFee: fee,
	}
}

// TestVerifyStored: the summary the Guard stores is shown; a summary or a
// digest that does not describe the stored transfer is refused, without
// returning any of the summary.
func TestVerifyStored(t *testing.T) {
	other := common.HexToAddress("0x9999999999999999999999999999999999999999").Hex()
	sumMuts := map[string]func(s *policy.StoredSummary){
		"to":          func(s *policy.StoredSummary) { s.To = other },
		"to and tail": func(s *policy.StoredSummary) { s.To, s.ToTail = other, other[len(other)-6:] },
		"to_tail":     func(s *policy.StoredSummary) { s.ToTail = "c0ffee" },
		"amount":      func(s *policy.StoredSummary) { s.Amount = "0.00125" },
		"amount big":  func(s *policy.StoredSummary) { s.Amount = "1250" },
		"base units":  func(s *policy.StoredSummary) { s.AmountBaseUnits = "1" },
		"from":        func(s *policy.StoredSummary) { s.From = other },
		"chain":       func(s *policy.StoredSummary) { s.ChainID = 1 },
		"max fee":     func(s *policy.StoredSummary) { s.MaxFee = "0.000001" },
		"contract":    func(s *policy.StoredSummary) { s.Contract = other },
		"to lower":    func(s *policy.StoredSummary) { s.To = strings.ToLower(s.To) },
	}
	for _, token := range []bool{false, true} {
		a := storedApproval(t, token, nil)
		v, err := approval.VerifyStored(a)
		if err != nil {
			t.Fatalf("token=%v: %v", token, err)
		}
		if v.ID != a.ID || v.Summary.To != a.To.Hex() || len(v.Reasons) != 1 {
			t.Fatalf("token=%v: view %+v", token, v)
		}
		for name, mut := range sumMuts {
			if v, err := approval.VerifyStored(storedApproval(t, token, mut)); !errors.Is(err, approval.ErrSummaryMismatch) || v != nil {
				t.Errorf("token=%v %s: %+v, %v; want ErrSummaryMismatch", token, name, v, err)
			}
		}
		cols := map[string]func(a *store.Approval){
			"column to":     func(a *store.Approval) { a.To = common.HexToAddress(other) },
			"column amount": func(a *store.Approval) { a.Amount = big.NewInt(7) },
			"column asset":  func(a *store.Approval) { a.Asset = "0x3333333333333333333333333333333333333333" },
			"digest":        func(a *store.Approval) { a.Digest = make([]byte, 32) },
			"no amount":     func(a *store.Approval) { a.Amount = nil },
		}
		for name, mut := range cols {
			a := storedApproval(t, token, nil)
			mut(a)
			if v, err := approval.VerifyStored(a); !errors.Is(err, approval.ErrSummaryMismatch) || v != nil {
				t.Errorf("token=%v %s: %+v, %v; want ErrSummaryMismatch", token, name, v, err)
			}
		}
	}
	a := storedApproval(t, false, nil)
	a.Summary = []byte("{")
	if _, err := approval.VerifyStored(a); !errors.Is(err, approval.ErrSummaryUnreadable) {
		t.Errorf("unreadable summary: %v", err)
	}
}
