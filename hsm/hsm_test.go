//go:build cgo

package hsm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/miekg/pkcs11"

	"github.com/walletmcp/walletmcp/hsm"
	"github.com/walletmcp/walletmcp/hsm/hsmtest"
)

const tokenLabel = "walletmcp-test"

func open(t *testing.T, cfg *hsm.Config, pin string) *hsm.Token {
	t.Helper()
	tok, err := hsm.Open(context.Background(), cfg, []byte(pin))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = tok.Close() })
	return tok
}

// verify checks a raw r‖s over digest against the uncompressed point,
// normalising s (libsecp256k1 accepts low s only).
func verify(t *testing.T, point, digest, sig []byte) {
	t.Helper()
	if len(sig) != 64 {
		t.Fatalf("signature is %d bytes, want 64", len(sig))
	}
	n := crypto.S256().Params().N
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		s.Sub(n, s)
	}
	norm := append(bytes.Clone(sig[:32]), s.FillBytes(make([]byte, 32))...)
	if !crypto.VerifySignature(point, digest, norm) {
		t.Fatalf("signature over %x does not verify", digest)
	}
}

func TestGenerateListSign(t *testing.T) {
	tk := hsmtest.New(t, tokenLabel)
	tok := open(t, tk.Config(2), tk.PIN)
	ctx := context.Background()

	a, err := tok.GenerateKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	b, err := tok.GenerateKey(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.ID) != 16 || bytes.Equal(a.ID, b.ID) || len(a.Point) != 65 || a.Point[0] != 4 {
		t.Fatalf("key infos: %x %x point %x", a.ID, b.ID, a.Point)
	}
	if _, err := crypto.UnmarshalPubkey(a.Point); err != nil {
		t.Fatalf("point not on secp256k1: %v", err)
	}
	keys, err := tok.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Label != "alice" || keys[1].Label != "bob" || !bytes.Equal(keys[0].Point, a.Point) {
		t.Fatalf("Keys = %+v", keys)
	}
	k, err := tok.Key(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Info().Point, b.Point) {
		t.Fatal("Key found another point")
	}
	for i := range 20 {
		d := crypto.Keccak256([]byte{byte(i)})
		sig, err := k.Sign(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, b.Point, d, sig)
	}
	if _, err := k.Sign(ctx, make([]byte, 31)); err == nil {
		t.Fatal("31-byte digest signed")
	}
	if _, err := tok.Key(ctx, []byte("no such id")); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("Key(unknown) = %v, want ErrKeyNotFound", err)
	}
	for _, bad := range []string{"", strings.Repeat("x", 65), "a\nb"} {
		if _, err := tok.GenerateKey(ctx, bad); !errors.Is(err, hsm.ErrLabel) {
			t.Errorf("GenerateKey(%q) = %v, want ErrLabel", bad, err)
		}
	}
}

// The private key is sensitive and not extractable, and the token refuses
// to reveal CKA_VALUE.
func TestPrivateKeyNeverLeaves(t *testing.T) {
	tk := hsmtest.New(t, tokenLabel)
	f := &hsmtest.Faults{}
	cfg := tk.Config(1)
	cfg.Load = func(p string) (hsm.Module, error) {
		m, err := hsm.LoadModule(p)
		f.Module = m
		return f, err
	}
	tok := open(t, cfg, tk.PIN)
	ctx := context.Background()
	ki, err := tok.GenerateKey(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	k, err := tok.Key(ctx, ki.ID)
	if err != nil {
		t.Fatal(err)
	}
	checked := false
	f.SetBeforeSign(func(m hsm.Module, s, key uint) error {
		v, err := m.GetAttributeValue(s, key, []uint{pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_PRIVATE, pkcs11.CKA_TOKEN, pkcs11.CKA_ALWAYS_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE})
		if err != nil {
			t.Errorf("reading the private key's flags: %v", err)
			return nil
		}
		want := []byte{1, 0, 1, 1, 1, 1}
		for i, a := range v {
			if len(a) != 1 || a[0] != want[i] {
				t.Errorf("attribute %d = %x, want %x", i, a, want[i])
			}
		}
		val, err := m.GetAttributeValue(s, key, []uint{pkcs11.CKA_VALUE})
		if !errors.Is(err, hsm.Code(pkcs11.CKR_ATTRIBUTE_SENSITIVE)) {
			t.Errorf("reading CKA_VALUE: %x, %v; want CKR_ATTRIBUTE_SENSITIVE", val, err)
		}
		checked = true
		return nil
	})
	if _, err := k.Sign(ctx, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("hook did not run")
	}
}

// countLogins counts C_Login calls.
type countLogins struct {
	hsm.Module
	mu sync.Mutex
	n  int
}

func (c *countLogins) Login(s, u uint, pin []byte) error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Module.Login(s, u, pin)
}

func TestOpenFailsClosed(t *testing.T) {
	tk := hsmtest.New(t, tokenLabel)
	ctx := context.Background()
	noPIN := func(t *testing.T, err error) {
		t.Helper()
		if err != nil && strings.Contains(err.Error(), tk.PIN) {
			t.Errorf("error shows the PIN: %v", err)
		}
	}

	t.Run("WrongPINTriedOnce", func(t *testing.T) {
		c := &countLogins{}
		cfg := tk.Config(3)
		cfg.Load = func(p string) (hsm.Module, error) {
			m, err := hsm.LoadModule(p)
			c.Module = m
			return c, err
		}
		_, err := hsm.Open(ctx, cfg, []byte(tk.PIN+"x"))
		if !errors.Is(err, hsm.ErrPINIncorrect) {
			t.Fatalf("Open with a wrong PIN = %v, want ErrPINIncorrect", err)
		}
		noPIN(t, err)
		if c.n != 1 {
			t.Errorf("C_Login called %d times, want 1", c.n)
		}
		// The module was released: the right PIN opens it now.
		_ = open(t, tk.Config(1), tk.PIN).Close()
	})
	t.Run("MissingModule", func(t *testing.T) {
		cfg := tk.Config(1)
		cfg.ModulePath = t.TempDir() + "/nope.so"
		_, err := hsm.Open(ctx, cfg, []byte(tk.PIN))
		if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), "nope.so") {
			t.Fatalf("Open = %v, want ErrModule naming the path", err)
		}
		noPIN(t, err)
	})
	t.Run("NotAModule", func(t *testing.T) {
		cfg := tk.Config(1)
		cfg.ModulePath = tk.Conf
		_, err := hsm.Open(ctx, cfg, []byte(tk.PIN))
		if !errors.Is(err, hsm.ErrModule) {
			t.Fatalf("Open = %v, want ErrModule", err)
		}
	})
	t.Run("MissingToken", func(t *testing.T) {
		cfg := tk.Config(1)
		cfg.TokenLabel = "other"
		_, err := hsm.Open(ctx, cfg, []byte(tk.PIN))
		if !errors.Is(err, hsm.ErrTokenNotFound) || !strings.Contains(err.Error(), `"other"`) {
			t.Fatalf("Open = %v, want ErrTokenNotFound naming the label", err)
		}
		noPIN(t, err)
	})
	t.Run("EmptyPIN", func(t *testing.T) {
		if _, err := hsm.Open(ctx, tk.Config(1), nil); !errors.Is(err, hsm.ErrNoPIN) {
			t.Fatalf("Open = %v, want ErrNoPIN", err)
		}
	})
}

// signer opens tk with n sessions through a Faults module and returns a key.
func faultyKey(t *testing.T, tk *hsmtest.Token, n int) (*hsm.Token, *hsm.Key, *hsmtest.Faults) {
	t.Helper()
	f := &hsmtest.Faults{}
	cfg := tk.Config(n)
	cfg.Load = func(p string) (hsm.Module, error) {
		m, err := hsm.LoadModule(p)
		f.Module = m
		return f, err
	}
	tok := open(t, cfg, tk.PIN)
	ki, err := tok.GenerateKey(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	k, err := tok.Key(context.Background(), ki.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tok, k, f
}

// A session closed under the Token fails that signature; the next one
// reopens a session, and logs in again when the token forgot the login
// (closing the last session logs out).
func TestSessionClosedUnderneath(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("sessions=%d", n), func(t *testing.T) { testSessionClosed(t, n) })
	}
}

func testSessionClosed(t *testing.T, n int) {
	{
		tk := hsmtest.New(t, tokenLabel)
		_, k, f := faultyKey(t, tk, n)
		ctx := context.Background()
		d := crypto.Keccak256([]byte("x"))
		f.SetBeforeSign(func(m hsm.Module, s, _ uint) error {
			if err := m.CloseSession(s); err != nil {
				t.Errorf("closing: %v", err)
			}
			return nil
		})
		sig, err := k.Sign(ctx, d)
		if !errors.Is(err, hsm.ErrToken) || sig != nil {
			t.Fatalf("sessions=%d: Sign on a closed session = %x, %v; want ErrToken and no signature", n, sig, err)
		}
		if f.Signs() != 0 {
			t.Fatal("something was signed")
		}
		f.SetBeforeSign(nil)
		for range n + 1 {
			sig, err = k.Sign(ctx, d)
			if err != nil {
				t.Fatalf("sessions=%d: Sign after reopening: %v", n, err)
			}
			verify(t, k.Info().Point, d, sig)
		}
	}
}

// A key deleted from the token is never signed with: the signature in
// flight fails, and the next finds no key.
func TestKeyDeleted(t *testing.T) {
	tk := hsmtest.New(t, tokenLabel)
	_, k, f := faultyKey(t, tk, 2)
	ctx := context.Background()
	f.SetBeforeSign(func(_ hsm.Module, _, key uint) error {
		if err := f.DeleteObject(key); err != nil {
			t.Errorf("destroying: %v", err)
		}
		return nil
	})
	if sig, err := k.Sign(ctx, make([]byte, 32)); !errors.Is(err, hsm.ErrToken) || sig != nil {
		t.Fatalf("Sign with the key deleted = %x, %v; want ErrToken", sig, err)
	}
	f.SetBeforeSign(nil)
	for range 3 {
		if sig, err := k.Sign(ctx, make([]byte, 32)); !errors.Is(err, hsm.ErrKeyNotFound) || sig != nil {
			t.Fatalf("Sign after deletion = %x, %v; want ErrKeyNotFound", sig, err)
		}
	}
	if f.Signs() != 0 {
		t.Fatal("something was signed")
	}
}

// An injected token error fails only that signature.
func TestTokenErrorFailsOneSignature(t *testing.T) {
	tk := hsmtest.New(t, tokenLabel)
	_, k, f := faultyKey(t, tk, 2)
	ctx := context.Background()
	f.SetBeforeSign(func(hsm.Module, uint, uint) error { return hsm.Code(pkcs11.CKR_DEVICE_ERROR) })
	_, err := k.Sign(ctx, make([]byte, 32))
	if !errors.Is(err, hsm.ErrToken) || !errors.Is(err, hsm.Code(pkcs11.CKR_DEVICE_ERROR)) || !strings.Contains(err.Error(), "CKR_DEVICE_ERROR") {
		t.Fatalf("Sign = %v, want ErrToken with CKR_DEVICE_ERROR", err)
	}
	f.SetBeforeSign(nil)
	if _, err := k.Sign(ctx, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentAndClose(t *testing.T) {
	tk := hsmtest.New(t, tokenLabel)
	tok, k, _ := faultyKey(t, tk, 3)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			for i := range 10 {
				d := crypto.Keccak256([]byte{byte(g), byte(i)})
				sig, err := k.Sign(ctx, d)
				if err != nil {
					t.Error(err)
					return
				}
				verify(t, k.Info().Point, d, sig)
			}
		})
	}
	wg.Wait()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := k.Sign(cctx, make([]byte, 32)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sign with canceled ctx = %v", err)
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(ctx, make([]byte, 32)); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("Sign after Close = %v, want ErrClosed", err)
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
}

// The pool signs in read-only user sessions (SoftHSM signs faster in
// them); key generation still works through its own read-write session.
func TestPoolSessionsReadOnly(t *testing.T) {
	tk := hsmtest.New(t, tokenLabel)
	_, k, f := faultyKey(t, tk, 2)
	var state uint
	f.SetBeforeSign(func(m hsm.Module, s, _ uint) error {
		var err error
		state, err = m.GetSessionState(s)
		return err
	})
	if _, err := k.Sign(context.Background(), make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if state != 1 { // CKS_RO_USER_FUNCTIONS
		t.Fatalf("signing session state %d, want CKS_RO_USER_FUNCTIONS (1)", state)
	}
}
