//go:build cgo

package pkcs11_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/miekg/pkcs11"

	"github.com/walletmcp/walletmcp/hsm"
	"github.com/walletmcp/walletmcp/signer"
	p11 "github.com/walletmcp/walletmcp/signer/pkcs11"
)

// BenchmarkSign compares signatures per second through the Signer (token
// signature, low-s normalisation, recovery of V, verification) with a raw
// C_SignInit + C_Sign loop on the same token and key, with 1, 2 and 4
// sessions each driven by its own goroutine.
func BenchmarkSign(b *testing.B) {
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("raw/sessions=%d", n), func(b *testing.B) { benchRaw(b, n) })
		b.Run(fmt.Sprintf("signer/sessions=%d", n), func(b *testing.B) { benchSigner(b, n, n) })
		b.Run(fmt.Sprintf("signer/sessions=%d/callers=16", n), func(b *testing.B) { benchSigner(b, n, 16) })
	}
}

// spread runs b.N calls of fn over n goroutines; fn gets its goroutine's index.
func spread(b *testing.B, n int, fn func(g int, i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range n {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := fn(g, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
}

func digest(i int64) []byte { return crypto.Keccak256([]byte(fmt.Sprint(i))) }

func benchSigner(b *testing.B, sessions, callers int) {
	_, s, _ := setup(b, sessions)
	ctx := context.Background()
	spread(b, callers, func(_ int, i int64) error {
		_, err := s.SignDigest(ctx, digest(i))
		return err
	})
}

func benchRaw(b *testing.B, n int) {
	_, s, f := setup(b, 1)
	// Find the key's object handle through one signature.
	var key uint
	f.SetBeforeSign(func(_ hsm.Module, _, k uint) error { key = k; return nil })
	if _, err := s.SignDigest(context.Background(), digest(0)); err != nil {
		b.Fatal(err)
	}
	f.SetBeforeSign(nil)
	m := f.Module
	sessions := make([]uint, n)
	for g := range sessions {
		h, err := m.OpenSession(f.Slot(), pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			b.Fatal(err)
		}
		sessions[g] = h
	}
	b.Cleanup(func() {
		for _, h := range sessions {
			_ = m.CloseSession(h)
		}
	})
	spread(b, n, func(g int, i int64) error {
		if err := m.SignInit(sessions[g], pkcs11.CKM_ECDSA, key); err != nil {
			return err
		}
		_, err := m.Sign(sessions[g], digest(i))
		return err
	})
}

// BenchmarkOverhead is what the Signer adds to each token signature: low-s
// normalisation, the recovery id and the check that the signature recovers
// to the address, over 64 signatures the token made (both parities of V).
// "keycheck" is the Signer's path (signer.KeyCheck: one recovery);
// "normalize" is signer.Normalize (V=0 then V=1 by recovery: 1.5 on average).
func BenchmarkOverhead(b *testing.B) {
	tok, s, f := setup(b, 1)
	type rawSig struct{ d, sig []byte }
	var raws []rawSig
	var last []byte
	f.SetAfterSign(func(sig []byte) []byte { last = bytes.Clone(sig); return sig })
	for i := range 64 {
		d := digest(int64(i))
		if _, err := s.SignDigest(context.Background(), d); err != nil {
			b.Fatal(err)
		}
		raws = append(raws, rawSig{d, last})
	}
	kc, err := signer.NewKeyCheck(tokenPoint(b, tok, s.Address()))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("keycheck", func(b *testing.B) {
		i := 0
		for b.Loop() {
			r := raws[i%len(raws)]
			i++
			if _, err := kc.Normalize(r.d, r.sig[:32], r.sig[32:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("normalize", func(b *testing.B) {
		i := 0
		for b.Loop() {
			r := raws[i%len(raws)]
			i++
			if _, err := signer.Normalize(r.d, r.sig[:32], r.sig[32:], s.Address()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// tokenPoint is the public point of the token's key for addr.
func tokenPoint(b *testing.B, tok *hsm.Token, addr common.Address) []byte {
	keys, err := tok.Keys(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range keys {
		if a, err := p11.Address(k.Point); err == nil && a == addr {
			return k.Point
		}
	}
	b.Fatal("the token has no key for the signer's address")
	return nil
}
