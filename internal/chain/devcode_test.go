//go:build !nodev

package chain

import (
	"bytes"
	"context"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// TestDevCodeCachedPerHead: Dev's CodeAt is answered from its cache within
// one head, never across heads (a contract deployed in the next block is
// seen at once), and a caller that changes the answer does not change the
// cache.
func TestDevCodeCachedPerHead(t *testing.T) {
	key, from := newKey(t)
	d := newDev(t, &DevOptions{Alloc: map[common.Address]*big.Int{from: ether(10)}})
	ctx := context.Background()
	contract := crypto.CreateAddress(from, 0)
	if code, err := d.CodeAt(ctx, contract); err != nil || len(code) != 0 {
		t.Fatalf("CodeAt before deployment = %x, %v", code, err)
	}
	deployDev(t, d, key, 0, 100_000, suggestFees(t, d), revertInit)
	code, err := d.CodeAt(ctx, contract)
	if err != nil || !bytes.Equal(code, revertRuntime) {
		t.Fatalf("CodeAt after deployment = %x, %v; want %x (a stale answer from the block before?)", code, err, revertRuntime)
	}
	head := d.chain.CurrentBlock().Number.Uint64()
	if cached, ok := d.cache.code(head, contract); !ok || !bytes.Equal(cached, revertRuntime) {
		t.Fatalf("cache at the head holds %x, %v; want the code", cached, ok)
	}
	code[0] ^= 0xff
	if again, err := d.CodeAt(ctx, contract); err != nil || !bytes.Equal(again, revertRuntime) {
		t.Fatalf("CodeAt after the caller changed its copy = %x, %v", again, err)
	}
}
