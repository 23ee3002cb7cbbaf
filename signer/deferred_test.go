package signer_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

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
		synctest.Test(t, func(t *testing.T) {
			raw := newRaw(t)
			d := signer.NewDeferred(raw.addr)
			if d.Address() != raw.addr {
				t.Fatal("Address before the key is ready")
			}
			digest := crypto.Keccak256([]byte("asked for before the key is ready"))
			done := signWhileNotReady(t, d, digest)
			d.Resolve(raw, nil)
			r := <-done
			if r.err != nil {
				t.Fatalf("SignDigest after the key became ready = %v", r.err)
			}
			if err := signer.VerifySignature(digest, r.sig, raw.addr); err != nil {
				t.Fatalf("the waiting signature is not the resolved key's: %v", err)
			}
		})
	})
	t.Run("a signature asked for first gets the key's failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := signer.NewDeferred(addr)
			done := signWhileNotReady(t, d, digest)
			d.Resolve(nil, errors.New("wrong passphrase"))
			if r := <-done; !errors.Is(r.err, signer.ErrKeyUnavailable) || r.sig != nil {
				t.Fatalf("SignDigest after the key failed = %x, %v; want ErrKeyUnavailable", r.sig, r.err)
			}
		})
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

type signResult struct {
	sig []byte
	err error
}

// signWhileNotReady asks d, whose key is not ready, for a signature of
// digest in another goroutine, and returns once that goroutine is provably
// blocked (synctest.Wait: every other goroutine of the bubble is durably
// blocked): its result arrives on the channel only after the key is
// resolved. A Deferred that answers before its key is ready fails the test.
// It must be called inside a synctest bubble that also made d.
func signWhileNotReady(t *testing.T, d *signer.Deferred, digest []byte) <-chan signResult {
	t.Helper()
	done := make(chan signResult, 1)
	go func() {
		sig, err := d.SignDigest(context.Background(), digest)
		done <- signResult{sig, err}
	}()
	synctest.Wait()
	select {
	case r := <-done:
		t.Fatalf("SignDigest answered before the key was ready: %x, %v", r.sig, r.err)
	default:
	}
	return done
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
