// Package hsmtest gives a test its own SoftHSM2 token: a private
// SOFTHSM2_CONF and token directory in a temporary directory, a token initialised
// with softhsm2-util, and a PIN made for the test (a canary that tests scan
// output for). It also has Faults, a hsm.Module that injects faults.
//
// SoftHSM2 comes from Debian (`scripts/ensure-tools.sh softhsm`, which `make
// test` runs). Without it a test fails under CI (CI set) and skips elsewhere,
// saying how to install it. The module is $WALLETMCP_SOFTHSM_MODULE, else
// Debian's /usr/lib/softhsm/libsofthsm2.so.
package hsmtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/walletmcp/walletmcp/hsm"
)

// EnvModule names the environment variable that can point at libsofthsm2.so.
const EnvModule = "WALLETMCP_SOFTHSM_MODULE"

// DefaultModule is where Debian's softhsm2 package installs the module.
const DefaultModule = "/usr/lib/softhsm/libsofthsm2.so"

// Token is a SoftHSM2 token private to one test.
type Token struct {
	// Module is the path of libsofthsm2.so.
	Module string
	// Conf is the private SOFTHSM2_CONF file.
	Conf string
	// Dir is the token directory named in Conf.
	Dir string
	// Label is the token's label.
	Label string
	// PIN is the user PIN, unique to the test: scan output for it.
	PIN string
	// SOPIN is the security officer PIN.
	SOPIN string
}

// Tools returns the SoftHSM2 module and softhsm2-util, or fails (CI) or
// skips the test when they are missing.
func Tools(t testing.TB) (module, util string) {
	t.Helper()
	missing := func(why string) {
		msg := "hsmtest: " + why + "; run `scripts/ensure-tools.sh softhsm` (make test does)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	module = os.Getenv(EnvModule)
	if module == "" {
		module = DefaultModule
	}
	if _, err := os.Stat(module); err != nil {
		missing("no SoftHSM2 module at " + module)
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		missing("softhsm2-util is not installed")
	}
	return module, util
}

// New makes a private SoftHSM2 configuration with one token labelled label,
// and points SOFTHSM2_CONF at it with t.Setenv (so the test cannot be
// parallel). The directory is removed when the test ends.
func New(t testing.TB, label string) *Token {
	t.Helper()
	module, _ := Tools(t)
	// Not t.TempDir(): SoftHSM's configuration parser stops at '=' and other
	// characters a test name may put in that path.
	dir, err := os.MkdirTemp("", "softhsm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	tk := &Token{
		Module: module,
		Conf:   filepath.Join(dir, "softhsm2.conf"),
		Dir:    filepath.Join(dir, "tokens"),
		Label:  label,
		PIN:    "pin-canary-" + randHex(t, 8),
		SOPIN:  "so-" + randHex(t, 8),
	}
	if err := os.Mkdir(tk.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tk.Dir)
	if err := os.WriteFile(tk.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", tk.Conf)
	tk.InitToken(t, label)
	return tk
}

// InitToken initialises one more token, labelled label, with the same PINs.
func (tk *Token) InitToken(t testing.TB, label string) {
	t.Helper()
	_, util := Tools(t)
	cmd := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", tk.PIN, "--so-pin", tk.SOPIN)
	cmd.Env = append(os.Environ(), tk.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hsmtest: softhsm2-util --init-token: %v\n%s", err, out)
	}
}

// Env returns the environment entries that select this configuration, for
// a subprocess.
func (tk *Token) Env() []string { return []string{"SOFTHSM2_CONF=" + tk.Conf} }

// Config returns an hsm.Config for the token with n sessions.
func (tk *Token) Config(n int) *hsm.Config {
	return &hsm.Config{ModulePath: tk.Module, TokenLabel: tk.Label, Sessions: n}
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Faults is a hsm.Module that passes every call to Module, except that
// BeforeSign, when set, runs before each C_SignInit with the underlying
// Module and the session: a hook may close the session or destroy the key
// under the caller, or return an error that then fails the call as the
// token would. It also counts successful C_Sign calls.
type Faults struct {
	hsm.Module

	mu         sync.Mutex
	beforeSign func(m hsm.Module, session, key uint) error
	afterSign  func(sig []byte) []byte
	signs      int
	slot       uint
}

var _ hsm.Module = (*Faults)(nil)

// SetBeforeSign sets (or, with nil, clears) the hook run before C_SignInit.
func (f *Faults) SetBeforeSign(hook func(m hsm.Module, session, key uint) error) {
	f.mu.Lock()
	f.beforeSign = hook
	f.mu.Unlock()
}

// SetAfterSign sets (or clears) a hook that sees, and may replace, each
// signature C_Sign returns.
func (f *Faults) SetAfterSign(hook func(sig []byte) []byte) {
	f.mu.Lock()
	f.afterSign = hook
	f.mu.Unlock()
}

// Signs returns how many C_Sign calls succeeded.
func (f *Faults) Signs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.signs
}

// OpenSession is the Module's OpenSession; it remembers the slot.
func (f *Faults) OpenSession(slot, flags uint) (uint, error) {
	f.mu.Lock()
	f.slot = slot
	f.mu.Unlock()
	return f.Module.OpenSession(slot, flags)
}

// Slot returns the slot of the last session opened.
func (f *Faults) Slot() uint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.slot
}

// SignInit runs the hook, then the Module's SignInit.
func (f *Faults) SignInit(session, mechanism, key uint) error {
	f.mu.Lock()
	hook := f.beforeSign
	f.mu.Unlock()
	if hook != nil {
		if err := hook(f.Module, session, key); err != nil {
			return err
		}
	}
	return f.Module.SignInit(session, mechanism, key)
}

// Sign is the Module's Sign, counted, passed through the after-sign hook.
func (f *Faults) Sign(session uint, data []byte) ([]byte, error) {
	sig, err := f.Module.Sign(session, data)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.signs++
	hook := f.afterSign
	f.mu.Unlock()
	if hook != nil {
		sig = hook(sig)
	}
	return sig, nil
}

// Open opens the token of tk with n sessions through f (set as the
// Config's loader) and closes it when the test ends.
func (f *Faults) Open(t testing.TB, tk *Token, n int) *hsm.Token {
	t.Helper()
	cfg := tk.Config(n)
	cfg.Load = func(p string) (hsm.Module, error) {
		m, err := hsm.LoadModule(p)
		f.Module = m
		return f, err
	}
	tok, err := hsm.Open(context.Background(), cfg, []byte(tk.PIN))
	if err != nil {
		t.Fatalf("hsmtest: open: %v", err)
	}
	t.Cleanup(func() { _ = tok.Close() })
	return tok
}

// DeleteObject destroys object on the token through a read-write session
// of its own, as another application deleting a key would (the pool's
// sessions are read-only).
func (f *Faults) DeleteObject(object uint) error {
	h, err := f.Module.OpenSession(f.Slot(), rwSession)
	if err != nil {
		return err
	}
	defer func() { _ = f.Module.CloseSession(h) }()
	return f.Module.DestroyObject(h, object)
}

// rwSession is CKF_SERIAL_SESSION | CKF_RW_SESSION (PKCS#11 v2.40 §5.1;
// written out so that this package needs no cgo).
const rwSession = 0x4 | 0x2
