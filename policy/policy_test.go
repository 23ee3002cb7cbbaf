package policy_test

import (
	"errors"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/policy"
)

// The policy the bad-file table mutates: every key of CONTRACT.md §3 with the
// documented values, no comments, so that each case changes one thing.
const (
	apChainLine   = "chain_id = 1337\n"
	apNativeBlock = `
[native]
auto_approve_max = "0.1"
per_tx_max = "5"
balance_fraction_approval = "0.2"
window = "24h"
window_auto_max = "1"
window_max = "10"
`
	apRecipientsBlock = `
[recipients]
mode = "any"
allow = []
deny = []
new_recipient_approval = true
`
	apFeesBlock = `
[fees]
max_fee_per_gas_gwei = "200"
`
	apRateBlock = `
[rate]
tool_calls_per_minute = 120
transfers_per_hour = 30
`
	apBasePolicy = apChainLine + apNativeBlock + apRecipientsBlock + apFeesBlock + apRateBlock

	apUsdcAddress = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"

	// apUsdcToken is a [[tokens]] entry to append to basePolicy.
	apUsdcToken = `
[[tokens]]
symbol = "USDC"
address = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
decimals = 6
auto_approve_max = "10"
per_tx_max = "500"
window_auto_max = "100"
window_max = "1000"
`
	// apDaiToken is a second [[tokens]] entry, at another address.
	apDaiToken = `
[[tokens]]
symbol = "DAI"
address = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
decimals = 18
auto_approve_max = "10"
per_tx_max = "500"
balance_fraction_approval = "0.5"
window = "1h"
window_auto_max = "100"
window_max = "1000"
`
)

// apWith returns doc with old replaced by new; old must occur exactly once.
func apWith(doc, old, new string) string {
	if n := strings.Count(doc, old); n != 1 {
		panic("with: " + old + " occurs " + string(rune('0'+n)) + " times")
	}
	return strings.Replace(doc, old, new, 1)
}

// apLineOf returns the 1-based line of the nth (1-based) line of doc that
// contains needle. With nth 0, needle must be on exactly one line.
func apLineOf(doc, needle string, nth int) int {
	var found []int
	for i, ln := range strings.Split(doc, "\n") {
		if strings.Contains(ln, needle) {
			found = append(found, i+1)
		}
	}
	switch {
	case nth == 0 && len(found) == 1:
		return found[0]
	case nth > 0 && nth <= len(found):
		return found[nth-1]
	}
	panic("lineOf: " + needle + " not found as asked")
}

// apUnits returns the base units of a decimal amount with decimals, exactly.
func apUnits(s string, decimals int) *big.Int {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("units: bad decimal " + s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)))
	if !r.IsInt() {
		panic("units: " + s + " has too many decimals")
	}
	return new(big.Int).Set(r.Num())
}

func apEth(s string) *big.Int { return apUnits(s, 18) }

type apBadPolicyCase struct {
	name string
	doc  string
	key  string
	line string // a substring of the line the error points at; "" for line 0
	nth  int    // the occurrence of line meant, when it is on several lines
}

// apBadPolicyCases are policy files ParsePolicy must refuse, with the key and
// line the error must name.
func apBadPolicyCases() []apBadPolicyCase {
	b := apBasePolicy
	tok := func(old, new string) string { return b + apWith(apUsdcToken, old, new) }
	return []apBadPolicyCase{
		// TOML and structure.
		{name: "toml syntax error", doc: apWith(b, `per_tx_max = "5"`, `per_tx_max = = "5"`), key: "native.per_tx_max", line: "per_tx_max ="},
		{name: "toml missing equals", doc: apWith(b, `window = "24h"`, `window "24h"`), key: "native", line: `window "24h"`},
		{name: "toml unterminated string", doc: apWith(b, `per_tx_max = "5"`, `per_tx_max = "5`), key: "native.per_tx_max", line: `per_tx_max = "5`},
		{name: "amount of the wrong type", doc: apWith(b, `per_tx_max = "5"`, `per_tx_max = 5`), key: "native.per_tx_max", line: "per_tx_max ="},
		{name: "toml duplicate key", doc: apWith(b, apChainLine, apChainLine+"chain_id = 1\n"), key: "chain_id", line: "chain_id =", nth: 2},
		{name: "unknown top-level key", doc: apWith(b, apChainLine, apChainLine+"colour = \"blue\"\n"), key: "colour", line: "colour ="},
		{name: "unknown key in native", doc: apWith(b, `window_max = "10"`, "window_max = \"10\"\nper_day_max = \"3\""), key: "native.per_day_max", line: "per_day_max"},
		{name: "unknown key in recipients", doc: apWith(b, "mode = \"any\"", "mode = \"any\"\nblock = []"), key: "recipients.block", line: "block = []"},
		{name: "unknown key in fees", doc: apWith(b, `max_fee_per_gas_gwei = "200"`, "max_fee_per_gas_gwei = \"200\"\nmax_priority_fee_gwei = \"2\""), key: "fees.max_priority_fee_gwei", line: "max_priority_fee_gwei"},
		{name: "unknown key in rate", doc: apWith(b, "transfers_per_hour = 30", "transfers_per_hour = 30\ntransfers_per_day = 100"), key: "rate.transfers_per_day", line: "transfers_per_day"},
		{name: "unknown key in first token", doc: tok("decimals = 6", "decimals = 6\nname = \"USD Coin\""), key: "tokens.name", line: "name = "},

		// chain_id.
		{name: "missing chain_id", doc: apWith(b, apChainLine, ""), key: "chain_id"},
		{name: "chain_id zero", doc: apWith(b, apChainLine, "chain_id = 0\n"), key: "chain_id", line: "chain_id = 0"},
		{name: "chain_id negative", doc: apWith(b, apChainLine, "chain_id = -1\n"), key: "chain_id", line: "chain_id = -1"},
		{name: "chain_id out of int64 range", doc: apWith(b, apChainLine, "chain_id = 99999999999999999999\n"), key: "chain_id", line: "chain_id ="},

		// [native] amounts.
		{name: "missing native", doc: apWith(b, apNativeBlock, ""), key: "native"},
		{name: "missing per_tx_max points at the table", doc: apWith(b, "per_tx_max = \"5\"\n", ""), key: "native.per_tx_max", line: "[native]"},
		{name: "missing auto_approve_max", doc: apWith(b, "auto_approve_max = \"0.1\"\n", ""), key: "native.auto_approve_max", line: "[native]"},
		{name: "missing window_auto_max", doc: apWith(b, "window_auto_max = \"1\"\n", ""), key: "native.window_auto_max", line: "[native]"},
		{name: "missing window_max", doc: apWith(b, "window_max = \"10\"\n", ""), key: "native.window_max", line: "[native]"},
		{name: "negative auto_approve_max", doc: apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "-0.1"`), key: "native.auto_approve_max", line: "auto_approve_max"},
		{name: "negative per_tx_max", doc: apWith(b, `per_tx_max = "5"`, `per_tx_max = "-5"`), key: "native.per_tx_max", line: "per_tx_max"},
		{name: "negative window_auto_max", doc: apWith(b, `window_auto_max = "1"`, `window_auto_max = "-1"`), key: "native.window_auto_max", line: "window_auto_max"},
		{name: "negative window_max", doc: apWith(b, `window_max = "10"`, `window_max = "-10"`), key: "native.window_max", line: "window_max ="},
		{name: "negative zero per_tx_max", doc: apWith(b, `per_tx_max = "5"`, `per_tx_max = "-0"`), key: "native.per_tx_max", line: "per_tx_max"},
		{name: "exponent amount", doc: apWith(b, `per_tx_max = "5"`, `per_tx_max = "1e3"`), key: "native.per_tx_max", line: "per_tx_max"},
		{name: "word amount", doc: apWith(b, `per_tx_max = "5"`, `per_tx_max = "abc"`), key: "native.per_tx_max", line: "per_tx_max"},
		{name: "hex amount", doc: apWith(b, `window_max = "10"`, `window_max = "0x10"`), key: "native.window_max", line: "window_max ="},
		{name: "amount with spaces", doc: apWith(b, `window_max = "10"`, `window_max = " 10"`), key: "native.window_max", line: "window_max ="},
		{name: "empty amount", doc: apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = ""`), key: "native.auto_approve_max", line: "auto_approve_max"},
		{name: "zero written as 0.0", doc: apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "0.0"`), key: "native.auto_approve_max", line: "auto_approve_max"},
		{name: "19 decimals for ETH", doc: apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "0.0000000000000000001"`), key: "native.auto_approve_max", line: "auto_approve_max"},
		{name: "per_tx_max zero", doc: apWith(b, `per_tx_max = "5"`, `per_tx_max = "0"`), key: "native.per_tx_max", line: "per_tx_max"},

		// Contradicting limits.
		{name: "auto_approve_max above per_tx_max", doc: apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "6"`), key: "native.auto_approve_max", line: "auto_approve_max"},
		{name: "window_auto_max above window_max", doc: apWith(b, `window_auto_max = "1"`, `window_auto_max = "11"`), key: "native.window_auto_max", line: "window_auto_max"},
		{name: "per_tx_max above window_max", doc: apWith(b, `per_tx_max = "5"`, `per_tx_max = "11"`), key: "native.per_tx_max", line: "per_tx_max"},
		{name: "auto_approve_max above window_auto_max", doc: apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "2"`), key: "native.auto_approve_max", line: "auto_approve_max"},
		{name: "one wei of contradiction", doc: apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "1.000000000000000001"`), key: "native.auto_approve_max", line: "auto_approve_max"},

		// window.
		{name: "window negative", doc: apWith(b, `window = "24h"`, `window = "-1h"`), key: "native.window", line: "window ="},
		{name: "window zero", doc: apWith(b, `window = "24h"`, `window = "0s"`), key: "native.window", line: "window ="},
		{name: "window forever", doc: apWith(b, `window = "24h"`, `window = "forever"`), key: "native.window", line: "window ="},
		{name: "window 1000h", doc: apWith(b, `window = "24h"`, `window = "1000h"`), key: "native.window", line: "window ="},
		{name: "window just above 744h", doc: apWith(b, `window = "24h"`, `window = "744h0m1s"`), key: "native.window", line: "window ="},
		{name: "window in days", doc: apWith(b, `window = "24h"`, `window = "1d"`), key: "native.window", line: "window ="},

		// balance_fraction_approval.
		{name: "fraction 1.5", doc: apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "1.5"`), key: "native.balance_fraction_approval", line: "balance_fraction_approval"},
		{name: "fraction 0", doc: apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "0"`), key: "native.balance_fraction_approval", line: "balance_fraction_approval"},
		{name: "fraction 0.0", doc: apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "0.0"`), key: "native.balance_fraction_approval", line: "balance_fraction_approval"},
		{name: "fraction abc", doc: apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "abc"`), key: "native.balance_fraction_approval", line: "balance_fraction_approval"},
		{name: "fraction negative", doc: apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "-0.2"`), key: "native.balance_fraction_approval", line: "balance_fraction_approval"},
		{name: "fraction percent", doc: apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "20%"`), key: "native.balance_fraction_approval", line: "balance_fraction_approval"},
		{name: "fraction 2", doc: apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "2"`), key: "native.balance_fraction_approval", line: "balance_fraction_approval"},
		{name: "fraction 1.0000001", doc: apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "1.000001"`), key: "native.balance_fraction_approval", line: "balance_fraction_approval"},

		// [recipients].
		{name: "recipients mode some", doc: apWith(b, `mode = "any"`, `mode = "some"`), key: "recipients.mode", line: "mode ="},
		{name: "recipients mode uppercase", doc: apWith(b, `mode = "any"`, `mode = "ANY"`), key: "recipients.mode", line: "mode ="},
		{name: "allow entry with a wrong checksum", doc: apWith(b, "allow = []", `allow = ["`+apFlipCase(apVecA, 0)+`"]`), key: "recipients.allow", line: "allow ="},
		{name: "allow entry not hex", doc: apWith(b, "allow = []", `allow = ["`+apVecA+`", "0xnothex"]`), key: "recipients.allow", line: "allow ="},
		{name: "allow entry on a later line", doc: apWith(b, "allow = []", "allow = [\n  \""+apVecA+"\",\n  \"0x1234\",\n]"), key: "recipients.allow", line: "allow = ["},
		{name: "deny entry with spaces", doc: apWith(b, "deny = []", `deny = [" `+apVecA+`"]`), key: "recipients.deny", line: "deny ="},
		{name: "address in allow and deny", doc: apWith(apWith(b, "allow = []", `allow = ["`+apVecA+`"]`), "deny = []", `deny = ["`+strings.ToLower(apVecA)+`"]`), key: "recipients.deny", line: "deny ="},

		// [[tokens]].
		{name: "token without symbol", doc: tok("symbol = \"USDC\"\n", ""), key: "tokens.symbol", line: "[[tokens]]"},
		{name: "token without address", doc: tok("address = \""+apUsdcAddress+"\"\n", ""), key: "tokens.address", line: "[[tokens]]"},
		{name: "token without decimals", doc: tok("decimals = 6\n", ""), key: "tokens.decimals", line: "[[tokens]]"},
		{name: "token without per_tx_max", doc: tok("per_tx_max = \"500\"\n", ""), key: "tokens.per_tx_max", line: "[[tokens]]"},
		{name: "token symbol ETH", doc: tok(`symbol = "USDC"`, `symbol = "ETH"`), key: "tokens.symbol", line: "symbol ="},
		{name: "token symbol eth lowercase", doc: tok(`symbol = "USDC"`, `symbol = "eth"`), key: "tokens.symbol", line: "symbol ="},
		{name: "token symbol empty", doc: tok(`symbol = "USDC"`, `symbol = ""`), key: "tokens.symbol", line: "symbol ="},
		{name: "token symbol with a dash", doc: tok(`symbol = "USDC"`, `symbol = "USD-C"`), key: "tokens.symbol", line: "symbol ="},
		{name: "token symbol 12 characters", doc: tok(`symbol = "USDC"`, `symbol = "ABCDEFGHIJKL"`), key: "tokens.symbol", line: "symbol ="},
		{name: "token symbol non-ASCII", doc: tok(`symbol = "USDC"`, `symbol = "USDС"`), key: "tokens.symbol", line: "symbol ="},
		{name: "duplicate token symbol", doc: b + apUsdcToken + apWith(apDaiToken, `symbol = "DAI"`, `symbol = "USDC"`), key: "tokens.symbol", line: `symbol = "USDC"`, nth: 2},
		{name: "duplicate token symbol other case", doc: b + apUsdcToken + apWith(apDaiToken, `symbol = "DAI"`, `symbol = "usdc"`), key: "tokens.symbol", line: `symbol = "usdc"`},
		{name: "duplicate token address", doc: b + apUsdcToken + apWith(apDaiToken, `address = "`+apVecC+`"`, `address = "`+strings.ToLower(apUsdcAddress)+`"`), key: "tokens.address", line: "address =", nth: 2},
		{name: "token address wrong checksum", doc: tok(apUsdcAddress, apFlipCase(apUsdcAddress, 0)), key: "tokens.address", line: "address ="},
		{name: "token address too short", doc: tok(apUsdcAddress, apUsdcAddress[:41]), key: "tokens.address", line: "address ="},
		{name: "token zero address", doc: tok(apUsdcAddress, "0x"+strings.Repeat("0", 40)), key: "tokens.address", line: "address ="},
		{name: "token decimals 40", doc: tok("decimals = 6", "decimals = 40"), key: "tokens.decimals", line: "decimals ="},
		{name: "token decimals 37", doc: tok("decimals = 6", "decimals = 37"), key: "tokens.decimals", line: "decimals ="},
		{name: "token decimals negative", doc: tok("decimals = 6", "decimals = -1"), key: "tokens.decimals", line: "decimals ="},
		{name: "token amount with 7 decimals for 6", doc: tok(`auto_approve_max = "10"`, `auto_approve_max = "0.0000001"`), key: "tokens.auto_approve_max", line: "auto_approve_max", nth: 2},
		{name: "token negative amount", doc: tok(`window_max = "1000"`, `window_max = "-1000"`), key: "tokens.window_max", line: "window_max =", nth: 2},
		{name: "token contradiction", doc: tok(`per_tx_max = "500"`, `per_tx_max = "5000"`), key: "tokens.per_tx_max", line: "per_tx_max =", nth: 2},
		{name: "second token contradiction", doc: b + apUsdcToken + apWith(apDaiToken, `auto_approve_max = "10"`, `auto_approve_max = "600"`), key: "tokens.auto_approve_max", line: "auto_approve_max", nth: 3},
		{name: "second token bad window", doc: b + apUsdcToken + apWith(apDaiToken, `window = "1h"`, `window = "1y"`), key: "tokens.window", line: `window = "1y"`},
		{name: "second token without decimals points at its header", doc: b + apUsdcToken + apWith(apDaiToken, "decimals = 18\n", ""), key: "tokens.decimals", line: "[[tokens]]", nth: 2},

		// [fees].
		{name: "fee abc", doc: apWith(b, `max_fee_per_gas_gwei = "200"`, `max_fee_per_gas_gwei = "abc"`), key: "fees.max_fee_per_gas_gwei", line: "max_fee_per_gas_gwei"},
		{name: "fee negative", doc: apWith(b, `max_fee_per_gas_gwei = "200"`, `max_fee_per_gas_gwei = "-1"`), key: "fees.max_fee_per_gas_gwei", line: "max_fee_per_gas_gwei"},
		{name: "fee zero", doc: apWith(b, `max_fee_per_gas_gwei = "200"`, `max_fee_per_gas_gwei = "0"`), key: "fees.max_fee_per_gas_gwei", line: "max_fee_per_gas_gwei"},
		{name: "fee exponent", doc: apWith(b, `max_fee_per_gas_gwei = "200"`, `max_fee_per_gas_gwei = "2e2"`), key: "fees.max_fee_per_gas_gwei", line: "max_fee_per_gas_gwei"},
		{name: "fee below one wei", doc: apWith(b, `max_fee_per_gas_gwei = "200"`, `max_fee_per_gas_gwei = "0.0000000001"`), key: "fees.max_fee_per_gas_gwei", line: "max_fee_per_gas_gwei"},

		// [rate].
		{name: "tool calls per minute 0", doc: apWith(b, "tool_calls_per_minute = 120", "tool_calls_per_minute = 0"), key: "rate.tool_calls_per_minute", line: "tool_calls_per_minute"},
		{name: "tool calls per minute 1000000", doc: apWith(b, "tool_calls_per_minute = 120", "tool_calls_per_minute = 1000000"), key: "rate.tool_calls_per_minute", line: "tool_calls_per_minute"},
		{name: "tool calls per minute negative", doc: apWith(b, "tool_calls_per_minute = 120", "tool_calls_per_minute = -5"), key: "rate.tool_calls_per_minute", line: "tool_calls_per_minute"},
		{name: "transfers per hour 0", doc: apWith(b, "transfers_per_hour = 30", "transfers_per_hour = 0"), key: "rate.transfers_per_hour", line: "transfers_per_hour"},
		{name: "transfers per hour 1000000", doc: apWith(b, "transfers_per_hour = 30", "transfers_per_hour = 1000000"), key: "rate.transfers_per_hour", line: "transfers_per_hour"},
		{name: "transfers per hour 100001", doc: apWith(b, "transfers_per_hour = 30", "transfers_per_hour = 100001"), key: "rate.transfers_per_hour", line: "transfers_per_hour"},
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	for _, tc := range apBadPolicyCases() {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.ParsePolicy([]byte(tc.doc), "sha")
			if err == nil {
				t.Fatalf("ParsePolicy accepted the file:\n%s", tc.doc)
			}
			if p != nil {
				t.Errorf("ParsePolicy returned a policy with an error")
			}
			pe, ok := err.(*policy.PolicyError)
			if !ok {
				t.Fatalf("err = %T %v, want *approval.PolicyError", err, err)
			}
			wantLine := 0
			if tc.line != "" {
				wantLine = apLineOf(tc.doc, tc.line, tc.nth)
			}
			if pe.Key != tc.key || pe.Line != wantLine {
				t.Errorf("got key %q line %d, want key %q line %d (%v)", pe.Key, pe.Line, tc.key, wantLine, err)
			}
			if pe.Msg == "" {
				t.Errorf("empty message")
			}
			if !strings.HasPrefix(err.Error(), "policy: ") {
				t.Errorf("Error() = %q, want the prefix \"policy: \"", err.Error())
			}
		})
	}
}

func TestPolicyErrorString(t *testing.T) {
	cases := []struct {
		name string
		err  policy.PolicyError
		want string
	}{
		{"line and key", policy.PolicyError{Line: 7, Key: "native.window", Msg: "bad"}, "policy: line 7: native.window: bad"},
		{"key only", policy.PolicyError{Key: "native", Msg: "required table [native] is missing"}, "policy: native: required table [native] is missing"},
		{"message only", policy.PolicyError{Msg: "unreadable"}, "policy: unreadable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

// apCheckLimits compares a Limits with decimal strings in the asset's units.
func apCheckLimits(t *testing.T, what string, got policy.Limits, decimals int, auto, perTx, frac, window, windowAuto, windowMax string) {
	t.Helper()
	amounts := []struct {
		key       string
		got       *big.Int
		wantUnits string
	}{
		{"auto_approve_max", got.AutoApproveMax, auto},
		{"per_tx_max", got.PerTxMax, perTx},
		{"window_auto_max", got.WindowAutoMax, windowAuto},
		{"window_max", got.WindowMax, windowMax},
	}
	for _, a := range amounts {
		if want := apUnits(a.wantUnits, decimals); a.got == nil || a.got.Cmp(want) != 0 {
			t.Errorf("%s.%s = %v, want %s", what, a.key, a.got, want)
		}
	}
	wantFrac, _ := new(big.Rat).SetString(frac)
	if got.BalanceFractionApproval == nil || got.BalanceFractionApproval.Cmp(wantFrac) != 0 {
		t.Errorf("%s.balance_fraction_approval = %v, want %s", what, got.BalanceFractionApproval, frac)
	}
	wantWindow, err := time.ParseDuration(window)
	if err != nil {
		t.Fatal(err)
	}
	if got.Window != wantWindow {
		t.Errorf("%s.window = %v, want %v", what, got.Window, wantWindow)
	}
}

func TestParsePolicyTemplate(t *testing.T) {
	for _, chainID := range []uint64{1337, 1, 11155111} {
		doc := policy.PolicyTemplate(chainID)
		p, err := policy.ParsePolicy([]byte(doc), "abc123")
		if err != nil {
			t.Fatalf("PolicyTemplate(%d) does not parse: %v", chainID, err)
		}
		if p.ChainID != chainID {
			t.Errorf("chain_id = %d, want %d", p.ChainID, chainID)
		}
		if p.SHA256 != "abc123" {
			t.Errorf("SHA256 = %q, want the value passed in", p.SHA256)
		}
		apCheckLimits(t, "native", p.Native, 18, "0.1", "5", "0.2", "24h", "1", "10")
		if len(p.Tokens) != 0 {
			t.Errorf("tokens = %v, want none (the template's example is commented out)", p.Tokens)
		}
		if p.Recipients.Mode != "any" || len(p.Recipients.Allow) != 0 || len(p.Recipients.Deny) != 0 || !p.Recipients.NewRecipientApproval {
			t.Errorf("recipients = %+v, want mode any, empty lists, new_recipient_approval", p.Recipients)
		}
		if want := apUnits("200", 9); p.MaxFeePerGas.Cmp(want) != 0 {
			t.Errorf("MaxFeePerGas = %s, want %s wei", p.MaxFeePerGas, want)
		}
		if p.ToolCallsPerMinute != 120 || p.TransfersPerHour != 30 {
			t.Errorf("rate = %d/min, %d/h, want 120/min, 30/h", p.ToolCallsPerMinute, p.TransfersPerHour)
		}
	}
}

// TestParsePolicyContractExample parses the example of CONTRACT.md §3
// (testdata/policy-contract.toml; its README lists the two edits needed to
// make the example a complete file).
func TestParsePolicyContractExample(t *testing.T) {
	data, err := os.ReadFile("testdata/policy-contract.toml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.ParsePolicy(data, "")
	if err != nil {
		t.Fatalf("the contract's example does not parse: %v", err)
	}
	if p.ChainID != 1337 {
		t.Errorf("chain_id = %d, want 1337", p.ChainID)
	}
	apCheckLimits(t, "native", p.Native, 18, "0.1", "5", "0.2", "24h", "1", "10")
	if len(p.Tokens) != 1 {
		t.Fatalf("tokens = %d, want 1", len(p.Tokens))
	}
	tk := p.Tokens[0]
	if tk.Symbol != "USDC" || tk.Decimals != 6 || tk.Address != common.HexToAddress(apUsdcAddress) {
		t.Errorf("token = %s %d %s, want USDC 6 %s", tk.Symbol, tk.Decimals, tk.Address.Hex(), apUsdcAddress)
	}
	apCheckLimits(t, "tokens[0]", tk.Limits, 6, "100", "5000", "0.2", "24h", "1000", "10000")
	if p.Recipients.Mode != "any" || !p.Recipients.NewRecipientApproval {
		t.Errorf("recipients = %+v", p.Recipients)
	}
	if p.MaxFeePerGas.Cmp(apUnits("200", 9)) != 0 || p.ToolCallsPerMinute != 120 || p.TransfersPerHour != 30 {
		t.Errorf("fees/rate = %s wei, %d/min, %d/h", p.MaxFeePerGas, p.ToolCallsPerMinute, p.TransfersPerHour)
	}
}

// TestParsePolicyDefaults checks the documented defaults of every optional
// key and table.
func TestParsePolicyDefaults(t *testing.T) {
	native := apWith(apWith(apNativeBlock, "balance_fraction_approval = \"0.2\"\n", ""), "window = \"24h\"\n", "")
	cases := []struct {
		name string
		doc  string
	}{
		{"no recipients, fees or rate", apChainLine + apNativeBlock},
		{"empty recipients, fees and rate tables", apChainLine + apNativeBlock + "\n[recipients]\n\n[fees]\n\n[rate]\n"},
		{"no fraction or window in native", apChainLine + native + apRecipientsBlock + apFeesBlock + apRateBlock},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.ParsePolicy([]byte(tc.doc), "")
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			apCheckLimits(t, "native", p.Native, 18, "0.1", "5", policy.DefaultBalanceFraction, policy.DefaultWindow.String(), "1", "10")
			if p.Recipients.Mode != "any" {
				t.Errorf("recipients.mode = %q, want any", p.Recipients.Mode)
			}
			if p.Recipients.Allow == nil || len(p.Recipients.Allow) != 0 || p.Recipients.Deny == nil || len(p.Recipients.Deny) != 0 {
				t.Errorf("allow/deny = %v/%v, want empty, non-nil sets", p.Recipients.Allow, p.Recipients.Deny)
			}
			if !p.Recipients.NewRecipientApproval {
				t.Errorf("new_recipient_approval = false, want the default true")
			}
			if p.MaxFeePerGas == nil || p.MaxFeePerGas.Cmp(big.NewInt(200_000_000_000)) != 0 {
				t.Errorf("MaxFeePerGas = %v, want 200 gwei", p.MaxFeePerGas)
			}
			if p.ToolCallsPerMinute != 120 {
				t.Errorf("tool_calls_per_minute = %d, want 120", p.ToolCallsPerMinute)
			}
			if p.TransfersPerHour != 30 {
				t.Errorf("transfers_per_hour = %d, want 30", p.TransfersPerHour)
			}
		})
	}
}

// TestPolicyDefaultConstants pins the documented defaults (CONTRACT.md §3).
func TestPolicyDefaultConstants(t *testing.T) {
	if policy.DefaultBalanceFraction != "0.2" || policy.DefaultWindow != 24*time.Hour || policy.DefaultMaxFeePerGasGwei != "200" ||
		policy.DefaultToolCallsPerMinute != 120 || policy.DefaultTransfersPerHour != 30 {
		t.Errorf("defaults = %s, %v, %s gwei, %d/min, %d/h; want 0.2, 24h, 200 gwei, 120/min, 30/h",
			policy.DefaultBalanceFraction, policy.DefaultWindow, policy.DefaultMaxFeePerGasGwei,
			policy.DefaultToolCallsPerMinute, policy.DefaultTransfersPerHour)
	}
}

// TestParsePolicyAccepts covers the edges of what is allowed.
func TestParsePolicyAccepts(t *testing.T) {
	b := apBasePolicy
	cases := []struct {
		name  string
		doc   string
		check func(t *testing.T, p *policy.Policy)
	}{
		{"auto_approve_max 0 means never without a human", apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "0"`), func(t *testing.T, p *policy.Policy) {
			if p.Native.AutoApproveMax.Sign() != 0 {
				t.Errorf("AutoApproveMax = %s, want 0", p.Native.AutoApproveMax)
			}
		}},
		{"window_auto_max 0 with auto 0", apWith(apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "0"`), `window_auto_max = "1"`, `window_auto_max = "0"`), func(t *testing.T, p *policy.Policy) {
			if p.Native.WindowAutoMax.Sign() != 0 {
				t.Errorf("WindowAutoMax = %s, want 0", p.Native.WindowAutoMax)
			}
		}},
		{"all limits equal", apWith(apWith(apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "5"`), `window_auto_max = "1"`, `window_auto_max = "5"`), `window_max = "10"`, `window_max = "5"`), func(t *testing.T, p *policy.Policy) {
			apCheckLimits(t, "native", p.Native, 18, "5", "5", "0.2", "24h", "5", "5")
		}},
		{"one wei limits", apWith(apWith(apWith(apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "0.000000000000000001"`), `per_tx_max = "5"`, `per_tx_max = "0.000000000000000001"`), `window_auto_max = "1"`, `window_auto_max = "0.000000000000000001"`), `window_max = "10"`, `window_max = "0.000000000000000001"`), func(t *testing.T, p *policy.Policy) {
			if p.Native.PerTxMax.Cmp(big.NewInt(1)) != 0 {
				t.Errorf("PerTxMax = %s, want 1 wei", p.Native.PerTxMax)
			}
		}},
		{"fraction 1", apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "1"`), func(t *testing.T, p *policy.Policy) {
			if p.Native.BalanceFractionApproval.Cmp(big.NewRat(1, 1)) != 0 {
				t.Errorf("fraction = %s, want 1", p.Native.BalanceFractionApproval)
			}
		}},
		{"fraction 1.000000", apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "1.000000"`), func(t *testing.T, p *policy.Policy) {
			if p.Native.BalanceFractionApproval.Cmp(big.NewRat(1, 1)) != 0 {
				t.Errorf("fraction = %s, want 1", p.Native.BalanceFractionApproval)
			}
		}},
		{"fraction 0.000001", apWith(b, `balance_fraction_approval = "0.2"`, `balance_fraction_approval = "0.000001"`), func(t *testing.T, p *policy.Policy) {
			if p.Native.BalanceFractionApproval.Cmp(big.NewRat(1, 1_000_000)) != 0 {
				t.Errorf("fraction = %s, want 1/1000000", p.Native.BalanceFractionApproval)
			}
		}},
		{"window 744h", apWith(b, `window = "24h"`, `window = "744h"`), func(t *testing.T, p *policy.Policy) {
			if p.Native.Window != 744*time.Hour {
				t.Errorf("window = %v, want 744h", p.Native.Window)
			}
		}},
		{"window 1h30m", apWith(b, `window = "24h"`, `window = "1h30m"`), func(t *testing.T, p *policy.Policy) {
			if p.Native.Window != 90*time.Minute {
				t.Errorf("window = %v, want 1h30m", p.Native.Window)
			}
		}},
		{"rate limits at their bounds", apWith(apWith(b, "tool_calls_per_minute = 120", "tool_calls_per_minute = 1"), "transfers_per_hour = 30", "transfers_per_hour = 100000"), func(t *testing.T, p *policy.Policy) {
			if p.ToolCallsPerMinute != 1 || p.TransfersPerHour != 100000 {
				t.Errorf("rate = %d/%d, want 1/100000", p.ToolCallsPerMinute, p.TransfersPerHour)
			}
		}},
		{"fee with nine decimals", apWith(b, `max_fee_per_gas_gwei = "200"`, `max_fee_per_gas_gwei = "1.000000001"`), func(t *testing.T, p *policy.Policy) {
			if p.MaxFeePerGas.Cmp(big.NewInt(1_000_000_001)) != 0 {
				t.Errorf("MaxFeePerGas = %s, want 1000000001 wei", p.MaxFeePerGas)
			}
		}},
		{"allowlist and deny list", apWith(apWith(apWith(b, `mode = "any"`, `mode = "allowlist"`), "allow = []", `allow = ["`+apVecA+`", "`+strings.ToLower(apVecB)+`"]`), "deny = []", `deny = ["0X`+strings.ToUpper(apVecC[2:])+`"]`), func(t *testing.T, p *policy.Policy) {
			r := p.Recipients
			if r.Mode != "allowlist" || len(r.Allow) != 2 || !r.Allow[common.HexToAddress(apVecA)] || !r.Allow[common.HexToAddress(apVecB)] {
				t.Errorf("allow = %v (mode %s), want %s and %s", r.Allow, r.Mode, apVecA, apVecB)
			}
			if len(r.Deny) != 1 || !r.Deny[common.HexToAddress(apVecC)] {
				t.Errorf("deny = %v, want %s", r.Deny, apVecC)
			}
			got := policy.SortedAddresses(r.Allow)
			if len(got) != 2 || got[0] != common.HexToAddress(apVecA) || got[1] != common.HexToAddress(apVecB) {
				t.Errorf("SortedAddresses = %v, want [%s %s]", got, apVecA, apVecB)
			}
		}},
		{"new_recipient_approval false", apWith(b, "new_recipient_approval = true", "new_recipient_approval = false"), func(t *testing.T, p *policy.Policy) {
			if p.Recipients.NewRecipientApproval {
				t.Errorf("new_recipient_approval = true, want false")
			}
		}},
		{"two tokens", b + apWith(apUsdcToken, `symbol = "USDC"`, `symbol = "usdc"`) + apDaiToken, func(t *testing.T, p *policy.Policy) {
			if len(p.Tokens) != 2 || p.Tokens[0].Symbol != "USDC" || p.Tokens[1].Symbol != "DAI" {
				t.Fatalf("tokens = %+v, want USDC then DAI", p.Tokens)
			}
			apCheckLimits(t, "usdc", p.Tokens[0].Limits, 6, "10", "500", "0.2", "24h", "100", "1000")
			apCheckLimits(t, "dai", p.Tokens[1].Limits, 18, "10", "500", "0.5", "1h", "100", "1000")
			if tk, ok := p.Token("Usdc"); !ok || tk.Address != common.HexToAddress(apUsdcAddress) {
				t.Errorf("Token(Usdc) = %v, %v", tk, ok)
			}
			if tk, ok := p.TokenByAddress(common.HexToAddress(apVecC)); !ok || tk.Symbol != "DAI" {
				t.Errorf("TokenByAddress(DAI) = %v, %v", tk, ok)
			}
			if _, ok := p.Token("ETH"); ok {
				t.Errorf("Token(ETH) found a token")
			}
			if _, ok := p.TokenByAddress(common.HexToAddress(apVecA)); ok {
				t.Errorf("TokenByAddress of an unknown address found a token")
			}
		}},
		{"token decimals 0", b + apWith(apUsdcToken, "decimals = 6", "decimals = 0"), func(t *testing.T, p *policy.Policy) {
			if p.Tokens[0].Decimals != 0 || p.Tokens[0].Limits.PerTxMax.Cmp(big.NewInt(500)) != 0 {
				t.Errorf("token = %+v, want decimals 0 and per_tx_max 500 units", p.Tokens[0])
			}
		}},
		{"token decimals 36", b + apWith(apUsdcToken, "decimals = 6", "decimals = 36"), func(t *testing.T, p *policy.Policy) {
			if p.Tokens[0].Decimals != 36 || p.Tokens[0].Limits.PerTxMax.Cmp(apUnits("500", 36)) != 0 {
				t.Errorf("token = %+v, want decimals 36", p.Tokens[0])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.ParsePolicy([]byte(tc.doc), "")
			if err != nil {
				t.Fatalf("ParsePolicy: %v\n%s", err, tc.doc)
			}
			tc.check(t, p)
		})
	}
}

// TestParsePolicyTokenDecimalsBoundAmounts checks that the token's decimals,
// not ETH's, bound the decimals of its amounts.
func TestParsePolicyTokenDecimalsBoundAmounts(t *testing.T) {
	ok := apBasePolicy + apWith(apUsdcToken, `auto_approve_max = "10"`, `auto_approve_max = "0.000001"`)
	p, err := policy.ParsePolicy([]byte(ok), "")
	if err != nil {
		t.Fatalf("six decimals for a 6-decimal token: %v", err)
	}
	if p.Tokens[0].Limits.AutoApproveMax.Cmp(big.NewInt(1)) != 0 {
		t.Errorf("auto_approve_max = %s base units, want 1", p.Tokens[0].Limits.AutoApproveMax)
	}
	for _, dec := range []string{"0", "5"} {
		doc := apBasePolicy + apWith(apWith(apUsdcToken, "decimals = 6", "decimals = "+dec), `auto_approve_max = "10"`, `auto_approve_max = "0.000001"`)
		_, err := policy.ParsePolicy([]byte(doc), "")
		var pe *policy.PolicyError
		if !errors.As(err, &pe) || pe.Key != "tokens.auto_approve_max" {
			t.Errorf("decimals %s: err = %v, want a tokens.auto_approve_max error", dec, err)
		}
	}
}

// TestParsePolicyTypeMismatchHasLineAndKey: a value of the wrong TOML type
// (the likeliest slip: a number where the policy wants a decimal string) must
// be reported with its key and line like every other mistake.
func TestParsePolicyTypeMismatchHasLineAndKey(t *testing.T) {
	cases := []struct {
		name, old, new, key, line string
	}{
		{"number for an amount", `auto_approve_max = "0.1"`, `auto_approve_max = 0.1`, "native.auto_approve_max", "auto_approve_max"},
		{"string for chain_id", apChainLine, "chain_id = \"1337\"\n", "chain_id", "chain_id"},
		{"string for a rate", "transfers_per_hour = 30", `transfers_per_hour = "30"`, "rate.transfers_per_hour", "transfers_per_hour"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := apWith(apBasePolicy, tc.old, tc.new)
			_, err := policy.ParsePolicy([]byte(doc), "")
			var pe *policy.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *PolicyError", err)
			}
			if want := apLineOf(doc, tc.line, 0); pe.Key != tc.key || pe.Line != want {
				t.Errorf("got key %q line %d, want key %q line %d", pe.Key, pe.Line, tc.key, want)
			}
		})
	}
}

// TestParsePolicyUnknownKeyInLaterToken: an unknown key in the second
// [[tokens]] table must be reported at its own line.
func TestParsePolicyUnknownKeyInLaterToken(t *testing.T) {
	doc := apBasePolicy + apUsdcToken + apWith(apDaiToken, "decimals = 18", "decimals = 18\nname = \"Dai\"")
	_, err := policy.ParsePolicy([]byte(doc), "")
	var pe *policy.PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *PolicyError", err)
	}
	if want := apLineOf(doc, "name = ", 0); pe.Key != "tokens.name" || pe.Line != want {
		t.Errorf("got key %q line %d, want key tokens.name line %d", pe.Key, pe.Line, want)
	}
}

// TestParsePolicyUnknownTableHasLine: a misspelt table name ([fee] for
// [fees]) must be reported at its header line like an unknown key.
func TestParsePolicyUnknownTableHasLine(t *testing.T) {
	cases := []struct {
		name, doc, key, line string
	}{
		{"misspelt fees", apWith(apBasePolicy, "[fees]", "[fee]"), "fee", "[fee]"},
		{"misspelt native", apWith(apBasePolicy, "[native]", "[natve]"), "natve", "[natve]"},
		{"extra table", apBasePolicy + "\n[extra]\nx = 1\n", "extra", "[extra]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.ParsePolicy([]byte(tc.doc), "")
			var pe *policy.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *PolicyError", err)
			}
			if want := apLineOf(tc.doc, tc.line, 0); pe.Key != tc.key || pe.Line != want {
				t.Errorf("got key %q line %d, want key %q line %d", pe.Key, pe.Line, tc.key, want)
			}
		})
	}
}

// TestPolicyTemplateAnomalyDefaults: the template's [anomaly] block is
// commented out (the defaults apply) and, uncommented, states exactly the
// defaults, so its documentation cannot drift from DefaultAnomalyRules.
func TestPolicyTemplateAnomalyDefaults(t *testing.T) {
	doc := policy.PolicyTemplate(1337)
	p, err := policy.ParsePolicy([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Anomaly, policy.DefaultAnomalyRules()) {
		t.Fatalf("template anomaly rules = %+v, want the defaults", p.Anomaly)
	}
	var block []string
	in := false
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(l, "# [anomaly]") {
			in = true
			block = append(block, "[anomaly]")
			continue
		}
		if in && strings.HasPrefix(l, "# ") {
			block = append(block, strings.TrimPrefix(l, "# "))
		} else if in {
			break
		}
	}
	if len(block) < 10 {
		t.Fatalf("the template documents %d [anomaly] lines, want the table and its 9 keys", len(block))
	}
	uncommented, err := policy.ParsePolicy([]byte(doc+"\n"+strings.Join(block, "\n")+"\n"), "")
	if err != nil {
		t.Fatalf("the documented [anomaly] block does not parse: %v", err)
	}
	if !reflect.DeepEqual(uncommented.Anomaly, policy.DefaultAnomalyRules()) {
		t.Fatalf("documented anomaly rules = %+v, want the defaults %+v", uncommented.Anomaly, policy.DefaultAnomalyRules())
	}
}
