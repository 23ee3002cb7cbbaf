package policy_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/policy"
)

// apEip55Vectors are the test cases of EIP-55, "Mixed-case checksum address
// encoding" (https://eips.ethereum.org/EIPS/eip-55, section "Test Cases"):
// two all-caps, two all-lower and four mixed-case addresses, each already in
// its checksummed form.
var apEip55Vectors = []string{
	// All caps
	"0x52908400098527886E0F7030069857D2E4169EE7",
	"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
	// All lower
	"0xde709f2102306220921060314715629080e2fb77",
	"0x27b1fdb04752bbc536007a920d24acb045561c26",
	// Normal
	"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
	"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
	"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
	"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
}

// The four mixed-case EIP-55 vectors, used by name below.
const (
	apVecA = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	apVecB = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
	apVecC = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
	apVecD = "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"
)

type apAddressCase struct {
	name string
	in   string
	want string // EIP-55 form of the parsed address; "" for an invalid input
}

// apFlipCase flips the case of the n-th (0-based) hex letter after "0x".
func apFlipCase(s string, n int) string {
	b := []byte(s)
	for i := 2; i < len(b); i++ {
		c := b[i]
		if c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' {
			if n == 0 {
				b[i] = c ^ 0x20
				return string(b)
			}
			n--
		}
	}
	panic("flipCase: not enough letters in " + s)
}

// apValidAddressCases are inputs ParseAddress accepts, with the EIP-55 form of
// the result.
func apValidAddressCases() []apAddressCase {
	var cs []apAddressCase
	for _, v := range apEip55Vectors {
		cs = append(cs,
			apAddressCase{"eip55 vector " + v, v, v},
			apAddressCase{"lowercase " + v, "0x" + strings.ToLower(v[2:]), v},
			apAddressCase{"uppercase hex " + v, "0x" + strings.ToUpper(v[2:]), v},
		)
	}
	cs = append(cs,
		// As implemented: an uppercase X in the prefix is accepted (as go-ethereum's
		// common.IsHexAddress does); the hex digits decide.
		apAddressCase{"uppercase X prefix lowercase hex", "0X" + strings.ToLower(apVecA[2:]), apVecA},
		apAddressCase{"uppercase X prefix checksummed hex", "0X" + apVecB[2:], apVecB},
		apAddressCase{"zero address", "0x" + strings.Repeat("0", 40), "0x" + strings.Repeat("0", 40)},
		apAddressCase{"digits only", "0x" + strings.Repeat("1234567890", 4), common.HexToAddress(strings.Repeat("1234567890", 4)).Hex()},
	)
	return cs
}

// apInvalidAddressCases are inputs ParseAddress refuses.
func apInvalidAddressCases() []apAddressCase {
	hexA := apVecA[2:]
	return []apAddressCase{
		{name: "empty", in: ""},
		{name: "prefix only", in: "0x"},
		{name: "39 hex digits", in: apVecA[:41]},
		{name: "41 hex digits", in: apVecA + "0"},
		{name: "64 hex digits (a hash)", in: "0x" + strings.Repeat("ab", 32)},
		{name: "no prefix 40 hex", in: hexA},
		{name: "no prefix 42 hex", in: "ab" + hexA},
		{name: "prefix 00", in: "00" + hexA},
		{name: "prefix x0", in: "x0" + hexA},
		{name: "prefix 1x", in: "1x" + hexA},
		{name: "prefix Ox letter O", in: "Ox" + hexA},
		{name: "bad hex g", in: "0x" + strings.Repeat("g", 40)},
		{name: "bad hex G in the middle", in: apVecA[:20] + "G" + apVecA[21:]},
		{name: "bad hex z at the end", in: apVecA[:41] + "z"},
		{name: "double prefix", in: "0x0x" + hexA[:38]},
		{name: "wrong checksum A first letter", in: apFlipCase(apVecA, 0)},
		{name: "wrong checksum A last letter", in: apFlipCase(apVecA, 17)},
		{name: "wrong checksum B", in: apFlipCase(apVecB, 3)},
		{name: "wrong checksum C", in: apFlipCase(apVecC, 5)},
		{name: "wrong checksum D", in: apFlipCase(apVecD, 1)},
		{name: "wrong checksum uppercase X prefix", in: "0X" + apFlipCase(apVecA, 2)[2:]},
		{name: "all caps vector with one letter lowered", in: apFlipCase(apEip55Vectors[0], 0)},
		{name: "cyrillic a replacing a (43 bytes)", in: strings.Replace(apVecA, "a", "а", 1)},
		{name: "cyrillic a replacing two chars (42 bytes)", in: "0x" + "а" + hexA[2:]},
		{name: "cyrillic e replacing two chars (42 bytes)", in: apVecA[:20] + "е" + apVecA[22:]},
		{name: "fullwidth a replacing three chars (42 bytes)", in: "0x" + "ａ" + hexA[3:]},
		{name: "fullwidth 0 in prefix", in: "０x" + hexA},
		{name: "fullwidth x in prefix", in: "0ｘ" + hexA[1:]},
		{name: "zero-width space inserted", in: apVecA[:10] + "\u200b" + apVecA[10:]},
		{name: "zero-width space replacing three chars (42 bytes)", in: apVecA[:10] + "\u200b" + apVecA[13:]},
		{name: "zero-width joiner at the end (42 bytes)", in: apVecA[:39] + "\u200d"},
		{name: "byte order mark prefix", in: "\ufeff" + apVecA[3:]},
		{name: "leading space", in: " " + apVecA},
		{name: "trailing space", in: apVecA + " "},
		{name: "trailing newline", in: apVecA + "\n"},
		{name: "space replacing a digit (42 bytes)", in: apVecA[:12] + " " + apVecA[13:]},
		{name: "tab replacing a digit (42 bytes)", in: apVecA[:12] + "\t" + apVecA[13:]},
		{name: "newline replacing the last digit (42 bytes)", in: apVecA[:41] + "\n"},
		{name: "space after prefix (42 bytes)", in: "0x " + hexA[1:]},
		{name: "no-break space (42 bytes)", in: apVecA[:20] + "\u00a0" + apVecA[22:]},
		{name: "NUL byte (42 bytes)", in: apVecA[:41] + "\x00"},
		{name: "invalid UTF-8 (42 bytes)", in: apVecA[:41] + "\xff"},
	}
}

// apCheckInvalidArgument asserts that err is an *Error with CodeInvalidArgument
// whose message starts with field and does not echo input.
func apCheckInvalidArgument(t *testing.T, err error, field, input string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want an invalid_argument error")
	}
	var e *policy.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %q, want *approval.Error", err, err)
	}
	if e.Code != policy.CodeInvalidArgument {
		t.Errorf("code = %q, want %q", e.Code, policy.CodeInvalidArgument)
	}
	if policy.CodeOf(err) != policy.CodeInvalidArgument {
		t.Errorf("CodeOf = %q, want %q", policy.CodeOf(err), policy.CodeInvalidArgument)
	}
	if !strings.HasPrefix(e.Msg, field+": ") {
		t.Errorf("message %q does not start with the field name %q", e.Msg, field+": ")
	}
	if want := "invalid_argument: " + e.Msg; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if len(input) > 3 && strings.Contains(err.Error(), input) {
		t.Errorf("message %q echoes the input %q", err.Error(), input)
	}
}

func TestParseAddressValid(t *testing.T) {
	for _, tc := range apValidAddressCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := policy.ParseAddress("to", tc.in)
			if err != nil {
				t.Fatalf("ParseAddress(%q) = %v", tc.in, err)
			}
			if got.Hex() != tc.want {
				t.Errorf("ParseAddress(%q) = %s, want %s", tc.in, got.Hex(), tc.want)
			}
		})
	}
}

// TestParseAddressEIP55Checksums checks the checksummed form of each EIP-55
// vector byte by byte against the published text, independently of the
// Hex() rendering used elsewhere.
func TestParseAddressEIP55Checksums(t *testing.T) {
	for _, v := range apEip55Vectors {
		got, err := policy.ParseAddress("to", strings.ToLower(v))
		if err != nil {
			t.Fatalf("ParseAddress(%q) = %v", strings.ToLower(v), err)
		}
		want, err := policy.ParseAddress("to", v)
		if err != nil {
			t.Fatalf("ParseAddress(%q) = %v", v, err)
		}
		if got != want {
			t.Errorf("%s: lowercase and checksummed forms parse to %x and %x", v, got, want)
		}
		if got.Hex() != v {
			t.Errorf("checksum of %s = %s", v, got.Hex())
		}
	}
}

func TestParseAddressInvalid(t *testing.T) {
	for _, tc := range apInvalidAddressCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := policy.ParseAddress("to", tc.in)
			apCheckInvalidArgument(t, err, "to", tc.in)
			if got != (common.Address{}) {
				t.Errorf("ParseAddress(%q) returned %s with an error, want the zero address", tc.in, got.Hex())
			}
			if len(tc.in) > 10 && strings.Contains(err.Error(), tc.in[2:]) {
				t.Errorf("message %q echoes the hex digits of the input", err.Error())
			}
		})
	}
}

// TestParseAddressMessages pins which message each class of mistake gets, so
// a user can tell a typo from a truncation.
func TestParseAddressMessages(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"length", apVecA[:41], "invalid_argument: from: must be 0x followed by 40 hex digits"},
		{"prefix", "00" + apVecA[2:], "invalid_argument: from: must start with 0x"},
		{"hex", apVecA[:41] + "g", "invalid_argument: from: must be 0x followed by 40 hex digits"},
		{"checksum", apFlipCase(apVecA, 0), "invalid_argument: from: EIP-55 checksum mismatch (mixed-case address with a wrong checksum; check for a typo)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.ParseAddress("from", tc.in)
			if err == nil || err.Error() != tc.want {
				t.Errorf("ParseAddress(%q) error = %v, want %q", tc.in, err, tc.want)
			}
		})
	}
}

type apAmountCase struct {
	name      string
	in        string
	decimals  int
	want      string // base units in decimal; "" for an invalid input
	canonical string // FormatAmount of the result
}

// apMaxUint256 is 2^256-1 in decimal.
const apMaxUint256 = "115792089237316195423570985008687907853269984665640564039457584007913129639935"

func apValidAmountCases() []apAmountCase {
	maxAmountLenInput := "0." + strings.Repeat("0", policy.MaxAmountLen-3) + "1" // exactly MaxAmountLen characters
	return []apAmountCase{
		{"one ETH", "1", 18, "1000000000000000000", "1"},
		{"quarter ETH", "0.25", 18, "250000000000000000", "0.25"},
		{"hundred ETH", "100", 18, "100000000000000000000", "100"},
		{"trailing zero in fraction", "1.50", 18, "1500000000000000000", "1.5"},
		{"integer with zero fraction", "2.0", 18, "2000000000000000000", "2"},
		{"one wei, 18 decimals exactly", "0.000000000000000001", 18, "1", "0.000000000000000001"},
		{"all 18 decimals used", "1.234567890123456789", 18, "1234567890123456789", "1.234567890123456789"},
		{"six decimals exactly", "0.000001", 6, "1", "0.000001"},
		{"six decimals with zeros", "1.000000", 6, "1000000", "1"},
		{"USDC amount", "12.5", 6, "12500000", "12.5"},
		{"decimals 0", "42", 0, "42", "42"},
		{"decimals 1", "0.5", 1, "5", "0.5"},
		{"max uint256 base units, decimals 0", apMaxUint256, 0, apMaxUint256, apMaxUint256},
		{"max uint256 base units, decimals 18", apMaxUint256[:60] + "." + apMaxUint256[60:], 18, apMaxUint256, apMaxUint256[:60] + "." + apMaxUint256[60:]},
		{"largest whole number of ETH", apMaxUint256[:60], 18, apMaxUint256[:60] + strings.Repeat("0", 18), apMaxUint256[:60]},
		{"exactly MaxAmountLen characters", maxAmountLenInput, policy.MaxAmountLen - 2, "1", maxAmountLenInput},
		{"gwei fee", "200", 9, "200000000000", "200"},
		{"fractional gwei", "1.000000001", 9, "1000000001", "1.000000001"},
	}
}

func apInvalidAmountCases() []apAmountCase {
	return []apAmountCase{
		{name: "empty", in: "", decimals: 18},
		{name: "negative", in: "-1", decimals: 18},
		{name: "negative fraction", in: "-0.5", decimals: 18},
		{name: "negative zero", in: "-0", decimals: 18},
		{name: "zero", in: "0", decimals: 18},
		{name: "zero with point", in: "0.0", decimals: 18},
		{name: "zero with many decimals", in: "0.000000000000000000", decimals: 18},
		{name: "zero, decimals 0", in: "0", decimals: 0},
		{name: "exponent", in: "1e3", decimals: 18},
		{name: "exponent uppercase", in: "1E18", decimals: 18},
		{name: "exponent with fraction", in: "1.5e-3", decimals: 18},
		{name: "hex", in: "0x10", decimals: 18},
		{name: "hex digits", in: "ff", decimals: 18},
		{name: "binary", in: "0b1", decimals: 18},
		{name: "19 decimals for 18", in: "0.0000000000000000001", decimals: 18},
		{name: "7 decimals for 6", in: "1.0000001", decimals: 6},
		{name: "trailing zero beyond decimals", in: "1.0000000", decimals: 6},
		{name: "fraction for decimals 0", in: "1.5", decimals: 0},
		{name: "point zero for decimals 0", in: "1.0", decimals: 0},
		{name: "overflow 2^256, decimals 0", in: "115792089237316195423570985008687907853269984665640564039457584007913129639936", decimals: 0},
		{name: "overflow 2^256, decimals 18", in: "115792089237316195423570985008687907853269984665640564039457.584007913129639936", decimals: 18},
		{name: "overflow 10^78", in: "1" + strings.Repeat("0", 78), decimals: 0},
		{name: "overflow integer part for 18 decimals", in: apMaxUint256[:59] + "8", decimals: 18},
		{name: "leading point", in: ".5", decimals: 18},
		{name: "trailing point", in: "5.", decimals: 18},
		{name: "point only", in: ".", decimals: 18},
		{name: "two points", in: "1.2.3", decimals: 18},
		{name: "plus sign", in: "+1", decimals: 18},
		{name: "leading space", in: " 1", decimals: 18},
		{name: "trailing space", in: "1 ", decimals: 18},
		{name: "trailing newline", in: "1\n", decimals: 18},
		{name: "space inside", in: "1 000", decimals: 18},
		{name: "tab", in: "\t1", decimals: 18},
		{name: "comma decimal", in: "1,5", decimals: 18},
		{name: "comma thousands", in: "1,000", decimals: 18},
		{name: "underscore", in: "1_000", decimals: 18},
		{name: "leading zeros", in: "007", decimals: 18},
		{name: "leading zero before point", in: "00.5", decimals: 18},
		{name: "leading zero integer", in: "01", decimals: 18},
		{name: "NaN", in: "NaN", decimals: 18},
		{name: "Inf", in: "Inf", decimals: 18},
		{name: "Infinity", in: "Infinity", decimals: 18},
		{name: "plus Infinity", in: "+Infinity", decimals: 18},
		{name: "negative Inf", in: "-Inf", decimals: 18},
		{name: "arabic-indic digit", in: "\u0661", decimals: 18},
		{name: "arabic-indic digits with point", in: "\u0661.\u0665", decimals: 18},
		{name: "fullwidth digit", in: "\uff11", decimals: 18},
		{name: "devanagari digit", in: "\u0967", decimals: 18},
		{name: "superscript digit", in: "\u00b9", decimals: 18},
		{name: "zero-width space", in: "1\u200b", decimals: 18},
		{name: "NUL byte", in: "1\x00", decimals: 18},
		{name: "longer than MaxAmountLen", in: "1" + strings.Repeat("0", policy.MaxAmountLen), decimals: policy.MaxAmountLen},
		{name: "MaxAmountLen+1 of zeros and a one", in: "0." + strings.Repeat("0", policy.MaxAmountLen-2) + "1", decimals: policy.MaxAmountLen},
		{name: "negative decimals", in: "1", decimals: -1},
		{name: "words", in: "one", decimals: 18},
		{name: "currency suffix", in: "1ETH", decimals: 18},
		{name: "currency prefix", in: "$1", decimals: 18},
	}
}

func TestParseAmountValid(t *testing.T) {
	for _, tc := range apValidAmountCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := policy.ParseAmount("amount", tc.in, tc.decimals)
			if err != nil {
				t.Fatalf("ParseAmount(%q, %d) = %v", tc.in, tc.decimals, err)
			}
			if got.String() != tc.want {
				t.Errorf("ParseAmount(%q, %d) = %s, want %s", tc.in, tc.decimals, got, tc.want)
			}
		})
	}
}

func TestParseAmountInvalid(t *testing.T) {
	for _, tc := range apInvalidAmountCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := policy.ParseAmount("amount", tc.in, tc.decimals)
			apCheckInvalidArgument(t, err, "amount", tc.in)
			if got != nil {
				t.Errorf("ParseAmount(%q, %d) returned %s with an error, want nil", tc.in, tc.decimals, got)
			}
		})
	}
}

// TestParseAmountMessages pins the message of each class of mistake.
func TestParseAmountMessages(t *testing.T) {
	cases := []struct {
		name, in string
		decimals int
		want     string
	}{
		{"empty", "", 18, `invalid_argument: value: required (a decimal string like "0.25")`},
		{"too long", strings.Repeat("1", policy.MaxAmountLen+1), 18, "invalid_argument: value: longer than 100 characters"},
		{"syntax", "1e3", 18, `invalid_argument: value: must be a plain decimal string like "0.25" (no sign, exponent, hex or spaces)`},
		{"leading zeros", "007", 18, "invalid_argument: value: leading zeros are not allowed"},
		{"decimals", "0.1234567", 6, "invalid_argument: value: more than 6 decimal places for this asset"},
		{"zero", "0.0", 18, "invalid_argument: value: must be greater than zero"},
		{"too large", "1" + strings.Repeat("0", 78), 0, "invalid_argument: value: too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.ParseAmount("value", tc.in, tc.decimals)
			if err == nil || err.Error() != tc.want {
				t.Errorf("ParseAmount(%q, %d) error = %v, want %q", tc.in, tc.decimals, err, tc.want)
			}
		})
	}
}

// TestParseAmountRoundTrip checks FormatAmount(ParseAmount(s)) == canonical s
// and that the canonical form parses to the same value.
func TestParseAmountRoundTrip(t *testing.T) {
	for _, tc := range apValidAmountCases() {
		t.Run(tc.name, func(t *testing.T) {
			v, err := policy.ParseAmount("amount", tc.in, tc.decimals)
			if err != nil {
				t.Fatalf("ParseAmount(%q, %d) = %v", tc.in, tc.decimals, err)
			}
			s := policy.FormatAmount(v, tc.decimals)
			if s != tc.canonical {
				t.Errorf("FormatAmount(ParseAmount(%q)) = %q, want %q", tc.in, s, tc.canonical)
			}
			again, err := policy.ParseAmount("amount", s, tc.decimals)
			if err != nil {
				t.Fatalf("ParseAmount(%q) of the canonical form = %v", s, err)
			}
			if again.Cmp(v) != 0 {
				t.Errorf("canonical %q parses to %s, want %s", s, again, v)
			}
		})
	}
}

func TestFormatAmount(t *testing.T) {
	bi := func(s string) *big.Int {
		v, ok := new(big.Int).SetString(s, 10)
		if !ok {
			panic("bad test integer " + s)
		}
		return v
	}
	cases := []struct {
		name     string
		v        *big.Int
		decimals int
		want     string
	}{
		{"nil", nil, 18, "0"},
		{"zero, 18 decimals", bi("0"), 18, "0"},
		{"zero, 0 decimals", bi("0"), 0, "0"},
		{"zero, 6 decimals", bi("0"), 6, "0"},
		{"one wei", bi("1"), 18, "0.000000000000000001"},
		{"one ETH", bi("1000000000000000000"), 18, "1"},
		{"one and a half ETH", bi("1500000000000000000"), 18, "1.5"},
		{"quarter ETH", bi("250000000000000000"), 18, "0.25"},
		{"large ETH", bi("123456789000000000000000"), 18, "123456.789"},
		{"decimals 0", bi("123"), 0, "123"},
		{"decimals 0, trailing zeros kept", bi("1000"), 0, "1000"},
		{"decimals 6, one unit", bi("1"), 6, "0.000001"},
		{"decimals 6, whole", bi("1000000"), 6, "1"},
		{"decimals 6, all digits", bi("1234567"), 6, "1.234567"},
		{"decimals 6, exactly six digits", bi("123456"), 6, "0.123456"},
		{"decimals 2, exactly two digits", bi("10"), 2, "0.1"},
		{"decimals 3, one digit", bi("5"), 3, "0.005"},
		{"decimals 9, gwei", bi("200000000000"), 9, "200"},
		{"max uint256, decimals 0", bi(apMaxUint256), 0, apMaxUint256},
		{"max uint256, decimals 18", bi(apMaxUint256), 18, apMaxUint256[:60] + "." + apMaxUint256[60:]},
		{"negative one wei", bi("-1"), 18, "-0.000000000000000001"},
		{"negative quarter", bi("-250000000000000000"), 18, "-0.25"},
		{"negative whole", bi("-2000000"), 6, "-2"},
		{"negative, decimals 0", bi("-5"), 0, "-5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before string
			if tc.v != nil {
				before = tc.v.String()
			}
			if got := policy.FormatAmount(tc.v, tc.decimals); got != tc.want {
				t.Errorf("FormatAmount(%v, %d) = %q, want %q", tc.v, tc.decimals, got, tc.want)
			}
			if tc.v != nil && tc.v.String() != before {
				t.Errorf("FormatAmount changed its argument from %s to %s", before, tc.v)
			}
		})
	}
}

func TestValidateIdempotencyKey(t *testing.T) {
	cases := []struct {
		name string
		key  string
		ok   bool
	}{
		{"one letter", "a", true},
		{"one digit", "7", true},
		{"dash only", "-", true},
		{"underscore only", "_", true},
		{"every class", "Abc-xyz_0123456789", true},
		{"uuid", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", true},
		{"128 characters", strings.Repeat("k", policy.MaxIdempotencyKeyLen), true},
		{"empty", "", false},
		{"129 characters", strings.Repeat("k", policy.MaxIdempotencyKeyLen+1), false},
		{"space", "my key", false},
		{"leading space", " key", false},
		{"trailing newline", "key\n", false},
		{"dot", "key.1", false},
		{"slash", "a/b", false},
		{"plus", "a+b", false},
		{"equals (base64 padding)", "YWJj=", false},
		{"colon", "a:b", false},
		{"NUL", "a\x00", false},
		{"non-ASCII letter", "clé", false},
		{"fullwidth letter", "\uff41", false},
		{"zero-width space", "a\u200bb", false},
		{"127 letters and a dot", strings.Repeat("k", 127) + ".", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := policy.ValidateIdempotencyKey(tc.key)
			if tc.ok {
				if err != nil {
					t.Fatalf("ValidateIdempotencyKey(%q) = %v, want nil", tc.key, err)
				}
				return
			}
			apCheckInvalidArgument(t, err, "idempotency_key", tc.key)
		})
	}
}
