package ops

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/signer"
	kssigner "github.com/walletmcp/walletmcp/signer/keystore"
	"github.com/walletmcp/walletmcp/wallet"
)

// rawSigner signs with key but claims addr (a key swapped under the server
// when addr is not key's).
type rawSigner struct {
	key  []byte
	addr common.Address
}

func (s *rawSigner) Address() common.Address { return s.addr }
func (s *rawSigner) SignDigest(_ context.Context, d []byte) ([]byte, error) {
	k, err := crypto.ToECDSA(s.key)
	if err != nil {
		return nil, err
	}
	return crypto.Sign(d, k)
}

func TestSelfCheckDisablesSwappedKey(t *testing.T) {
	a, _ := crypto.GenerateKey()
	b, _ := crypto.GenerateKey()
	good := &Checked{Signer: &rawSigner{key: crypto.FromECDSA(a), addr: crypto.PubkeyToAddress(a.PublicKey)}, Backend: "keystore"}
	swapped := &Checked{Signer: &rawSigner{key: crypto.FromECDSA(b), addr: crypto.PubkeyToAddress(a.PublicKey)}, Backend: "keystore"}
	res, err := SelfCheck(context.Background(), []*Checked{good}, rand.Reader)
	if err != nil || len(res) != 1 || res[0].Err != nil || good.Disabled() {
		t.Fatalf("good key: %+v %v", res, err)
	}
	res, err = SelfCheck(context.Background(), []*Checked{good, swapped}, rand.Reader)
	if err != nil || len(res) != 2 {
		t.Fatal(res, err)
	}
	if !swapped.Disabled() || good.Disabled() {
		t.Fatalf("disabled: good %v swapped %v", good.Disabled(), swapped.Disabled())
	}
	if _, err := swapped.SignDigest(context.Background(), make([]byte, 32)); !errors.Is(err, ErrKeyDisabled) {
		t.Fatalf("a disabled key signed: %v", err)
	}
}

// failFreezeStore cannot store a freeze.
type failFreezeStore struct{ marks []string }

func (*failFreezeStore) SetFrozen(context.Context, common.Address, bool, string) (bool, error) {
	return false, errors.New("store: begin: database is locked")
}
func (s *failFreezeStore) SetMark(_ context.Context, _, v string) error {
	s.marks = append(s.marks, v)
	return nil
}

// TestPeriodicCheckFailsClosed: a swapped key whose freeze cannot be stored
// stays disabled, and the failed freeze is audited (freeze_failed) beside
// self_check_failed; an audit chain that does not verify is audit_break.
func TestPeriodicCheckFailsClosed(t *testing.T) {
	a, _ := crypto.GenerateKey()
	b, _ := crypto.GenerateKey()
	swapped := &Checked{Signer: &rawSigner{key: crypto.FromECDSA(b), addr: crypto.PubkeyToAddress(a.PublicKey)}, Backend: "keystore"}
	lg := &recLog{}
	st := &failFreezeStore{}
	verified := 0
	pc := &PeriodicCheck{Keys: []*Checked{swapped}, Store: st, Audit: lg,
		VerifyAudit: func() error { verified++; return errors.New("audit: log truncated") }}
	pc.Run(context.Background())
	if !swapped.Disabled() {
		t.Fatal("the swapped key is not disabled")
	}
	ff := lg.events("freeze_failed")
	if len(ff) != 1 || ff[0]["from"] != swapped.Address().Hex() || ff[0]["rule"] != SelfCheckMark {
		t.Fatalf("freeze_failed %v", ff)
	}
	if ev, ok := AlertFor("freeze_failed", ff[0]); !ok || ev.Severity != SeverityCritical {
		t.Fatalf("freeze_failed alert %+v %v", ev, ok)
	}
	if n := len(lg.events("self_check_failed")); n != 1 {
		t.Fatalf("self_check_failed %d", n)
	}
	if verified != 1 || len(lg.events("audit_break")) != 1 {
		t.Fatalf("audit verified %d, audit_break %v", verified, lg.events("audit_break"))
	}
	if len(st.marks) != 1 || st.marks[0] != "0 of 1 keys ok" {
		t.Fatalf("marks %v", st.marks)
	}
}

// TestCheckedSignsNow: a checked key (and its timed wrapper) signs now while
// it is enabled and its key does; a key the self-check disabled does not.
func TestCheckedSignsNow(t *testing.T) {
	a, _ := crypto.GenerateKey()
	b, _ := crypto.GenerateKey()
	sealed, err := wallet.SealKey(crypto.FromECDSA(a))
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Destroy()
	m := NewMetrics(nil)
	good := &Checked{Signer: m.TimeSigner(kssigner.New(sealed), "keystore"), Backend: "keystore"}
	if !signer.SignsNow(good) {
		t.Fatal("an enabled keystore key does not sign now")
	}
	if signer.SignsNow(&Checked{Signer: m.TimeSigner(&rawSigner{key: crypto.FromECDSA(a), addr: crypto.PubkeyToAddress(a.PublicKey)}, "hsm")}) {
		t.Fatal("a key without SignsNow signs now")
	}
	swapped := &Checked{Signer: &swappedNow{Signer: kssigner.New(sealed), addr: crypto.PubkeyToAddress(b.PublicKey)}, Backend: "keystore"}
	if _, err := SelfCheck(context.Background(), []*Checked{swapped}, rand.Reader); err != nil {
		t.Fatal(err)
	}
	if !swapped.Disabled() || signer.SignsNow(swapped) {
		t.Fatalf("a key the self-check disabled: disabled %v, signs now %v", swapped.Disabled(), signer.SignsNow(swapped))
	}
}

// swappedNow is an immediate key that claims another address.
type swappedNow struct {
	signer.Signer
	addr common.Address
}

func (s *swappedNow) Address() common.Address { return s.addr }
func (s *swappedNow) SignsNow() bool          { return true }

// TestSelfCheckStoppedIsNoFailure: a check cut short by the server's stop
// (its context done while a key signs) disables no key, freezes nothing
// and logs no error.
func TestSelfCheckStoppedIsNoFailure(t *testing.T) {
	a, _ := crypto.GenerateKey()
	sealed, err := wallet.SealKey(crypto.FromECDSA(a))
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Destroy()
	k := &Checked{Signer: kssigner.New(sealed), Backend: "keystore"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SelfCheck(ctx, []*Checked{k}, rand.Reader); !errors.Is(err, context.Canceled) || k.Disabled() {
		t.Fatalf("SelfCheck after the stop: %v, disabled %v; want the context's error and the key enabled", err, k.Disabled())
	}
	var logs bytes.Buffer
	st := &markStore{}
	(&PeriodicCheck{Keys: []*Checked{k}, Store: st, Logger: slog.New(slog.NewTextHandler(&logs, nil))}).Run(ctx)
	if k.Disabled() || st.frozen || strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a stopped pass: disabled %v, frozen %v, logs %q", k.Disabled(), st.frozen, logs.String())
	}
}

// markStore is a SelfCheckStore that fails as a stopped store does.
type markStore struct{ frozen bool }

func (m *markStore) SetFrozen(ctx context.Context, _ common.Address, frozen bool, _ string) (bool, error) {
	m.frozen = frozen
	return false, ctx.Err()
}
func (m *markStore) SetMark(ctx context.Context, _, _ string) error { return ctx.Err() }
