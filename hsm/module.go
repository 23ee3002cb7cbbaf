package hsm

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Attribute is one PKCS#11 attribute of a template. Value is a bool (CK_BBOOL),
// a uint (CK_ULONG), a string or a []byte, encoded by the Module for the
// platform's C types.
type Attribute struct {
	// Type is the attribute type (pkcs11.CKA_*).
	Type uint
	// Value is the attribute's value: bool, uint, string or []byte.
	Value any
}

// TokenInfo is the part of CK_TOKEN_INFO this package reads.
type TokenInfo struct {
	// Label is the token's label with its padding removed.
	Label string
	// Flags are the token's flags (pkcs11.CKF_*).
	Flags uint
}

// Module is the PKCS#11 function list this package calls: the methods of
// github.com/miekg/pkcs11's Ctx that it uses, over this package's own types
// so that the package compiles without cgo and tests can put a Module that
// injects faults between it and a real token. Session, slot, object and
// mechanism values are the PKCS#11 handles and constants. An error from a
// PKCS#11 call is a Code.
type Module interface {
	// Initialize is C_Initialize.
	Initialize() error
	// Finalize is C_Finalize.
	Finalize() error
	// Destroy unloads the module.
	Destroy()
	// GetSlotList is C_GetSlotList.
	GetSlotList(tokenPresent bool) ([]uint, error)
	// GetTokenInfo is C_GetTokenInfo.
	GetTokenInfo(slot uint) (TokenInfo, error)
	// OpenSession is C_OpenSession.
	OpenSession(slot, flags uint) (uint, error)
	// CloseSession is C_CloseSession.
	CloseSession(session uint) error
	// GetSessionState is C_GetSessionInfo's state (pkcs11.CKS_*).
	GetSessionState(session uint) (uint, error)
	// Login is C_Login. The Module must not keep pin.
	Login(session, userType uint, pin []byte) error
	// FindObjectsInit is C_FindObjectsInit.
	FindObjectsInit(session uint, template []Attribute) error
	// FindObjects is C_FindObjects.
	FindObjects(session uint, max int) ([]uint, bool, error)
	// FindObjectsFinal is C_FindObjectsFinal.
	FindObjectsFinal(session uint) error
	// GetAttributeValue is C_GetAttributeValue: the values of the attributes
	// types of object, in order.
	GetAttributeValue(session, object uint, types []uint) ([][]byte, error)
	// GenerateKeyPair is C_GenerateKeyPair with a mechanism without parameters.
	GenerateKeyPair(session, mechanism uint, public, private []Attribute) (pub, priv uint, err error)
	// SignInit is C_SignInit with a mechanism without parameters.
	SignInit(session, mechanism, key uint) error
	// Sign is C_Sign.
	Sign(session uint, data []byte) ([]byte, error)
	// DestroyObject is C_DestroyObject.
	DestroyObject(session, object uint) error
}

// Code is a PKCS#11 return value (CK_RV) other than CKR_OK, as returned by a
// Module. Callers compare it with errors.As or errors.Is(err, Code(pkcs11.CKR_...)).
type Code uint

// codeNames names the return values this package reports or branches on.
var codeNames = map[Code]string{
	pkcs11.CKR_GENERAL_ERROR:                "CKR_GENERAL_ERROR",
	pkcs11.CKR_FUNCTION_FAILED:              "CKR_FUNCTION_FAILED",
	pkcs11.CKR_ARGUMENTS_BAD:                "CKR_ARGUMENTS_BAD",
	pkcs11.CKR_ATTRIBUTE_SENSITIVE:          "CKR_ATTRIBUTE_SENSITIVE",
	pkcs11.CKR_ATTRIBUTE_TYPE_INVALID:       "CKR_ATTRIBUTE_TYPE_INVALID",
	pkcs11.CKR_DEVICE_ERROR:                 "CKR_DEVICE_ERROR",
	pkcs11.CKR_DEVICE_MEMORY:                "CKR_DEVICE_MEMORY",
	pkcs11.CKR_DEVICE_REMOVED:               "CKR_DEVICE_REMOVED",
	pkcs11.CKR_KEY_HANDLE_INVALID:           "CKR_KEY_HANDLE_INVALID",
	pkcs11.CKR_MECHANISM_INVALID:            "CKR_MECHANISM_INVALID",
	pkcs11.CKR_OBJECT_HANDLE_INVALID:        "CKR_OBJECT_HANDLE_INVALID",
	pkcs11.CKR_OPERATION_ACTIVE:             "CKR_OPERATION_ACTIVE",
	pkcs11.CKR_PIN_INCORRECT:                "CKR_PIN_INCORRECT",
	pkcs11.CKR_PIN_LOCKED:                   "CKR_PIN_LOCKED",
	pkcs11.CKR_SESSION_CLOSED:               "CKR_SESSION_CLOSED",
	pkcs11.CKR_SESSION_HANDLE_INVALID:       "CKR_SESSION_HANDLE_INVALID",
	pkcs11.CKR_TOKEN_NOT_PRESENT:            "CKR_TOKEN_NOT_PRESENT",
	pkcs11.CKR_USER_ALREADY_LOGGED_IN:       "CKR_USER_ALREADY_LOGGED_IN",
	pkcs11.CKR_USER_NOT_LOGGED_IN:           "CKR_USER_NOT_LOGGED_IN",
	pkcs11.CKR_USER_PIN_NOT_INITIALIZED:     "CKR_USER_PIN_NOT_INITIALIZED",
	pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:     "CKR_CRYPTOKI_NOT_INITIALIZED",
	pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
}

// Error returns the return value's name (CKR_...) and number.
func (c Code) Error() string {
	if n, ok := codeNames[c]; ok {
		return fmt.Sprintf("pkcs11: %s (0x%X)", n, uint(c))
	}
	return fmt.Sprintf("pkcs11: CK_RV 0x%X", uint(c))
}

// codeOf returns the PKCS#11 return value in err, if any.
func codeOf(err error) (Code, bool) {
	var c Code
	if errors.As(err, &c) {
		return c, true
	}
	return 0, false
}
