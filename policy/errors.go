package policy

import (
	"errors"
	"fmt"
)

// Code is a stable error code of the MCP contract (CONTRACT.md §1).
type Code string

// The error codes a tool result can start with.
const (
	CodeInvalidArgument Code = "invalid_argument"
	CodeUnknownAccount  Code = "unknown_account"
	CodePolicyDenied    Code = "policy_denied"
	CodeRateLimited     Code = "rate_limited"
	CodeNotFound        Code = "not_found"
	CodeExpired         Code = "expired"
	CodeConflict        Code = "conflict"
	CodeUnsupported     Code = "unsupported"
	CodeChainError      Code = "chain_error"
	CodeInternal        Code = "internal"
)

// Error is a refused or failed request: a stable code and a message that
// names the field or rule. Messages never contain secrets or unparsed input.
type Error struct {
	Code Code
	Msg  string
}

// Error renders "code: message".
func (e *Error) Error() string { return string(e.Code) + ": " + e.Msg }

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns err's code: its *Error code, or internal for anything else.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
