package signer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ethereum/go-ethereum/common"
)

// ErrKeyUnavailable is returned by a Deferred whose key could not be made
// ready (Resolve with an error): it never signs.
var ErrKeyUnavailable = errors.New("signer: the account's key could not be unlocked")

// Deferred is a Signer whose key is made ready after it is handed out: a
// server answers requests while its keys are still being unlocked (a
// keystore's scrypt takes about a second each), and a signature asked for
// before then waits for the key, bounded by its context. Resolve makes the
// key ready once. A Deferred is safe for concurrent use.
type Deferred struct {
	addr  common.Address
	ready chan struct{} // closed by Resolve

	once sync.Once
	s    Signer // set before ready is closed
	err  error
}

var _ Signer = (*Deferred)(nil)

// NewDeferred returns a Deferred for the key of addr, not ready yet.
func NewDeferred(addr common.Address) *Deferred {
	return &Deferred{addr: addr, ready: make(chan struct{})}
}

// Resolve makes the key ready: s signs from now on, or, if err is not nil
// (or s signs for another address), every signature fails with
// ErrKeyUnavailable. Only the first call counts.
func (d *Deferred) Resolve(s Signer, err error) {
	d.once.Do(func() {
		switch {
		case err != nil:
			d.err = fmt.Errorf("%w: %s", ErrKeyUnavailable, d.addr.Hex())
		case s == nil || s.Address() != d.addr:
			d.err = fmt.Errorf("%w: %s (the unlocked key is another account's)", ErrKeyUnavailable, d.addr.Hex())
		default:
			d.s = s
		}
		close(d.ready)
	})
}

// Address returns the account's address, known before the key is ready.
func (d *Deferred) Address() common.Address { return d.addr }

// Wait returns once the key is ready (nil) or could not be made ready
// (ErrKeyUnavailable), or with ctx's error when ctx ends first.
func (d *Deferred) Wait(ctx context.Context) error {
	select {
	case <-d.ready:
		return d.err
	case <-ctx.Done():
		return fmt.Errorf("signer: waiting for the account's key: %w", ctx.Err())
	}
}

// SignDigest waits for the key (Wait), then signs with it.
func (d *Deferred) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	if err := d.Wait(ctx); err != nil {
		return nil, err
	}
	return d.s.SignDigest(ctx, digest)
}

// SignsNow reports whether the key is ready and the signer it resolved to
// signs now (signer.Immediate): false while the key is being unlocked and
// after it failed to.
func (d *Deferred) SignsNow() bool {
	select {
	case <-d.ready:
		return d.err == nil && SignsNow(d.s)
	default:
		return false
	}
}
