//go:build !nodev

package chain

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
)

// TestDevBalanceNotStaleAcrossBlocks reads a balance (kept for its block),
// has a transfer mined into a new block, and reads again: the second read
// must be the new block's balance, never the kept one.
func TestDevBalanceNotStaleAcrossBlocks(t *testing.T) {
	key, from := newKey(t)
	_, to := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(10)}, MineDelay: time.Millisecond})
	ctx := context.Background()
	read := func() (*big.Int, uint64) {
		t.Helper()
		wei, n, err := d.Balance(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		return wei, n
	}
	before, b0 := read()
	again, b1 := read() // answered from the cache: same block, same value
	if before.Sign() != 0 || again.Sign() != 0 || b0 != b1 {
		t.Fatalf("before: %s at %d, then %s at %d; want 0 twice at one block", before, b0, again, b1)
	}
	again.SetInt64(99) // a caller's copy: changing it must not change the cache
	if wei, _ := read(); wei.Sign() != 0 {
		t.Fatalf("the cache handed out its own value: now %s", wei)
	}
	tx := signTx(t, key, d.ChainID(), 0, &to, ether(1), 21000, suggestFees(t, d), nil)
	if err := d.Send(ctx, tx); err != nil {
		t.Fatal(err)
	}
	r := waitReceipt(t, d, tx.Hash())
	after, b2 := read()
	if after.Cmp(ether(1)) != 0 || b2 < r.BlockNumber.Uint64() {
		t.Fatalf("after the transfer mined in block %d: %s at block %d, want 1 ether at block >= %d", r.BlockNumber, after, b2, r.BlockNumber)
	}
	if n, err := d.Nonce(ctx, from); err != nil || n != 1 {
		t.Errorf("Nonce = %d, %v; want 1", n, err)
	}
	if n, err := d.PendingNonce(ctx, from); err != nil || n != 1 {
		t.Errorf("PendingNonce = %d, %v; want 1", n, err)
	}
}

// TestRPCReadRoundTrips: a balance read asks for the head and reads at
// it; a repeated read in the same block costs the head question only, and a
// read after the head moved is the new block's (never the kept value).
func TestRPCReadRoundTrips(t *testing.T) {
	node := &countingNode{n: map[string]int{}}
	node.head.Store(5)
	srv := node.serve(t)
	ctx := context.Background()
	c, err := Dial(ctx, srv.URL, &Options{ExpectChainID: big.NewInt(DevChainID)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	token := common.HexToAddress("0x70")
	call := ethereum.CallMsg{To: &token, Gas: 100_000, Data: []byte{0x70, 0xa0, 0x82, 0x31}}
	rc := readChecker{c: c, node: node, call: call}
	check := func(name string, wantBlock uint64, wantBalances, wantCalls, wantNumbers int) {
		t.Helper()
		rc.check(t, ctx, name, wantBlock, wantBalances, wantCalls, wantNumbers)
	}
	check("first read", 5, 1, 1, 2)
	check("same block", 5, 1, 1, 4)
	check("same block again", 5, 1, 1, 6)
	node.head.Store(6)
	check("after a new head", 6, 2, 2, 8)
	check("same new block", 6, 2, 2, 10)
}

// TestBlockCacheBounds: a hostile agent reading many addresses in one block
// cannot make the cache grow without bound, and oversized calls are not kept.
func TestBlockCacheBounds(t *testing.T) {
	var c blockCache
	c.advance(1)
	for i := 0; i < maxCachedPerBlock+10; i++ {
		c.putBalance(1, common.BigToAddress(big.NewInt(int64(i))), big.NewInt(1))
	}
	if len(c.balances) != maxCachedPerBlock {
		t.Errorf("kept %d balances, want %d", len(c.balances), maxCachedPerBlock)
	}
	to := common.HexToAddress("0x1")
	long := make([]byte, maxCachedCallData+1)
	if _, ok := cacheableCall(ethereum.CallMsg{To: &to, Data: long}); ok {
		t.Error("a call with oversized calldata is cacheable")
	}
	if _, ok := cacheableCall(ethereum.CallMsg{To: &to, Value: ether(1)}); ok {
		t.Error("a call with a value is cacheable")
	}
	k, ok := cacheableCall(ethereum.CallMsg{To: &to, Data: []byte{1}})
	if !ok {
		t.Fatal("balanceOf-like call not cacheable")
	}
	c.putCall(1, k, make([]byte, maxCachedCallResult+1))
	if _, hit := c.call(1, k); hit {
		t.Error("an oversized result was kept")
	}
	c.putBalance(2, to, big1) // a read of another block than the cache's is not kept
	if _, hit := c.balance(2, to); hit {
		t.Error("a balance of another block was kept")
	}
	if c.advance(2); len(c.balances) != 0 {
		t.Error("moving to a new block kept old entries")
	}
}

var big1 = big.NewInt(1)
