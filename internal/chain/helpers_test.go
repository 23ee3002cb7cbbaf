package chain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
)

// receiptWait bounds how long tests wait for a transaction to be mined. It is
// a liveness bound, not a timing assertion.
const receiptWait = 30 * time.Second

func ether(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(params.Ether)) }

func newKey(t testing.TB) (*ecdsa.PrivateKey, common.Address) {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key, crypto.PubkeyToAddress(key.PublicKey)
}

// signTx signs an EIP-1559 transaction. to == nil creates a contract.
func signTx(t testing.TB, key *ecdsa.PrivateKey, chainID *big.Int, nonce uint64, to *common.Address, value *big.Int, gas uint64, fees Fees, data []byte) *types.Transaction {
	t.Helper()
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID:   chainID,
		Nonce:     nonce,
		GasTipCap: fees.TipCap,
		GasFeeCap: fees.FeeCap,
		Gas:       gas,
		To:        to,
		Value:     value,
		Data:      data,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// waitReceipt polls Receipt until the transaction is mined.
func waitReceipt(t testing.TB, c Chain, hash common.Hash) *types.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), receiptWait)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := c.Receipt(ctx, hash)
		if err == nil {
			return r
		}
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Receipt(%s): %v", hash, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("transaction %s not mined within %v", hash, receiptWait)
		case <-tick.C:
		}
	}
}

// waitPendingNonce waits until c's pending nonce of addr is want, failing
// on an error, a nonce above want, or after receiptWait.
func waitPendingNonce(t testing.TB, c Chain, addr common.Address, want uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), receiptWait)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		n, err := c.PendingNonce(ctx, addr)
		if err != nil {
			t.Fatalf("PendingNonce(%s): %v", addr, err)
		}
		if n == want {
			return
		}
		if n > want {
			t.Fatalf("PendingNonce(%s) = %d, want %d", addr, n, want)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("PendingNonce(%s) = %d, still not %d after %v", addr, n, want, receiptWait)
		case <-tick.C:
		}
	}
}

func suggestFees(t testing.TB, c Chain) Fees {
	t.Helper()
	fees, err := c.SuggestFees(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fees
}

var (
	alice = common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	bob   = common.HexToAddress("0x0000000000000000000000000000000000000b0b")
)

// readChecker reads alice's balance and a side-effect-free call through an
// RPC whose test node answers block n's balance as n*1000 and the call with
// n, and counts the requests it served (count).
type readChecker struct {
	c    *RPC
	node interface{ count(method string) int }
	call ethereum.CallMsg
}

// check reads with ctx, checks that both answers are block wantBlock's,
// and that the node saw the given numbers of eth_getBalance, eth_call and
// eth_blockNumber requests in total.
func (r readChecker) check(t *testing.T, ctx context.Context, name string, wantBlock uint64, wantBalances, wantCalls, wantNumbers int) {
	t.Helper()
	wei, n, err := r.c.Balance(ctx, alice)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if n != wantBlock || wei.Cmp(new(big.Int).SetUint64(wantBlock*1000)) != 0 {
		t.Errorf("%s: Balance = %s at block %d, want %d at block %d", name, wei, n, wantBlock*1000, wantBlock)
	}
	out, err := r.c.Call(ctx, r.call)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if got := new(big.Int).SetBytes(out).Uint64(); got != wantBlock {
		t.Errorf("%s: Call answered block %d's result, want block %d's", name, got, wantBlock)
	}
	got := [3]int{r.node.count("eth_getBalance"), r.node.count("eth_call"), r.node.count("eth_blockNumber")}
	if want := [3]int{wantBalances, wantCalls, wantNumbers}; got != want {
		t.Errorf("%s: node saw (getBalance, call, blockNumber) = %v, want %v", name, got, want)
	}
}

// deployDev deploys init from key's account with nonce on d, waits until it
// is mined, fails the test unless it succeeded at the address the nonce
// gives, and returns that address.
func deployDev(t testing.TB, d *Dev, key *ecdsa.PrivateKey, nonce, gas uint64, fees Fees, init []byte) common.Address {
	t.Helper()
	tx := signTx(t, key, d.ChainID(), nonce, nil, new(big.Int), gas, fees, init)
	if err := d.Send(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	r := waitReceipt(t, d, tx.Hash())
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("deployment with nonce %d reverted", nonce)
	}
	want := crypto.CreateAddress(crypto.PubkeyToAddress(key.PublicKey), nonce)
	if r.ContractAddress != want {
		t.Fatalf("contract at %s, want %s", r.ContractAddress, want)
	}
	return want
}
