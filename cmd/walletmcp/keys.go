package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/signer"
	kssigner "github.com/walletmcp/walletmcp/signer/keystore"
	"github.com/walletmcp/walletmcp/wallet"
)

// keyStart is the background start of serve's keys: every keystore, hd and
// hsm account's Signer is a signer.Deferred made ready here, so that the
// MCP handshake does not wait for a scrypt, the HD helper or a token login.
type keyStart struct {
	done   chan struct{} // closed when every key is ready or failed
	err    error         // the first failure, set before done is closed
	cancel context.CancelFunc
	close  func() // closes the HSM token; set before done is closed
}

// startKeys returns at once a key map whose keystore, hd and hsm accounts
// are signer.Deferred, and makes their keys ready in the background:
// keystore keys are unlocked (sealed) as many at a time as there are cores
// (scrypt is CPU- and memory-bound), hd keys are derived in the helper
// process, hsm keys are looked up after one login. It takes pass over: pass
// is wiped, and the heap scrubbed, once the keystore unlocks and the HD
// helper, its only users, have finished. The hsm PIN is read before it
// returns (from its file or the terminal, never in the background); a PIN
// that cannot be read is returned as an error (pass is then wiped). A key
// that cannot be made ready fails its Deferred and sets err.
func (c *cli) startKeys(ctx context.Context, h *config.Home, cfg *config.Config, accts []config.Account, pass *secret.Bytes) (approval.KeyMap, *keyStart, error) {
	pin, err := c.hsmServePIN(h, cfg, accts)
	if err != nil {
		pass.Wipe()
		return nil, nil, err
	}
	keys := approval.KeyMap{}
	var ksKeys []*signer.Deferred
	hdKeys, hsmKeyset := map[common.Address]*signer.Deferred{}, map[common.Address]*signer.Deferred{}
	for _, a := range accts {
		d := signer.NewDeferred(a.Address)
		switch a.Backend {
		case config.BackendKeystore:
			ksKeys = append(ksKeys, d)
		case config.BackendHD:
			hdKeys[a.Address] = d
		case config.BackendHSM:
			hsmKeyset[a.Address] = d
		default:
			continue
		}
		keys[a.Address] = d
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ks := &keyStart{done: make(chan struct{}), cancel: cancel, close: func() {}}
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		if ks.err == nil {
			ks.err = err
		}
		mu.Unlock()
	}
	var all sync.WaitGroup
	all.Go(func() {
		defer scrubHeap()
		defer pass.Wipe()
		var users sync.WaitGroup
		users.Go(func() { unlockKeystore(ctx, keystoreOf(h, false), ksKeys, pass, fail) })
		users.Go(func() {
			got := approval.KeyMap{}
			err := unlockHD(ctx, h, accts, pass, got)
			resolveAll(hdKeys, got, err, fail)
		})
		users.Wait()
	})
	if pin != nil {
		all.Go(func() {
			defer pin.Wipe()
			got, closeTok, err := hsmKeys(ctx, cfg, accts, pin)
			if err == nil {
				ks.close = closeTok
			}
			resolveAll(hsmKeyset, got, err, fail)
		})
	}
	go func() {
		all.Wait()
		close(ks.done)
	}()
	return keys, ks, nil
}

// unlockKeystore unlocks the keystore keys of todo with pass, as many at
// a time as there are cores, and resolves each; fail is told each failure.
// Once ctx is done (serve is stopping) no further unlock starts: the keys
// still queued are resolved with ErrKeyUnavailable, so that an exit waits
// for at most the scrypts already running (each up to a second and 256 MiB
// at the standard parameters), not for every key of the home.
func unlockKeystore(ctx context.Context, ks *wallet.Keystore, todo []*signer.Deferred, pass *secret.Bytes, fail func(error)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, d := range todo {
		if ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			for _, rest := range todo[i:] {
				rest.Resolve(nil, ctx.Err())
			}
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			k, err := unlockOne(ks, d.Address(), pass)
			if err != nil {
				d.Resolve(nil, err)
				fail(fmt.Errorf("serve: unlocking %s: %w", d.Address().Hex(), err))
				return
			}
			d.Resolve(kssigner.New(k), nil)
		})
	}
}

// unlockOne unlocks one keystore key for unlockKeystore: a variable only so
// that a test can hold the unlocks and count how many run at once.
var unlockOne = (*wallet.Keystore).Unlock

// resolveAll resolves each Deferred of want with its key in got, or, when
// err is not nil, as failed (fail is told err once).
func resolveAll(want map[common.Address]*signer.Deferred, got approval.KeyMap, err error, fail func(error)) {
	if err != nil {
		fail(err)
	}
	for addr, d := range want {
		if err != nil {
			d.Resolve(nil, err)
			continue
		}
		s, ok := got[addr]
		if !ok {
			d.Resolve(nil, fmt.Errorf("serve: account %s: no key was made ready", addr.Hex()))
			fail(fmt.Errorf("serve: account %s: no key was made ready", addr.Hex()))
			continue
		}
		d.Resolve(s, nil)
	}
}

// wait returns once every key is ready (nil) or one failed (its error), or
// with ctx's error.
func (ks *keyStart) wait(ctx context.Context) error {
	select {
	case <-ks.done:
		return ks.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failed returns the failure of a key when every key is done, else nil.
func (ks *keyStart) failed() error {
	select {
	case <-ks.done:
		return ks.err
	default:
		return nil
	}
}

// stop cancels what is still running (the HD helper, the token login),
// waits for it and closes the token.
func (ks *keyStart) stop() {
	ks.cancel()
	<-ks.done
	ks.close()
}
