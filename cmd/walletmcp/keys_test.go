package main

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/config"
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

// holdUnlocks makes unlockOne, for the rest of the test, count each unlock
// as started and hold it until release is called (release may be called
// more than once). Call it inside the synctest bubble, so that an unlock
// held is durably blocked. A test that fails while unlocks are held must
// release them in a cleanup registered after this call.
func holdUnlocks(t *testing.T) (started *atomic.Int32, release func()) {
	t.Helper()
	unlock := unlockOne
	t.Cleanup(func() { unlockOne = unlock })
	started, held := new(atomic.Int32), make(chan struct{})
	unlockOne = func(ks *wallet.Keystore, addr common.Address, pass *secret.Bytes) (*wallet.SealedKey, error) {
		started.Add(1)
		<-held
		return unlock(ks, addr, pass)
	}
	return started, sync.OnceFunc(func() { close(held) })
}

// newKeystoreKeys makes n keys in ks (light scrypt) with pass.
func newKeystoreKeys(t *testing.T, ks *wallet.Keystore, n int, pass func() *secret.Bytes) []common.Address {
	t.Helper()
	var addrs []common.Address
	for range n {
		addr, err := ks.New(pass())
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, addr)
	}
	return addrs
}

// signsAs checks that s signs, and with the key of its address.
func signsAs(t *testing.T, s signer.Signer) {
	t.Helper()
	digest := crypto.Keccak256(s.Address().Bytes())
	sig, err := s.SignDigest(context.Background(), digest)
	if err != nil {
		t.Fatalf("%s: SignDigest = %v", s.Address().Hex(), err)
	}
	if err := signer.VerifySignature(digest, sig, s.Address()); err != nil {
		t.Fatalf("%s: %v", s.Address().Hex(), err)
	}
}

// TestUnlockKeystoreAsManyAsCores: unlockKeystore runs as many unlocks at
// once as there are cores, no fewer and no more: with one key more than
// GOMAXPROCS and every unlock held, exactly GOMAXPROCS have started once
// nothing can move (synctest.Wait), the last key waiting for a free core;
// let go, every key is unlocked and signs.
func TestUnlockKeystoreAsManyAsCores(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	if procs < 2 {
		t.Skipf("GOMAXPROCS is %d: unlocks run in parallel cannot be told from one at a time", procs)
	}
	synctest.Test(t, func(t *testing.T) {
		ks := wallet.NewKeystore(t.TempDir(), wallet.LightKeystoreOptions())
		pass := func() *secret.Bytes { return secret.CopyBytes([]byte("unlock-cores-passphrase")) }
		var todo []*signer.Deferred
		for _, addr := range newKeystoreKeys(t, ks, procs+1, pass) {
			todo = append(todo, signer.NewDeferred(addr))
		}
		started, release := holdUnlocks(t)
		done := make(chan struct{})
		go func() {
			defer close(done)
			unlockKeystore(context.Background(), ks, todo, pass(), func(err error) { t.Errorf("unlock: %v", err) })
		}()
		t.Cleanup(func() { release(); <-done })
		synctest.Wait()
		if n := started.Load(); n != int32(procs) {
			t.Errorf("%d unlocks at once for %d keys with GOMAXPROCS %d, want %d", n, len(todo), procs, procs)
		}
		release()
		<-done
		for _, d := range todo {
			signsAs(t, d)
		}
	})
}

// TestStartKeysReturnsBeforeKeysUnlock: startKeys hands out the keys while
// their unlocks are still running (here held), so that serve's MCP
// handshake does not wait for a scrypt. A signature asked for meanwhile
// waits for its key, neither failing nor answering; once the unlocks are
// let go it is made by the account's key, and every key is ready.
func TestStartKeysReturnsBeforeKeysUnlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &config.Home{Dir: t.TempDir()}
		pass := func() *secret.Bytes { return secret.CopyBytes([]byte("start-keys-passphrase")) }
		var accts []config.Account
		for _, addr := range newKeystoreKeys(t, wallet.NewKeystore(h.Path(config.KeystoreDir), wallet.LightKeystoreOptions()), 2, pass) {
			accts = append(accts, config.Account{Address: addr, Backend: config.BackendKeystore})
		}
		started, release := holdUnlocks(t)

		type startResult struct {
			keys approval.KeyMap
			ks   *keyStart
			err  error
		}
		returned := make(chan startResult, 1)
		go func() {
			keys, ks, err := (&cli{}).startKeys(context.Background(), h, &config.Config{}, accts, pass())
			returned <- startResult{keys, ks, err}
		}()
		var r startResult
		select {
		case r = <-returned:
		case <-time.After(time.Hour):
			// The bubble's clock moves only once every goroutine in it is
			// blocked: startKeys is waiting for the unlocks held.
			release()
			if r = <-returned; r.ks != nil {
				r.ks.stop()
			}
			t.Fatal("startKeys waited for the keys to unlock before returning")
		}
		if r.err != nil {
			t.Fatalf("startKeys: %v", r.err)
		}
		t.Cleanup(func() { release(); r.ks.stop() })
		synctest.Wait()
		if started.Load() == 0 {
			t.Fatal("no unlock started in the background")
		}
		select {
		case <-r.ks.done:
			t.Fatalf("keys done (%v) while their unlocks are held", r.ks.err)
		default:
		}

		d := r.keys[accts[0].Address]
		if d == nil {
			t.Fatalf("no key for %s", accts[0].Address.Hex())
		}
		if signer.SignsNow(d) {
			t.Error("SignsNow while the key is being unlocked")
		}
		signed := make(chan error, 1)
		go func() {
			digest := crypto.Keccak256([]byte("asked for while the key unlocks"))
			sig, err := d.SignDigest(context.Background(), digest)
			if err == nil {
				err = signer.VerifySignature(digest, sig, d.Address())
			}
			signed <- err
		}()
		synctest.Wait()
		select {
		case err := <-signed:
			t.Fatalf("a signature asked for while its key unlocks answered at once: %v", err)
		default:
		}

		release()
		if err := <-signed; err != nil {
			t.Fatalf("the signature that waited for its key: %v", err)
		}
		if err := r.ks.wait(context.Background()); err != nil {
			t.Fatalf("keys: %v", err)
		}
		for _, a := range accts {
			signsAs(t, r.keys[a.Address])
		}
	})
}
