package chain

import (
	"context"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/walletmcp/walletmcp/internal/chain/gethtest"
)

// TestRPCAgainstGeth runs RPC against a real geth --dev node.
func TestRPCAgainstGeth(t *testing.T) {
	node := gethtest.Start(t)
	ctx := context.Background()

	t.Run("chain id", func(t *testing.T) {
		tests := []struct {
			name    string
			id      int64
			wantErr error
		}{
			{"dev chain", DevChainID, nil},
			{"mainnet expected", 1, ErrChainIDMismatch},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, err := Dial(ctx, node.URL, &Options{ExpectChainID: big.NewInt(tc.id)})
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("Dial = %v, want %v", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if got := c.ChainID(); got.Cmp(big.NewInt(tc.id)) != 0 {
					t.Errorf("ChainID = %s, want %d", got, tc.id)
				}
			})
		}
	})

	t.Run("fund, send, receipt", func(t *testing.T) {
		c, err := Dial(ctx, node.URL, &Options{ExpectChainID: big.NewInt(DevChainID)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		key, from := newKey(t)
		_, to := newKey(t)
		if err := node.Fund(ctx, from, ether(2)); err != nil {
			t.Fatal(err)
		}
		wei, block, err := c.Balance(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		if wei.Cmp(ether(2)) != 0 || block == 0 {
			t.Fatalf("Balance = %s at block %d, want 2 ether after block 0", wei, block)
		}

		// Read the recipient before the transfer: its balance is kept for
		// this block, and must not be the answer once the transfer is mined.
		if got, _, err := c.Balance(ctx, to); err != nil || got.Sign() != 0 {
			t.Fatalf("recipient Balance before = %v, %v; want 0", got, err)
		}
		nonce, err := c.PendingNonce(ctx, from)
		if err != nil || nonce != 0 {
			t.Fatalf("PendingNonce = %d, %v; want 0", nonce, err)
		}
		gas, err := c.EstimateGas(ctx, ethereum.CallMsg{From: from, To: &to, Value: ether(1)})
		if err != nil || gas != 21000 {
			t.Fatalf("EstimateGas = %d, %v; want 21000", gas, err)
		}
		fees := suggestFees(t, c)
		tx := signTx(t, key, c.ChainID(), nonce, &to, ether(1), gas, fees, nil)
		if err := c.Send(ctx, tx); err != nil {
			t.Fatal(err)
		}
		r := waitReceipt(t, c, tx.Hash())
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("receipt status %d, want success", r.Status)
		}
		st, err := c.TxStatus(ctx, tx.Hash())
		if err != nil {
			t.Fatal(err)
		}
		if want := (TxStatus{Status: StatusSuccess, BlockNumber: r.BlockNumber.Uint64()}); st != want {
			t.Errorf("TxStatus = %+v, want %+v", st, want)
		}
		if got, _, err := c.Balance(ctx, to); err != nil || got.Cmp(ether(1)) != 0 {
			t.Errorf("recipient Balance = %v, %v; want 1 ether", got, err)
		}
	})
}

// TestRPCAgainstGethWebsocket runs RPC against a real geth --dev node over
// its websocket endpoint: a read tool's read after a block is mined (seen by
// the pushed head, waited for on the follower's events, never polled for)
// is the new block's, and a decision's read is right too.
func TestRPCAgainstGethWebsocket(t *testing.T) {
	node := gethtest.Start(t)
	ctx := context.Background()
	events := make(headEvents, 1024)
	c, err := Dial(ctx, node.WSURL, &Options{ExpectChainID: big.NewInt(DevChainID), headHook: events.hook})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events.waitFor(t, "live", func(ev headEvent) bool { return ev.live })
	tool := AtPushedHead(ctx)

	key, from := newKey(t)
	_, to := newKey(t)
	_, h0, err := c.Balance(tool, from)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Fund(ctx, from, ether(2)); err != nil {
		t.Fatal(err)
	}
	events.waitFor(t, "after the funding block", func(ev headEvent) bool { return ev.pushed && ev.number > h0 })
	wei, h1, err := c.Balance(tool, from)
	if err != nil {
		t.Fatal(err)
	}
	if wei.Cmp(ether(2)) != 0 || h1 <= h0 {
		t.Fatalf("read tool Balance = %s at block %d, want 2 ether after block %d", wei, h1, h0)
	}
	// The recipient's balance is kept for this block; the transfer's
	// block must drop it.
	if got, _, err := c.Balance(tool, to); err != nil || got.Sign() != 0 {
		t.Fatalf("recipient Balance before = %v, %v; want 0", got, err)
	}
	nonce, err := c.PendingNonce(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	tx := signTx(t, key, c.ChainID(), nonce, &to, ether(1), 21000, suggestFees(t, c), nil)
	if err := c.Send(ctx, tx); err != nil {
		t.Fatal(err)
	}
	events.waitFor(t, "after the transfer's block", func(ev headEvent) bool { return ev.pushed && ev.number > h1 })
	got, h2, err := c.Balance(tool, to)
	if err != nil || got.Cmp(ether(1)) != 0 || h2 <= h1 {
		t.Fatalf("read tool recipient Balance = %v at block %d, %v; want 1 ether after block %d", got, h2, err, h1)
	}
	if got, h3, err := c.Balance(ctx, to); err != nil || got.Cmp(ether(1)) != 0 || h3 < h2 {
		t.Errorf("decision recipient Balance = %v at block %d, %v; want 1 ether at block >= %d", got, h3, err, h2)
	}
	r := waitReceipt(t, c, tx.Hash())
	if r.Status != types.ReceiptStatusSuccessful || r.BlockNumber.Uint64() != h2 {
		t.Errorf("receipt status %d in block %s, want success in block %d", r.Status, r.BlockNumber, h2)
	}
}
