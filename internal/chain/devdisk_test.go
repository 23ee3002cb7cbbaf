//go:build !nodev

package chain

import (
	"context"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// TestDevDataDirSurvivesRestart: a dev chain in a directory keeps its blocks,
// balances and transactions across a restart, funds an account added since
// it was created, and cannot be opened by two users at once.
func TestDevDataDirSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev-chain")
	key, from := newKey(t)
	_, to := newKey(t)
	_, added := newKey(t)
	ctx := context.Background()

	d, err := NewDev(&DevOptions{DataDir: dir, Alloc: map[common.Address]*big.Int{from: ether(100)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDev(&DevOptions{DataDir: dir}); !errors.Is(err, ErrDevChainInUse) {
		d.Close()
		t.Fatalf("second NewDev on an open chain: %v, want ErrDevChainInUse", err)
	}
	tx := signTx(t, key, d.ChainID(), 0, &to, ether(1), 21000, suggestFees(t, d), nil)
	if err := d.Send(ctx, tx); err != nil {
		t.Fatal(err)
	}
	mined := waitReceipt(t, d, tx.Hash())
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("data dir: %v, mode %v", err, fi.Mode())
	}

	// Restart, with an account added meanwhile.
	d = newDev(t, &DevOptions{DataDir: dir, Alloc: map[common.Address]*big.Int{from: ether(100), added: ether(100)}})
	r, err := d.Receipt(ctx, tx.Hash())
	if err != nil {
		t.Fatalf("the transaction mined before the restart: %v", err)
	}
	if r.BlockHash != mined.BlockHash {
		t.Fatalf("receipt block %s, want %s", r.BlockHash, mined.BlockHash)
	}
	for _, c := range []struct {
		name string
		addr common.Address
		want *big.Int
	}{
		{"recipient keeps what it received", to, ether(1)},
		{"added account funded", added, ether(100)},
	} {
		got, _, err := d.Balance(ctx, c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got.Cmp(c.want) != 0 {
			t.Errorf("%s: balance %s, want %s", c.name, got, c.want)
		}
	}
	bal, block, err := d.Balance(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Cmp(ether(99)) >= 0 {
		t.Errorf("sender balance %s after sending 1 ether and a fee: the chain was reset", bal)
	}
	if block <= mined.BlockNumber.Uint64() {
		t.Errorf("head %d is not after the block %d mined before the restart", block, mined.BlockNumber)
	}
	// The sender's next nonce follows the chain, not a fresh genesis.
	n, err := d.PendingNonce(ctx, from)
	if err != nil || n != 1 {
		t.Fatalf("PendingNonce = %d, %v; want 1", n, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// A third start funds nobody twice.
	d = newDev(t, &DevOptions{DataDir: dir, Alloc: map[common.Address]*big.Int{from: ether(100), added: ether(100)}})
	if got, _, _ := d.Balance(ctx, added); got.Cmp(ether(100)) != 0 {
		t.Fatalf("added account balance %s after a second restart, want 100 ether", got)
	}
}
