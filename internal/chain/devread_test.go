//go:build !nodev

package chain

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// TestDevReadsWithoutJSONRPC: Dev's Balance, Nonce and PendingNonce, and the
// head they read, go to the embedded chain directly (devread.go), not
// through the in-process JSON-RPC client, and so does Call at the head
// (devcall.go). With that client closed, so that every request sent through
// it fails, they still answer, and answer right, before and after a transfer
// (whose fees, broadcast and receipt are direct too, devclient.go).
func TestDevReadsWithoutJSONRPC(t *testing.T) {
	key, from := newKey(t)
	_, to := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(10)}, MineDelay: 10 * time.Millisecond})
	ctx := context.Background()

	// The client conn's devClient embeds and the backend hands out: closing
	// it again at Dev.Close is a no-op.
	d.backend.client.Close()
	// The JSON-RPC path now fails: a read that takes it cannot pass below.
	if _, err := d.backend.Client().HeaderByNumber(ctx, big.NewInt(1)); err == nil {
		t.Fatal("the closed in-process JSON-RPC client still answers eth_getBlockByNumber")
	}
	if wei, _, err := d.conn.Balance(ctx, from); err == nil {
		t.Fatalf("conn.Balance over the closed JSON-RPC client = %s, want an error", wei)
	}
	if n, err := d.conn.Nonce(ctx, from); err == nil {
		t.Fatalf("conn.Nonce over the closed JSON-RPC client = %d, want an error", n)
	}
	if n, err := d.conn.PendingNonce(ctx, from); err == nil {
		t.Fatalf("conn.PendingNonce over the closed JSON-RPC client = %d, want an error", n)
	}

	checkBalance := func(name string, addr common.Address, want *big.Int, minBlock uint64) {
		t.Helper()
		wei, block, err := d.Balance(ctx, addr)
		if err != nil {
			t.Fatalf("%s: Balance with the JSON-RPC client closed: %v", name, err)
		}
		if wei.Cmp(want) != 0 || block < minBlock {
			t.Errorf("%s: Balance = %s at block %d, want %s at block >= %d", name, wei, block, want, minBlock)
		}
	}
	checkNonces := func(name string, want uint64) {
		t.Helper()
		if n, err := d.Nonce(ctx, from); err != nil || n != want {
			t.Errorf("%s: Nonce with the JSON-RPC client closed = %d, %v; want %d", name, n, err, want)
		}
		if n, err := d.PendingNonce(ctx, from); err != nil || n != want {
			t.Errorf("%s: PendingNonce with the JSON-RPC client closed = %d, %v; want %d", name, n, err, want)
		}
	}

	checkBalance("before", from, ether(10), 1)
	checkBalance("before", to, new(big.Int), 1)
	checkNonces("before", 0)

	tx := signTx(t, key, d.ChainID(), 0, &to, ether(1), 21000, suggestFees(t, d), nil)
	if err := d.Send(ctx, tx); err != nil {
		t.Fatalf("Send with the JSON-RPC client closed: %v", err)
	}
	waitPendingNonce(t, d, from, 1)
	r := waitReceipt(t, d, tx.Hash())
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transfer reverted")
	}
	mined := r.BlockNumber.Uint64()
	fee := new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
	left := new(big.Int).Sub(new(big.Int).Sub(ether(10), ether(1)), fee)
	checkBalance("after", to, ether(1), mined)
	checkBalance("after", from, left, mined)
	checkNonces("after", 1)

	// A contract call at the head (erc20's reads) is direct too.
	ctxc := deployDev(t, d, key, 1, 200_000, suggestFees(t, d), contextInit)
	msg := ethereum.CallMsg{From: from, To: &ctxc}
	if out, err := d.backend.Client().CallContract(ctx, msg, nil); err == nil {
		t.Fatalf("the closed in-process JSON-RPC client still answers eth_call: %x", out)
	}
	out, err := d.Call(ctx, msg)
	if err != nil || len(out) != 6*32 || common.BytesToAddress(out[:32]) != from {
		t.Errorf("Call with the JSON-RPC client closed = %x, %v; want six words, the first %s", out, err, from.Hex())
	}
}
