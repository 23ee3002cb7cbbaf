package erc20

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

// ErrNoCode is returned when there is no contract code at the token address.
var ErrNoCode = errors.New("erc20: no contract code at the token address")

// ErrBadCalldata is returned for calldata that is not exactly a
// transfer(address,uint256) call, and for arguments that cannot be encoded
// into one.
var ErrBadCalldata = errors.New("erc20: bad transfer calldata")

// ErrBadResponse is wrapped by errors for token answers that do not have the
// exact ABI shape of the expected value, or an implausible value.
var ErrBadResponse = errors.New("erc20: implausible token response")

// Limits on what the package accepts and returns.
const (
	// MaxNameLen is the length to which token names are cut, in characters.
	MaxNameLen = 32
	// MaxSymbolLen is the length to which token symbols are cut, in characters.
	MaxSymbolLen = 11
	// MaxDecimals is the largest plausible decimals value: 10^77 is the
	// largest power of ten below 2^256.
	MaxDecimals = 77
	// MaxRawTextLen bounds the byte length of a name or symbol answer
	// before sanitising; a longer one is ErrBadResponse.
	MaxRawTextLen = 1024
	// CallGas is the gas given to each read-only call, so that a hostile
	// contract cannot make a call run long.
	CallGas = 1_000_000
)

// Caller is what the package needs from a chain. internal/chain's Chain
// implements it.
type Caller interface {
	// Call executes msg against the latest block without a transaction.
	Call(ctx context.Context, msg ethereum.CallMsg) ([]byte, error)
	// CodeAt returns the code at addr in the latest block.
	CodeAt(ctx context.Context, addr common.Address) ([]byte, error)
}

// Function selectors (the first four bytes of keccak256 of the signature).
var (
	selTransfer  = [4]byte{0xa9, 0x05, 0x9c, 0xbb} // transfer(address,uint256)
	selBalanceOf = [4]byte{0x70, 0xa0, 0x82, 0x31} // balanceOf(address)
	selDecimals  = [4]byte{0x31, 0x3c, 0xe5, 0x67} // decimals()
	selName      = [4]byte{0x06, 0xfd, 0xde, 0x03} // name()
	selSymbol    = [4]byte{0x95, 0xd8, 0x9b, 0x41} // symbol()
)

// transferLen is the length of transfer(address,uint256) calldata.
const transferLen = 4 + 32 + 32

// transferArgs are the arguments of transfer(address,uint256).
func transferArgs() (abi.Arguments, error) {
	addrT, err := abi.NewType("address", "", nil)
	if err != nil {
		return nil, err
	}
	uintT, err := abi.NewType("uint256", "", nil)
	if err != nil {
		return nil, err
	}
	return abi.Arguments{{Name: "to", Type: addrT}, {Name: "value", Type: uintT}}, nil
}

// maxUint256 is 2^256 - 1.
func maxUint256() *big.Int {
	return new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
}

// TransferCalldata returns the calldata of transfer(to, amount): the selector
// a9059cbb and the two ABI-encoded arguments, 68 bytes. It refuses (with
// ErrBadCalldata) the zero address and an amount that is nil, negative or
// above 2^256-1; a zero amount is encoded.
func TransferCalldata(to common.Address, amount *big.Int) ([]byte, error) {
	if to == (common.Address{}) {
		return nil, fmt.Errorf("%w: recipient is the zero address", ErrBadCalldata)
	}
	if amount == nil {
		return nil, fmt.Errorf("%w: no amount", ErrBadCalldata)
	}
	if amount.Sign() < 0 || amount.Cmp(maxUint256()) > 0 {
		return nil, fmt.Errorf("%w: amount out of the uint256 range", ErrBadCalldata)
	}
	args, err := transferArgs()
	if err != nil {
		return nil, fmt.Errorf("erc20: building the transfer ABI: %w", err)
	}
	packed, err := args.Pack(to, new(big.Int).Set(amount))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCalldata, err)
	}
	data := make([]byte, 0, transferLen)
	data = append(data, selTransfer[:]...)
	data = append(data, packed...)
	if len(data) != transferLen {
		return nil, fmt.Errorf("%w: encoded %d bytes, want %d", ErrBadCalldata, len(data), transferLen)
	}
	return data, nil
}

// DecodeTransfer decodes calldata of transfer(address,uint256). It is strict:
// the data must be exactly 68 bytes, start with the selector a9059cbb, and
// have twelve zero bytes before the address; the recipient must not be the
// zero address. Anything else is ErrBadCalldata.
func DecodeTransfer(data []byte) (to common.Address, amount *big.Int, err error) {
	if len(data) != transferLen {
		return common.Address{}, nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadCalldata, len(data), transferLen)
	}
	if !bytes.Equal(data[:4], selTransfer[:]) {
		return common.Address{}, nil, fmt.Errorf("%w: selector %x is not transfer(address,uint256)", ErrBadCalldata, data[:4])
	}
	if !allZero(data[4 : 4+12]) {
		return common.Address{}, nil, fmt.Errorf("%w: address argument has non-zero padding", ErrBadCalldata)
	}
	to = common.BytesToAddress(data[4+12 : 4+32])
	if to == (common.Address{}) {
		return common.Address{}, nil, fmt.Errorf("%w: recipient is the zero address", ErrBadCalldata)
	}
	return to, new(big.Int).SetBytes(data[4+32:]), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// call runs a read-only call of token with the given selector and argument
// words. An empty answer from an address without code is ErrNoCode.
func call(ctx context.Context, c Caller, token common.Address, method string, sel [4]byte, words ...[]byte) ([]byte, error) {
	data := make([]byte, 0, 4+32*len(words))
	data = append(data, sel[:]...)
	for _, w := range words {
		data = append(data, common.LeftPadBytes(w, 32)...)
	}
	out, err := c.Call(ctx, ethereum.CallMsg{To: &token, Gas: CallGas, Data: data})
	if err != nil {
		return nil, fmt.Errorf("erc20: %s: %w", method, err)
	}
	if len(out) == 0 {
		code, err := c.CodeAt(ctx, token)
		if err != nil {
			return nil, fmt.Errorf("erc20: %s: reading code: %w", method, err)
		}
		if len(code) == 0 {
			return nil, ErrNoCode
		}
		return nil, fmt.Errorf("%w: %s returned no data", ErrBadResponse, method)
	}
	return out, nil
}

// BalanceOf returns owner's balance of token in base units, from
// balanceOf(owner). The answer must be exactly one 32-byte word.
func BalanceOf(ctx context.Context, c Caller, token, owner common.Address) (*big.Int, error) {
	out, err := call(ctx, c, token, "balanceOf", selBalanceOf, owner.Bytes())
	if err != nil {
		return nil, err
	}
	if len(out) != 32 {
		return nil, fmt.Errorf("%w: balanceOf returned %d bytes, want 32", ErrBadResponse, len(out))
	}
	return new(big.Int).SetBytes(out), nil
}

// Decimals returns token's decimals(). The answer must be one 32-byte word
// holding a uint8 of at most MaxDecimals (77).
func Decimals(ctx context.Context, c Caller, token common.Address) (uint8, error) {
	out, err := call(ctx, c, token, "decimals", selDecimals)
	if err != nil {
		return 0, err
	}
	return decodeDecimals(out)
}

func decodeDecimals(out []byte) (uint8, error) {
	if len(out) != 32 {
		return 0, fmt.Errorf("%w: decimals returned %d bytes, want 32", ErrBadResponse, len(out))
	}
	if !allZero(out[:31]) || out[31] > MaxDecimals {
		return 0, fmt.Errorf("%w: decimals above %d", ErrBadResponse, MaxDecimals)
	}
	return out[31], nil
}

// Metadata is what a token says about itself. Name and Symbol are sanitised
// (see Sanitize) and remain the token's claim: anyone can deploy a token
// called "USD Coin" with symbol "USDC". Only the contract address identifies
// a token.
type Metadata struct {
	// Name is the sanitised name(), at most MaxNameLen characters; "?" if
	// the token returned an empty name.
	Name string
	// Symbol is the sanitised symbol(), at most MaxSymbolLen characters;
	// "?" if the token returned an empty symbol.
	Symbol string
	// Decimals is decimals(), at most MaxDecimals.
	Decimals uint8
	// Untrusted is always true: Name and Symbol came from the chain and must
	// be shown as untrusted text.
	Untrusted bool
}

// ReadMetadata reads token's name(), symbol() and decimals(). It returns
// ErrNoCode if there is no contract at token, and an error if any of the
// three calls fails or returns a malformed answer (ErrBadResponse): a token
// without name() or symbol() cannot be used by address and must be
// configured in the policy. Name and symbol may be ABI strings or bytes32
// (as in old tokens such as MKR); both are sanitised.
func ReadMetadata(ctx context.Context, c Caller, token common.Address) (*Metadata, error) {
	code, err := c.CodeAt(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("erc20: reading code: %w", err)
	}
	if len(code) == 0 {
		return nil, ErrNoCode
	}
	nameRaw, err := call(ctx, c, token, "name", selName)
	if err != nil {
		return nil, err
	}
	name, err := decodeText(nameRaw)
	if err != nil {
		return nil, fmt.Errorf("%w: name: %s", ErrBadResponse, err)
	}
	symRaw, err := call(ctx, c, token, "symbol", selSymbol)
	if err != nil {
		return nil, err
	}
	sym, err := decodeText(symRaw)
	if err != nil {
		return nil, fmt.Errorf("%w: symbol: %s", ErrBadResponse, err)
	}
	dec, err := Decimals(ctx, c, token)
	if err != nil {
		return nil, err
	}
	return &Metadata{
		Name:      Sanitize(name, MaxNameLen),
		Symbol:    Sanitize(sym, MaxSymbolLen),
		Decimals:  dec,
		Untrusted: true,
	}, nil
}

// errText is the reason decodeText refuses an answer. Its messages never
// contain the answer's bytes.
type errText string

func (e errText) Error() string { return string(e) }

// decodeText decodes the answer of name() or symbol(): a bytes32 (exactly 32
// bytes, cut at the first NUL) or an ABI string (offset 32, length at most
// MaxRawTextLen, exactly padded to a word with zero bytes). The result is raw,
// hostile text: sanitise it before use.
func decodeText(out []byte) (string, error) {
	if len(out) == 32 {
		if i := bytes.IndexByte(out, 0); i >= 0 {
			out = out[:i]
		}
		return string(out), nil
	}
	if len(out) < 64 || len(out)%32 != 0 {
		return "", errText(fmt.Sprintf("%d bytes is neither bytes32 nor an ABI string", len(out)))
	}
	if !allZero(out[:24]) || binary.BigEndian.Uint64(out[24:32]) != 32 {
		return "", errText("string offset is not 32")
	}
	if !allZero(out[32:56]) {
		return "", errText("string length out of range")
	}
	n := binary.BigEndian.Uint64(out[56:64])
	if n > MaxRawTextLen {
		return "", errText(fmt.Sprintf("string longer than %d bytes", MaxRawTextLen))
	}
	padded := (n + 31) / 32 * 32
	if uint64(len(out)-64) != padded {
		return "", errText(fmt.Sprintf("%d bytes for a string of %d bytes", len(out), n))
	}
	if !allZero(out[64+n:]) {
		return "", errText("string padding is not zero")
	}
	return string(out[64 : 64+n]), nil
}

// Sanitize makes text from the chain (token names and symbols) safe to show
// to an agent or a human. Token text is chosen by whoever deployed the
// contract and is hostile: it may carry a prompt injection, newlines or
// markup ("<system>") that fake a new turn or a new line of a summary,
// right-to-left overrides (U+202E) that reverse what is displayed, zero-width
// characters, NUL bytes, or homoglyphs (a Cyrillic "С" in "USDC") that
// impersonate a known token.
//
// Sanitize keeps only ASCII letters and digits, space, '.', '-' and '_'.
// Whitespace runs become one space; every run of any other characters
// (including invalid UTF-8) becomes one '_', so that tampering stays visible
// rather than yielding a clean look-alike. Leading and trailing spaces are
// removed, the result is cut to max characters (at least 1), and an empty
// result (empty or all-whitespace input) is "?". The output is therefore
// never empty, at most max(max, 1) bytes long, and either exactly "?" or made
// of nothing but [A-Za-z0-9 ._-] (the four punctuation characters literally,
// not a range).
func Sanitize(s string, max int) string {
	if max < 1 {
		max = 1
	}
	b := make([]byte, 0, min(max, len(s))+1)
	lastBad := false // the last byte written replaced disallowed characters
	for _, r := range s {
		if len(b) > max {
			break // enough to cut and trim: input length does not matter
		}
		switch {
		case isSpace(r):
			if len(b) == 0 || b[len(b)-1] == ' ' {
				continue // no leading space, one space per run
			}
			b = append(b, ' ')
			lastBad = false
		case allowed(r):
			b = append(b, byte(r))
			lastBad = false
		default:
			if lastBad {
				continue // one '_' per run of disallowed characters
			}
			b = append(b, '_')
			lastBad = true
		}
	}
	if len(b) > max {
		b = b[:max]
	}
	out := strings.TrimRight(string(b), " ")
	if out == "" {
		return "?"
	}
	return out
}

// allowed reports whether r may appear in Sanitize's output.
func allowed(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r == ' ', r == '.', r == '-', r == '_':
		return true
	}
	return false
}

// isSpace reports whether r is whitespace that Sanitize turns into a space.
// Line and paragraph separators count as whitespace; they become a space, not
// a line break.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xA0, 0x2028, 0x2029, 0x3000, 0x1680, 0x202F, 0x205F:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}
