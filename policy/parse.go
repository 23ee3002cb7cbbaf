package policy

import (
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// Input bounds shared with the MCP schemas.
const (
	// MaxAddressLen is the length of "0x" + 40 hex digits.
	MaxAddressLen = 42
	// MaxAmountLen bounds a decimal amount string (78 integer digits fit 2^256).
	MaxAmountLen = 100
	// MaxIdempotencyKeyLen bounds an idempotency key.
	MaxIdempotencyKeyLen = 128
	// MaxAssetLen bounds an asset argument (a symbol or an address).
	MaxAssetLen = 42
)

// maxUint256 is 2^256 - 1, the largest amount in base units.
var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// ParseAddress parses an Ethereum address argument: exactly "0x" and 40 hex
// digits, no whitespace; a mixed-case address must carry a valid EIP-55
// checksum. The error names field and never echoes the input.
func ParseAddress(field, s string) (common.Address, error) {
	if len(s) != MaxAddressLen {
		return common.Address{}, Errorf(CodeInvalidArgument, "%s: must be 0x followed by 40 hex digits", field)
	}
	if s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return common.Address{}, Errorf(CodeInvalidArgument, "%s: must start with 0x", field)
	}
	hex := s[2:]
	hasLower, hasUpper := false, false
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'f':
			hasLower = true
		case c >= 'A' && c <= 'F':
			hasUpper = true
		default:
			return common.Address{}, Errorf(CodeInvalidArgument, "%s: must be 0x followed by 40 hex digits", field)
		}
	}
	addr := common.HexToAddress(hex)
	if hasLower && hasUpper && addr.Hex()[2:] != hex {
		return common.Address{}, Errorf(CodeInvalidArgument, "%s: EIP-55 checksum mismatch (mixed-case address with a wrong checksum; check for a typo)", field)
	}
	return addr, nil
}

// ParseAmount parses a positive decimal amount in an asset with decimals
// decimals into base units. Accepted: digits, optionally a point and more
// digits ("1", "0.25"); refused: sign, exponent, hex, spaces, leading or
// trailing point, zero, more fractional digits than decimals, more than
// 2^256-1 base units.
func ParseAmount(field, s string, decimals int) (*big.Int, error) {
	if s == "" {
		return nil, Errorf(CodeInvalidArgument, "%s: required (a decimal string like \"0.25\")", field)
	}
	if len(s) > MaxAmountLen {
		return nil, Errorf(CodeInvalidArgument, "%s: longer than %d characters", field, MaxAmountLen)
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" || (hasPoint && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return nil, Errorf(CodeInvalidArgument, "%s: must be a plain decimal string like \"0.25\" (no sign, exponent, hex or spaces)", field)
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return nil, Errorf(CodeInvalidArgument, "%s: leading zeros are not allowed", field)
	}
	if len(frac) > decimals {
		return nil, Errorf(CodeInvalidArgument, "%s: more than %d decimal places for this asset", field, decimals)
	}
	digits := intPart + frac + strings.Repeat("0", decimals-len(frac))
	v, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, Errorf(CodeInvalidArgument, "%s: not a decimal number", field)
	}
	if v.Sign() == 0 {
		return nil, Errorf(CodeInvalidArgument, "%s: must be greater than zero", field)
	}
	if v.Cmp(maxUint256) > 0 {
		return nil, Errorf(CodeInvalidArgument, "%s: too large", field)
	}
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatAmount renders base units as a decimal string in the asset's units,
// without trailing zeros ("0.25", "100").
func FormatAmount(v *big.Int, decimals int) string {
	if v == nil {
		return "0"
	}
	neg := v.Sign() < 0
	s := new(big.Int).Abs(v).String()
	if decimals > 0 {
		if len(s) <= decimals {
			s = strings.Repeat("0", decimals-len(s)+1) + s
		}
		intPart, frac := s[:len(s)-decimals], strings.TrimRight(s[len(s)-decimals:], "0")
		s = intPart
		if frac != "" {
			s += "." + frac
		}
	}
	if neg {
		s = "-" + s
	}
	return s
}

// ValidateIdempotencyKey checks a key: 1 to 128 of [A-Za-z0-9_-].
func ValidateIdempotencyKey(k string) error {
	if len(k) == 0 || len(k) > MaxIdempotencyKeyLen {
		return Errorf(CodeInvalidArgument, "idempotency_key: must be 1 to %d characters", MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return Errorf(CodeInvalidArgument, "idempotency_key: only letters, digits, '_' and '-' are allowed")
		}
	}
	return nil
}
