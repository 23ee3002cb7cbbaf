//go:build cgo

package hsm

import (
	"errors"
	"fmt"
	"os"

	"github.com/miekg/pkcs11"
)

// LoadModule loads the PKCS#11 library at path (dlopen) and returns it as a
// Module. It fails with ErrModule when the file is missing, is not a
// PKCS#11 library, or could have been put in place by someone other than
// root (trustModule). It does not call C_Initialize.
func LoadModule(path string) (Module, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no module path configured", ErrModule)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrModule, path, errors.Unwrap(err))
	}
	if err := trustModule(path); err != nil {
		return nil, fmt.Errorf("%w: %s: %v: the module is loaded into the process that holds the keys, so it and the directories above it must be owned by root and writable by no one else", ErrModule, path, err)
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("%w: %s is not a loadable PKCS#11 library", ErrModule, path)
	}
	return ctxModule{ctx}, nil
}

// ctxModule is a Module over a loaded library.
type ctxModule struct{ c *pkcs11.Ctx }

// rv turns a pkcs11.Error into a Code and keeps other errors.
func rv(err error) error {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return Code(e)
	}
	return err
}

func attrs(in []Attribute) []*pkcs11.Attribute {
	out := make([]*pkcs11.Attribute, len(in))
	for i, a := range in {
		out[i] = pkcs11.NewAttribute(a.Type, a.Value)
	}
	return out
}

func mech(m uint) []*pkcs11.Mechanism { return []*pkcs11.Mechanism{pkcs11.NewMechanism(m, nil)} }

func (m ctxModule) Initialize() error { return rv(m.c.Initialize()) }
func (m ctxModule) Finalize() error   { return rv(m.c.Finalize()) }
func (m ctxModule) Destroy()          { m.c.Destroy() }

func (m ctxModule) GetSlotList(present bool) ([]uint, error) {
	s, err := m.c.GetSlotList(present)
	return s, rv(err)
}

func (m ctxModule) GetTokenInfo(slot uint) (TokenInfo, error) {
	ti, err := m.c.GetTokenInfo(slot)
	if err != nil {
		return TokenInfo{}, rv(err)
	}
	return TokenInfo{Label: ti.Label, Flags: ti.Flags}, nil
}

func (m ctxModule) OpenSession(slot, flags uint) (uint, error) {
	s, err := m.c.OpenSession(slot, flags)
	return uint(s), rv(err)
}

func (m ctxModule) CloseSession(s uint) error { return rv(m.c.CloseSession(pkcs11.SessionHandle(s))) }

func (m ctxModule) GetSessionState(s uint) (uint, error) {
	si, err := m.c.GetSessionInfo(pkcs11.SessionHandle(s))
	return si.State, rv(err)
}

// Login passes the PIN as the Go string miekg/pkcs11 takes; that copy is not
// wiped (the library copies it again into C memory that it frees).
func (m ctxModule) Login(s, user uint, pin []byte) error {
	return rv(m.c.Login(pkcs11.SessionHandle(s), user, string(pin)))
}

func (m ctxModule) FindObjectsInit(s uint, t []Attribute) error {
	return rv(m.c.FindObjectsInit(pkcs11.SessionHandle(s), attrs(t)))
}

func (m ctxModule) FindObjects(s uint, max int) ([]uint, bool, error) {
	hs, more, err := m.c.FindObjects(pkcs11.SessionHandle(s), max)
	out := make([]uint, len(hs))
	for i, h := range hs {
		out[i] = uint(h)
	}
	return out, more, rv(err)
}

func (m ctxModule) FindObjectsFinal(s uint) error {
	return rv(m.c.FindObjectsFinal(pkcs11.SessionHandle(s)))
}

func (m ctxModule) GetAttributeValue(s, o uint, types []uint) ([][]byte, error) {
	tmpl := make([]*pkcs11.Attribute, len(types))
	for i, t := range types {
		tmpl[i] = pkcs11.NewAttribute(t, nil)
	}
	got, err := m.c.GetAttributeValue(pkcs11.SessionHandle(s), pkcs11.ObjectHandle(o), tmpl)
	if err != nil {
		return nil, rv(err)
	}
	if len(got) != len(types) {
		return nil, fmt.Errorf("hsm: C_GetAttributeValue returned %d attributes, want %d", len(got), len(types))
	}
	out := make([][]byte, len(got))
	for i, a := range got {
		out[i] = a.Value
	}
	return out, nil
}

func (m ctxModule) GenerateKeyPair(s, mechanism uint, public, private []Attribute) (uint, uint, error) {
	pub, priv, err := m.c.GenerateKeyPair(pkcs11.SessionHandle(s), mech(mechanism), attrs(public), attrs(private))
	return uint(pub), uint(priv), rv(err)
}

func (m ctxModule) SignInit(s, mechanism, key uint) error {
	return rv(m.c.SignInit(pkcs11.SessionHandle(s), mech(mechanism), pkcs11.ObjectHandle(key)))
}

func (m ctxModule) Sign(s uint, data []byte) ([]byte, error) {
	sig, err := m.c.Sign(pkcs11.SessionHandle(s), data)
	return sig, rv(err)
}

func (m ctxModule) DestroyObject(s, o uint) error {
	return rv(m.c.DestroyObject(pkcs11.SessionHandle(s), pkcs11.ObjectHandle(o)))
}
