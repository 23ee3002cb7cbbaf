package hsm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

// fakeModule is a one-slot token with one key pair, enough for the session
// pool's logic; faults are set per test. It needs no cgo.
type fakeModule struct {
	mu        sync.Mutex
	pin       string
	loggedIn  bool
	sessions  map[uint]bool
	next      uint
	logins    int
	openFails error // OpenSession fails with this while set
	signFails error // SignInit fails with this while set
	finding   map[uint][]uint
}

func newFake(pin string) *fakeModule {
	return &fakeModule{pin: pin, sessions: map[uint]bool{}, next: 100, finding: map[uint][]uint{}}
}

func (f *fakeModule) Initialize() error { return nil }
func (f *fakeModule) Finalize() error   { return nil }
func (f *fakeModule) Destroy()          {}
func (f *fakeModule) GetSlotList(bool) ([]uint, error) {
	return []uint{7}, nil
}
func (f *fakeModule) GetTokenInfo(uint) (TokenInfo, error) {
	return TokenInfo{Label: "fake" + "                "}, nil
}
func (f *fakeModule) OpenSession(uint, uint) (uint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.openFails != nil {
		return 0, f.openFails
	}
	f.next++
	f.sessions[f.next] = true
	return f.next, nil
}
func (f *fakeModule) CloseSession(s uint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.sessions[s] {
		return Code(pkcs11.CKR_SESSION_HANDLE_INVALID)
	}
	delete(f.sessions, s)
	if len(f.sessions) == 0 {
		f.loggedIn = false // closing the last session logs out
	}
	return nil
}
func (f *fakeModule) GetSessionState(s uint) (uint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loggedIn {
		return pkcs11.CKS_RW_USER_FUNCTIONS, nil
	}
	return pkcs11.CKS_RW_PUBLIC_SESSION, nil
}
func (f *fakeModule) Login(s, _ uint, pin []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins++
	if f.loggedIn {
		return Code(pkcs11.CKR_USER_ALREADY_LOGGED_IN)
	}
	if string(pin) != f.pin {
		return Code(pkcs11.CKR_PIN_INCORRECT)
	}
	f.loggedIn = true
	return nil
}
func (f *fakeModule) FindObjectsInit(s uint, t []Attribute) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finding[s] = []uint{1}
	return nil
}
func (f *fakeModule) FindObjects(s uint, _ int) ([]uint, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.finding[s], false, nil
}
func (f *fakeModule) FindObjectsFinal(s uint) error { return nil }
func (f *fakeModule) GetAttributeValue(_, _ uint, types []uint) ([][]byte, error) {
	out := make([][]byte, len(types))
	for i, t := range types {
		switch t {
		case pkcs11.CKA_ID:
			out[i] = []byte{1}
		case pkcs11.CKA_LABEL:
			out[i] = []byte("k")
		case pkcs11.CKA_EC_POINT:
			out[i] = append([]byte{0x04, 0x41, 0x04}, make([]byte, 64)...)
		}
	}
	return out, nil
}
func (f *fakeModule) GenerateKeyPair(uint, uint, []Attribute, []Attribute) (uint, uint, error) {
	return 0, 0, Code(pkcs11.CKR_FUNCTION_FAILED)
}
func (f *fakeModule) SignInit(s, _, _ uint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.sessions[s] {
		return Code(pkcs11.CKR_SESSION_HANDLE_INVALID)
	}
	return f.signFails
}
func (f *fakeModule) Sign(uint, []byte) ([]byte, error) { return make([]byte, 64), nil }
func (f *fakeModule) DestroyObject(uint, uint) error    { return nil }

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func openFake(t *testing.T, f *fakeModule, clk *clock) (*Token, *Key) {
	t.Helper()
	tok, err := Open(context.Background(), &Config{
		ModulePath: "fake.so", TokenLabel: "fake", Sessions: 1,
		Load: func(string) (Module, error) { return f, nil },
		Now:  clk.Now, ReopenBackoff: 5 * time.Second,
	}, []byte(f.pin))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tok.Close() })
	k, err := tok.Key(context.Background(), []byte{1})
	if err != nil {
		t.Fatal(err)
	}
	return tok, k
}

// A session that cannot be reopened fails signatures at once, without
// calling the token, until the backoff has passed.
func TestReopenBackoff(t *testing.T) {
	f := newFake("1234")
	clk := &clock{now: time.Unix(1e9, 0)}
	_, k := openFake(t, f, clk)
	ctx := context.Background()
	f.mu.Lock()
	f.signFails = Code(pkcs11.CKR_DEVICE_ERROR)
	f.openFails = Code(pkcs11.CKR_DEVICE_REMOVED)
	f.mu.Unlock()
	if _, err := k.Sign(ctx, make([]byte, 32)); !errors.Is(err, Code(pkcs11.CKR_DEVICE_ERROR)) {
		t.Fatalf("first Sign = %v", err)
	}
	if _, err := k.Sign(ctx, make([]byte, 32)); !errors.Is(err, Code(pkcs11.CKR_DEVICE_REMOVED)) {
		t.Fatalf("Sign needing a reopen = %v, want the C_OpenSession error", err)
	}
	f.mu.Lock()
	f.openFails, f.signFails = nil, nil
	f.mu.Unlock()
	clk.Add(4 * time.Second)
	if _, err := k.Sign(ctx, make([]byte, 32)); !errors.Is(err, ErrToken) {
		t.Fatalf("Sign within the backoff = %v, want ErrToken", err)
	}
	f.mu.Lock()
	opened := f.next
	f.mu.Unlock()
	if opened != 101 {
		t.Fatalf("a session was opened within the backoff")
	}
	clk.Add(2 * time.Second)
	if _, err := k.Sign(ctx, make([]byte, 32)); err != nil {
		t.Fatalf("Sign after the backoff: %v", err)
	}
}

// When the token forgets the login and then refuses the PIN it accepted,
// the PIN is tried once and never again.
func TestReloginPINRefusedOnce(t *testing.T) {
	f := newFake("1234")
	_, k := openFake(t, f, &clock{now: time.Unix(1e9, 0)})
	ctx := context.Background()
	f.mu.Lock()
	f.pin = "changed"
	f.signFails = Code(pkcs11.CKR_DEVICE_ERROR) // the session is closed: the last one, so logged out
	f.mu.Unlock()
	if _, err := k.Sign(ctx, make([]byte, 32)); !errors.Is(err, ErrToken) {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.signFails = nil
	before := f.logins
	f.mu.Unlock()
	for range 3 {
		if _, err := k.Sign(ctx, make([]byte, 32)); !errors.Is(err, ErrPINIncorrect) {
			t.Fatalf("Sign after the PIN was refused = %v, want ErrPINIncorrect", err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logins-before != 1 {
		t.Fatalf("C_Login called %d times after the token forgot the login, want 1", f.logins-before)
	}
}
