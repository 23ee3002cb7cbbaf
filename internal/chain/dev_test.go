//go:build !nodev

package chain

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
)

func newDev(t testing.TB, opts *DevOptions) *Dev {
	t.Helper()
	d, err := NewDev(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func TestDevBalanceAtGenesis(t *testing.T) {
	_, rich := newKey(t)
	_, modest := newKey(t)
	_, nobody := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{rich: ether(100), modest: big.NewInt(1)}})
	if got := d.ChainID(); got.Cmp(big.NewInt(DevChainID)) != 0 {
		t.Fatalf("ChainID = %s, want %d", got, DevChainID)
	}
	tests := []struct {
		name string
		addr common.Address
		want *big.Int
	}{
		{"100 ether", rich, ether(100)},
		{"1 wei", modest, big.NewInt(1)},
		{"unfunded", nobody, new(big.Int)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wei, block, err := d.Balance(context.Background(), tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			if wei.Cmp(tc.want) != 0 {
				t.Errorf("Balance = %s, want %s", wei, tc.want)
			}
			if block != 1 {
				t.Errorf("block = %d, want 1 (the block NewDev commits)", block)
			}
		})
	}
}

func TestDevSendReceiptStatus(t *testing.T) {
	key, from := newKey(t)
	_, to := newKey(t)
	// A long mine delay so that the transaction is observably pending first.
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(10)}, MineDelay: time.Second})
	ctx := context.Background()

	gas, err := d.EstimateGas(ctx, ethereum.CallMsg{From: from, To: &to, Value: ether(1)})
	if err != nil {
		t.Fatal(err)
	}
	if gas != 21000 {
		t.Errorf("EstimateGas = %d, want 21000", gas)
	}
	fees := suggestFees(t, d)
	if want := new(big.Int).Add(new(big.Int).Lsh(fees.BaseFee, 1), fees.TipCap); fees.FeeCap.Cmp(want) != 0 {
		t.Errorf("FeeCap = %s, want 2*%s+%s", fees.FeeCap, fees.BaseFee, fees.TipCap)
	}
	nonce, err := d.PendingNonce(ctx, from)
	if err != nil || nonce != 0 {
		t.Fatalf("PendingNonce = %d, %v; want 0", nonce, err)
	}
	tx := signTx(t, key, d.ChainID(), nonce, &to, ether(1), gas, fees, nil)

	if err := d.Send(ctx, tx); err != nil {
		t.Fatal(err)
	}
	st, err := d.TxStatus(ctx, tx.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusPending {
		t.Errorf("TxStatus right after Send = %+v, want pending", st)
	}
	if _, err := d.Receipt(ctx, tx.Hash()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Receipt before mining: %v, want ErrNotFound", err)
	}
	if err := d.Send(ctx, tx); err != nil {
		t.Errorf("re-sending the same transaction: %v, want success (already known)", err)
	}
	// The pool promotes an added transaction in its own goroutine
	// (go-ethereum's legacypool), so the pending nonce follows Send shortly
	// after rather than at once; it must reach 1 and never pass it.
	waitPendingNonce(t, d, from, 1)

	r := waitReceipt(t, d, tx.Hash())
	if r.Status != types.ReceiptStatusSuccessful {
		t.Errorf("receipt status = %d, want success", r.Status)
	}
	st, err = d.TxStatus(ctx, tx.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if want := (TxStatus{Status: StatusSuccess, BlockNumber: r.BlockNumber.Uint64()}); st != want {
		t.Errorf("TxStatus after mining = %+v, want %+v", st, want)
	}
	wei, block, err := d.Balance(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	if wei.Cmp(ether(1)) != 0 || block < r.BlockNumber.Uint64() {
		t.Errorf("recipient Balance = %s at block %d, want 1 ether at block >= %d", wei, block, r.BlockNumber)
	}
}

func TestDevUnknownHash(t *testing.T) {
	d := newDev(t, nil)
	ctx := context.Background()
	hash := common.HexToHash("0x1234")
	st, err := d.TxStatus(ctx, hash)
	if err != nil || st != (TxStatus{Status: StatusNotFound}) {
		t.Errorf("TxStatus(unknown) = %+v, %v; want not_found", st, err)
	}
	if _, err := d.Receipt(ctx, hash); !errors.Is(err, ErrNotFound) {
		t.Errorf("Receipt(unknown) = %v, want ErrNotFound", err)
	}
}

// revertRuntime is PUSH1 0 PUSH1 0 REVERT; revertInit returns it as the code
// of a new contract: PUSH1 5 PUSH1 12 PUSH1 0 CODECOPY PUSH1 5 PUSH1 0 RETURN.
var (
	revertRuntime = hexutil.MustDecode("0x60006000fd")
	revertInit    = append(hexutil.MustDecode("0x6005600c60003960056000f3"), revertRuntime...)
)

func TestDevRevertedCall(t *testing.T) {
	key, from := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(10)}})
	ctx := context.Background()
	fees := suggestFees(t, d)

	contract := deployDev(t, d, key, 0, 100_000, fees, revertInit)
	code, err := d.CodeAt(ctx, contract)
	if err != nil || !bytes.Equal(code, revertRuntime) {
		t.Fatalf("CodeAt = %x, %v; want %x", code, err, revertRuntime)
	}
	if _, err := d.Call(ctx, ethereum.CallMsg{From: from, To: &contract}); err == nil {
		t.Error("Call to a reverting contract succeeded")
	}

	call := signTx(t, key, d.ChainID(), 1, &contract, new(big.Int), 50_000, fees, nil)
	if err := d.Send(ctx, call); err != nil {
		t.Fatal(err)
	}
	r := waitReceipt(t, d, call.Hash())
	st, err := d.TxStatus(ctx, call.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if want := (TxStatus{Status: StatusReverted, BlockNumber: r.BlockNumber.Uint64()}); st != want {
		t.Errorf("TxStatus = %+v, want %+v", st, want)
	}
}

func TestDevSendRefusesOtherChain(t *testing.T) {
	key, from := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(1)}})
	fees := suggestFees(t, d)
	unprotected, err := types.SignTx(types.NewTransaction(0, from, big.NewInt(1), 21000, fees.FeeCap, nil), types.HomesteadSigner{}, key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tx      *types.Transaction
		wantErr error
	}{
		{"mainnet tx", signTx(t, key, big.NewInt(1), 0, &from, big.NewInt(1), 21000, fees, nil), ErrChainIDMismatch},
		{"unprotected legacy tx", unprotected, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := d.Send(context.Background(), tc.tx)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("Send = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestDevCloseTwice(t *testing.T) {
	d, err := NewDev(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, _, err := d.Balance(context.Background(), common.Address{}); err == nil {
		t.Error("Balance after Close succeeded")
	}
}

// Fifty goroutines broadcast nonces 0..49 concurrently, in no particular
// order: the node queues a nonce ahead of a gap until the gap is filled, so
// all fifty are mined. The Guard relies on this: nonces are reserved in the
// store, and processes sharing it broadcast them in any order.
func TestDevNoncesConcurrent(t *testing.T) {
	const workers = 50
	key, from := newKey(t)
	_, to := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(100)}})
	ctx := context.Background()
	fees := suggestFees(t, d)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var txs []*types.Transaction
	for i := range workers {
		nonce := uint64(workers - 1 - i) // highest first: gaps on purpose
		wg.Go(func() {
			tx := signTx(t, key, d.ChainID(), nonce, &to, big.NewInt(1), 21000, fees, nil)
			if err := d.Send(ctx, tx); err != nil {
				t.Errorf("nonce %d: %v", nonce, err)
				return
			}
			mu.Lock()
			txs = append(txs, tx)
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var got []uint64
	for _, tx := range txs {
		if r := waitReceipt(t, d, tx.Hash()); r.Status != types.ReceiptStatusSuccessful {
			t.Errorf("nonce %d reverted", tx.Nonce())
		}
		got = append(got, tx.Nonce())
	}
	slices.Sort(got)
	for i, n := range got {
		if n != uint64(i) {
			t.Fatalf("mined nonces %v are not 0..%d", got, workers-1)
		}
	}
	if n, err := d.PendingNonce(ctx, from); err != nil || n != workers {
		t.Errorf("PendingNonce = %d, %v; want %d", n, err, workers)
	}
	wei, _, err := d.Balance(ctx, to)
	if err != nil || wei.Cmp(big.NewInt(workers)) != 0 {
		t.Errorf("recipient balance = %v, %v; want %d wei", wei, err, workers)
	}
}

// Without any Send, the miner still commits a block every IdleBlockTime.
func TestDevIdleBlocks(t *testing.T) {
	d := newDev(t, &DevOptions{IdleBlockTime: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), receiptWait)
	defer cancel()
	_, first, err := d.Balance(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		_, block, err := d.Balance(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if block >= first+2 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("chain stuck at block %d", block)
		case <-tick.C:
		}
	}
}

// Close stops the miner goroutine and the chain's own goroutines.
func TestDevCloseLeavesNoGoroutines(t *testing.T) {
	// go-ethereum starts a process-wide pool of sender-recovery goroutines
	// with the first chain; start one first so that they are in the baseline.
	warm, err := NewDev(nil)
	if err != nil {
		t.Fatal(err)
	}
	warm.Close()
	before := runtime.NumGoroutine()

	for range 3 {
		d, err := NewDev(&DevOptions{IdleBlockTime: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if stacks := allStacks(); strings.Contains(stacks, "chain.(*Dev).mine") {
			t.Fatalf("miner goroutine still running after Close:\n%s", stacks)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, allStacks())
		}
		<-tick.C
	}
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// A transaction the node refuses with a validation error is a
// *RejectedError (it was not accepted); the same bytes sent twice are fine.
func TestDevSendRejected(t *testing.T) {
	key, from := newKey(t)
	_, to := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(100)}})
	ctx := context.Background()
	fees := suggestFees(t, d)
	tx := signTx(t, key, d.ChainID(), 0, &to, big.NewInt(1), 21000, fees, nil)
	if err := d.Send(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(ctx, tx); err != nil {
		t.Errorf("sending the same transaction again: %v", err)
	}
	waitReceipt(t, d, tx.Hash())
	stale := signTx(t, key, d.ChainID(), 0, &to, big.NewInt(2), 21000, fees, nil)
	err := d.Send(ctx, stale)
	var rej *RejectedError
	// "nonce too low", or "replacement transaction underpriced" while the
	// pool has not caught up with the block yet: a definite refusal either way.
	if !errors.As(err, &rej) || (!strings.HasPrefix(rej.Reason, "nonce too low") && !strings.HasPrefix(rej.Reason, "replacement transaction underpriced")) {
		t.Fatalf("stale nonce: %v (%T), want a *RejectedError", err, err)
	}
	poor, _ := newKey(t)
	broke := signTx(t, poor, d.ChainID(), 0, &to, big.NewInt(1), 21000, fees, nil)
	if err := d.Send(ctx, broke); !errors.As(err, &rej) {
		t.Fatalf("unfunded sender: %v, want a *RejectedError", err)
	}
}

// TestDevReceiptNotAboveHead holds the head below a mined transaction's
// block, as go-ethereum does for a moment while it moves its head (the
// index entries are written first): the transaction must read as pending and
// have no receipt until the head reaches its block, so that a balance read
// after a receipt never answers from the block before it.
func TestDevReceiptNotAboveHead(t *testing.T) {
	key, from := newKey(t)
	_, to := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(10)}, MineDelay: 10 * time.Millisecond})
	ctx := context.Background()
	tx := signTx(t, key, d.ChainID(), 0, &to, ether(1), 21000, suggestFees(t, d), nil)
	if err := d.Send(ctx, tx); err != nil {
		t.Fatal(err)
	}
	mined := waitReceipt(t, d, tx.Hash()).BlockNumber.Uint64()

	dc := d.conn.c.(*devClient)
	var head atomic.Uint64
	head.Store(mined - 1)
	dc.head = head.Load
	if _, err := d.Receipt(ctx, tx.Hash()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Receipt with the head at %d, mined in %d: %v, want ErrNotFound", mined-1, mined, err)
	}
	if st, err := d.TxStatus(ctx, tx.Hash()); err != nil || st.Status != StatusPending {
		t.Errorf("TxStatus with the head below its block = %+v, %v; want pending", st, err)
	}
	head.Store(mined)
	if r, err := d.Receipt(ctx, tx.Hash()); err != nil || r.BlockNumber.Uint64() != mined {
		t.Errorf("Receipt with the head at its block = %v, %v; want block %d", r, err, mined)
	}
	if st, err := d.TxStatus(ctx, tx.Hash()); err != nil || st != (TxStatus{Status: StatusSuccess, BlockNumber: mined}) {
		t.Errorf("TxStatus with the head at its block = %+v, %v; want success in %d", st, err, mined)
	}
}
