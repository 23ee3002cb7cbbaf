package signer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/signer"
)

// zeroSigner claims an address and returns a zero signature (tests only).
type zeroSigner struct{ addr common.Address }

func (r zeroSigner) Address() common.Address { return r.addr }
func (r zeroSigner) SignDigest(context.Context, []byte) ([]byte, error) {
	return make([]byte, signer.SignatureLength), nil
}

func TestDeferred(t *testing.T) {
	key, _ := crypto.GenerateKey()
	addr := crypto.PubkeyToAddress(key.PublicKey)
	digest := make([]byte, signer.DigestLength)

	t.Run("a signature asked for first waits for the key", func(t *testing.T) {
		d := signer.NewDeferred(addr)
		if d.Address() != addr {
			t.Fatal("Address before the key is ready")
		}
		done := make(chan error, 1)
		go func() { _, err := d.SignDigest(context.Background(), digest); done <- err }()
		d.Resolve(zeroSigner{addr}, nil)
		if err := <-done; err != nil {
			t.Fatalf("SignDigest = %v", err)
		}
	})
	t.Run("bounded by its context", func(t *testing.T) {
		d := signer.NewDeferred(addr)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := d.SignDigest(ctx, digest); !errors.Is(err, context.Canceled) {
			t.Fatalf("SignDigest = %v, want context.Canceled", err)
		}
	})
	t.Run("an unlock failure never signs", func(t *testing.T) {
		d := signer.NewDeferred(addr)
		d.Resolve(nil, errors.New("wrong passphrase"))
		d.Resolve(zeroSigner{addr}, nil) // too late: the first call counts
		if _, err := d.SignDigest(context.Background(), digest); !errors.Is(err, signer.ErrKeyUnavailable) {
			t.Fatalf("SignDigest = %v, want ErrKeyUnavailable", err)
		}
	})
	t.Run("another account's key is refused", func(t *testing.T) {
		d := signer.NewDeferred(addr)
		d.Resolve(zeroSigner{common.HexToAddress("0x1")}, nil)
		if _, err := d.SignDigest(context.Background(), digest); !errors.Is(err, signer.ErrKeyUnavailable) {
			t.Fatalf("SignDigest = %v, want ErrKeyUnavailable", err)
		}
	})
}

// nowSigner is a zeroSigner that says whether it signs now.
type nowSigner struct {
	zeroSigner
	now bool
}

func (n nowSigner) SignsNow() bool { return n.now }

// TestDeferredSignsNow: a Deferred signs now only once its key is ready and
// that key signs now; not while it is being unlocked, not after it failed.
func TestDeferredSignsNow(t *testing.T) {
	addr := common.HexToAddress("0xa11ce")
	for _, c := range []struct {
		name    string
		resolve func(*signer.Deferred)
		want    bool
	}{
		{"not ready", func(*signer.Deferred) {}, false},
		{"ready, immediate", func(d *signer.Deferred) { d.Resolve(nowSigner{zeroSigner{addr}, true}, nil) }, true},
		{"ready, not immediate", func(d *signer.Deferred) { d.Resolve(nowSigner{zeroSigner{addr}, false}, nil) }, false},
		{"ready, no SignsNow", func(d *signer.Deferred) { d.Resolve(zeroSigner{addr}, nil) }, false},
		{"failed", func(d *signer.Deferred) { d.Resolve(nil, errors.New("wrong passphrase")) }, false},
		{"another account's key", func(d *signer.Deferred) {
			d.Resolve(nowSigner{zeroSigner{common.HexToAddress("0xb0b")}, true}, nil)
		}, false},
	} {
		d := signer.NewDeferred(addr)
		c.resolve(d)
		if got := signer.SignsNow(d); got != c.want {
			t.Errorf("%s: SignsNow %v, want %v", c.name, got, c.want)
		}
	}
}
