package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/signer"
	"github.com/walletmcp/walletmcp/wallet"
)

// TestUnlockKeystoreStopsWhenServeStops: keys still queued when serve stops
// are not unlocked (no scrypt starts for them); each is resolved as
// unavailable, none counts as a failure of start-up, and unlockKeystore
// returns. Without the stop every key unlocks.
func TestUnlockKeystoreStopsWhenServeStops(t *testing.T) {
	ks := wallet.NewKeystore(t.TempDir(), wallet.LightKeystoreOptions())
	pass := func() *secret.Bytes { return secret.CopyBytes([]byte("unlock-stop-passphrase")) }
	var todo []*signer.Deferred
	for range 5 {
		addr, err := ks.New(pass())
		if err != nil {
			t.Fatal(err)
		}
		todo = append(todo, signer.NewDeferred(addr))
	}
	var failures atomic.Int32
	fail := func(error) { failures.Add(1) }

	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	unlockKeystore(stopped, ks, todo, pass(), fail)
	for i, d := range todo {
		if err := d.Wait(context.Background()); !errors.Is(err, signer.ErrKeyUnavailable) {
			t.Errorf("key %d after serve stopped: %v, want ErrKeyUnavailable", i, err)
		}
	}
	if n := failures.Load(); n != 0 {
		t.Errorf("%d stopped unlocks reported as start-up failures", n)
	}

	var fresh []*signer.Deferred
	for _, d := range todo {
		fresh = append(fresh, signer.NewDeferred(d.Address()))
	}
	unlockKeystore(context.Background(), ks, fresh, pass(), fail)
	for i, d := range fresh {
		if err := d.Wait(context.Background()); err != nil {
			t.Errorf("key %d: %v", i, err)
		}
	}
}
