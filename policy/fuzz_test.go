package policy_test

import (
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/policy"
)

// apErrorMessages returns the messages of the given errors; the fuzz targets
// require every error to carry one of these, which proves the message does
// not depend on (and so cannot echo) the input.
func apErrorMessages(errs ...error) map[string]bool {
	m := map[string]bool{}
	for _, err := range errs {
		if err == nil {
			panic("errorMessages: a trigger input was accepted")
		}
		m[err.Error()] = true
	}
	return m
}

// apCheckFuzzError asserts the properties every parse error must have.
func apCheckFuzzError(t *testing.T, err error, field, input string, allowed map[string]bool) {
	t.Helper()
	var e *policy.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *approval.Error", err, err)
	}
	if e.Code != policy.CodeInvalidArgument {
		t.Fatalf("code = %q, want invalid_argument", e.Code)
	}
	if !strings.HasPrefix(e.Msg, field+": ") {
		t.Fatalf("message %q does not start with %q", e.Msg, field+": ")
	}
	if !allowed[err.Error()] {
		t.Fatalf("message %q is not one of the fixed messages %v", err.Error(), allowed)
	}
	// Implied by the check above unless the input happens to be a word of a
	// fixed message; kept as the plain statement of the property.
	if len(input) > 3 && strings.Contains(err.Error(), input) {
		echo := true
		for m := range allowed {
			if strings.Contains(m, input) {
				echo = false
			}
		}
		if echo {
			t.Fatalf("message %q echoes the input %q", err.Error(), input)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, tc := range apValidAddressCases() {
		f.Add(tc.in)
	}
	for _, tc := range apInvalidAddressCases() {
		f.Add(tc.in)
	}
	const field = "to"
	parse := func(s string) error { _, err := policy.ParseAddress(field, s); return err }
	allowed := apErrorMessages(
		parse(""),                           // length
		parse("1x"+apVecA[2:]),              // prefix
		parse("0x"+strings.Repeat("g", 40)), // hex digits
		parse(apFlipCase(apVecA, 0)),        // checksum
	)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := policy.ParseAddress(field, s)
		if err != nil {
			apCheckFuzzError(t, err, field, s, allowed)
			if a != [20]byte{} {
				t.Fatalf("non-zero address %s with an error", a.Hex())
			}
			return
		}
		if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
			t.Fatalf("accepted %q, which is not 0x and 40 characters", s)
		}
		canon := a.Hex()
		if !strings.EqualFold(canon[2:], s[2:]) {
			t.Fatalf("%q parsed to %s, a different address", s, canon)
		}
		lower, upper := strings.ToLower(s[2:]), strings.ToUpper(s[2:])
		if s[2:] != lower && s[2:] != upper && s[2:] != canon[2:] {
			t.Fatalf("accepted mixed-case %q whose checksum form is %s", s, canon)
		}
		for _, form := range []string{canon, "0x" + lower, "0x" + upper} {
			b, err := policy.ParseAddress(field, form)
			if err != nil || b != a {
				t.Fatalf("%q re-rendered as %q parses to %s, %v; want %s", s, form, b.Hex(), err, canon)
			}
		}
	})
}

// apPlainDecimal is the grammar ParseAmount documents: digits, optionally a
// point and more digits, no leading zeros.
var apPlainDecimal = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// apCanonicalAmount drops trailing fractional zeros and a bare point.
func apCanonicalAmount(s string) string {
	i, frac, ok := strings.Cut(s, ".")
	if !ok {
		return s
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return i
	}
	return i + "." + frac
}

// apOracleAmount is an independent reading of ParseAmount's contract (via
// big.Rat): the base units of s, or nil if it must be refused.
func apOracleAmount(s string, decimals int) *big.Int {
	if len(s) > policy.MaxAmountLen || !apPlainDecimal.MatchString(s) || decimals < 0 {
		return nil
	}
	if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > decimals {
		return nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)))
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	if !r.IsInt() || r.Sign() <= 0 || r.Num().Cmp(max) > 0 {
		return nil
	}
	return new(big.Int).Set(r.Num())
}

func FuzzParseAmount(f *testing.F) {
	for _, tc := range apValidAmountCases() {
		f.Add(tc.in, uint8(tc.decimals))
	}
	for _, tc := range apInvalidAmountCases() {
		if tc.decimals >= 0 {
			f.Add(tc.in, uint8(tc.decimals))
		}
	}
	const field = "amount"
	f.Fuzz(func(t *testing.T, s string, dec uint8) {
		decimals := int(dec % 40) // 0..39: every decimals a policy allows (0..36) and a little more
		v, err := policy.ParseAmount(field, s, decimals)
		want := apOracleAmount(s, decimals)
		if err != nil {
			parse := func(s string) error { _, err := policy.ParseAmount(field, s, decimals); return err }
			allowed := apErrorMessages(
				parse(""),
				parse(strings.Repeat("1", policy.MaxAmountLen+1)),
				parse("x"),
				parse("01"),
				parse("1."+strings.Repeat("1", decimals+1)),
				parse("0"),
				parse("1"+strings.Repeat("0", 78-decimals)), // 10^78 base units
			)
			apCheckFuzzError(t, err, field, s, allowed)
			if v != nil {
				t.Fatalf("value %s with an error", v)
			}
			if want != nil {
				t.Fatalf("ParseAmount(%q, %d) refused a valid amount (%v); the oracle reads %s", s, decimals, err, want)
			}
			return
		}
		if want == nil || v.Cmp(want) != 0 {
			t.Fatalf("ParseAmount(%q, %d) = %s, the oracle reads %v", s, decimals, v, want)
		}
		canon := policy.FormatAmount(v, decimals)
		if canon != apCanonicalAmount(s) {
			t.Fatalf("FormatAmount(ParseAmount(%q)) = %q, want %q", s, canon, apCanonicalAmount(s))
		}
		again, err := policy.ParseAmount(field, canon, decimals)
		if err != nil || again.Cmp(v) != 0 {
			t.Fatalf("canonical %q parses to %v, %v; want %s", canon, again, err, v)
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(policy.PolicyTemplate(1337)))
	f.Add([]byte(policy.PolicyTemplate(1)))
	f.Add([]byte(apBasePolicy + apUsdcToken + apDaiToken))
	f.Add([]byte(apChainLine + apNativeBlock))
	f.Add([]byte(""))
	f.Add([]byte("[[tokens]]\n[[tokens]]\nsymbol = 1\n"))
	f.Add([]byte("chain_id = 1\n[native]\nper_tx_max = 5\n"))
	for _, tc := range apBadPolicyCases() {
		f.Add([]byte(tc.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.ParsePolicy(data, "h")
		if err != nil {
			pe, ok := err.(*policy.PolicyError)
			if !ok {
				t.Fatalf("error %T %v is not a *PolicyError", err, err)
			}
			if p != nil {
				t.Fatalf("a policy with an error")
			}
			if lines := strings.Count(string(data), "\n") + 1; pe.Line < 0 || pe.Line > lines+1 {
				t.Fatalf("line %d outside the file's %d lines", pe.Line, lines)
			}
			return
		}
		// Whatever parses satisfies the invariants the rest of the server relies on.
		if p.ChainID == 0 || p.SHA256 != "h" {
			t.Fatalf("chain_id %d, sha %q", p.ChainID, p.SHA256)
		}
		apCheckLimitInvariants(t, "native", &p.Native)
		syms := map[string]bool{"ETH": true}
		for i := range p.Tokens {
			tk := &p.Tokens[i]
			if syms[strings.ToUpper(tk.Symbol)] || tk.Decimals < 0 || tk.Decimals > 36 || tk.Address == [20]byte{} {
				t.Fatalf("token %d: %+v", i, tk)
			}
			syms[strings.ToUpper(tk.Symbol)] = true
			apCheckLimitInvariants(t, tk.Symbol, &tk.Limits)
		}
		r := p.Recipients
		if r.Mode != "any" && r.Mode != "allowlist" || r.Allow == nil || r.Deny == nil {
			t.Fatalf("recipients %+v", r)
		}
		for a := range r.Deny {
			if r.Allow[a] {
				t.Fatalf("%s in allow and deny", a.Hex())
			}
		}
		if p.MaxFeePerGas == nil || p.MaxFeePerGas.Sign() <= 0 || p.MaxTotalFee == nil || p.MaxTotalFee.Sign() <= 0 {
			t.Fatalf("fee caps %v per gas, %v in total", p.MaxFeePerGas, p.MaxTotalFee)
		}
		if p.ToolCallsPerMinute < 1 || p.ToolCallsPerMinute > 100000 || p.TransfersPerHour < 1 || p.TransfersPerHour > 100000 {
			t.Fatalf("rate %d/%d", p.ToolCallsPerMinute, p.TransfersPerHour)
		}
	})
}

func apCheckLimitInvariants(t *testing.T, what string, l *policy.Limits) {
	t.Helper()
	if l.AutoApproveMax == nil || l.PerTxMax == nil || l.WindowAutoMax == nil || l.WindowMax == nil || l.BalanceFractionApproval == nil {
		t.Fatalf("%s: a nil limit: %+v", what, l)
	}
	switch {
	case l.AutoApproveMax.Sign() < 0, l.WindowAutoMax.Sign() < 0, l.PerTxMax.Sign() <= 0:
		t.Fatalf("%s: negative or zero limit: %+v", what, l)
	case l.AutoApproveMax.Cmp(l.PerTxMax) > 0, l.PerTxMax.Cmp(l.WindowMax) > 0,
		l.AutoApproveMax.Cmp(l.WindowAutoMax) > 0, l.WindowAutoMax.Cmp(l.WindowMax) > 0:
		t.Fatalf("%s: contradicting limits: %+v", what, l)
	case l.BalanceFractionApproval.Sign() <= 0 || l.BalanceFractionApproval.Cmp(big.NewRat(1, 1)) > 0:
		t.Fatalf("%s: fraction %s", what, l.BalanceFractionApproval)
	case l.Window <= 0 || l.Window > 744*time.Hour:
		t.Fatalf("%s: window %v", what, l.Window)
	}
}
